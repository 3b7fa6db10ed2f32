package ca

import (
	"context"
	"encoding/base64"
	"net/http"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// serveAgentCertificate answers POST /v1/agent-certificates with a
// caapi.CertificateResponse.
func (api *API) serveAgentCertificate(w http.ResponseWriter, r *http.Request) {
	ar, err := decodeAgentRequest(w, r)
	if err != nil {
		api.refuse(w, r, event.CertRefused{Source: SourceAgent}, err)
		return
	}
	cert, err := api.Authority.IssueAgent(r.Context(), ar)
	if err != nil {
		api.writeError(w, r, err) // the Authority recorded the refusal
		return
	}
	api.log().InfoContext(r.Context(), "agent certificate issued", "key_id", cert.KeyId, "serial", cert.Serial,
		"principals", cert.ValidPrincipals, "delegated_by_serial", ar.Certificate.Serial)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, newCertificateResponse(cert))
}

func decodeAgentRequest(w http.ResponseWriter, r *http.Request) (AgentRequest, error) {
	var body caapi.SignedRequest
	if err := decodeBody(w, r, &body, "an agent certificate request"); err != nil {
		return AgentRequest{}, err
	}
	key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(body.Certificate))
	cert, isCert := key.(*gossh.Certificate)
	if err != nil || !isCert {
		return AgentRequest{}, refusal(caapi.CodeInvalidCertificate, "certificate is not an SSH certificate in authorized_keys form (id_ed25519-cert.pub)")
	}
	claims, err1 := base64.StdEncoding.DecodeString(body.Claims)
	sig, err2 := base64.StdEncoding.DecodeString(body.Signature)
	if err1 != nil || err2 != nil || len(claims) == 0 || len(sig) == 0 {
		return AgentRequest{Certificate: cert}, refusal(caapi.CodeInvalidRequest, "claims and signature must be non-empty standard base64")
	}
	return AgentRequest{Certificate: cert, Claims: claims, Signature: sig}, nil
}

// serveKRL answers GET /v1/krl with the revocation list in OpenSSH's KRL
// format (for sshd's RevokedKeys and `ssh-keygen -Q -f KRL CERT`).
func (api *API) serveKRL(w http.ResponseWriter, r *http.Request) {
	if api.KRL == nil {
		writeJSON(w, http.StatusNotFound, caapi.ErrorResponse{Error: caapi.CodeInvalidRequest, Message: "this gatehouse serves no revocation list"})
		return
	}
	data, err := api.KRL(r.Context())
	if err != nil {
		api.log().ErrorContext(r.Context(), "rendering the KRL", "error", err)
		writeJSON(w, http.StatusInternalServerError, caapi.ErrorResponse{Error: caapi.CodeInternal, Message: "the revocation list could not be rendered (see the server log)"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}

// KRLFunc renders the current revocation list as a KRL.
type KRLFunc func(ctx context.Context) ([]byte, error)
