package ca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// RequestNamespace is the SSHSIG namespace of the signature over
// AccessRequestClaims: a signature made for anything else (an agent
// certificate request, say) does not verify as one.
const RequestNamespace = "access-request@gatehouse"

// Actions of POST /v1/access-requests.
const (
	ActionFile    = "file"
	ActionList    = "list"
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// AccessRequestClaims is what the engineer signs for POST
// /v1/access-requests. The body is an AgentCertificateRequest-shaped
// envelope: certificate, claims (base64) and signature (base64).
type AccessRequestClaims struct {
	Action string `json:"action"` // file | list | approve | deny
	Grant  string `json:"grant,omitempty"`
	Reason string `json:"reason,omitempty"`
	TTL    string `json:"ttl,omitempty"`
	ID     string `json:"id,omitempty"`
	// CertificateSerial names the certificate sent with the claims.
	CertificateSerial uint64    `json:"certificate_serial"`
	IssuedAt          time.Time `json:"issued_at"`
}

// AccessRequestResponse answers POST /v1/access-requests: Request for
// file, approve and deny; Requests for list.
type AccessRequestResponse struct {
	Request  *AccessRequest  `json:"request,omitempty"`
	Requests []AccessRequest `json:"requests,omitempty"`
}

// serveAccessRequest answers POST /v1/access-requests. The caller proves
// who they are as for agent certificates: their certificate, and claims
// signed by its key. Their groups are those of the certificate.
func (api *API) serveAccessRequest(w http.ResponseWriter, r *http.Request) {
	a := api.Authority
	ar, err := decodeAgentRequest(w, r)
	if err != nil {
		api.writeError(w, r, a.refuseRequest("", "", "", nil, err))
		return
	}
	who, claims, err := a.verifyRequestClaims(ar)
	if err != nil {
		api.writeError(w, r, a.refuseRequest(claims.Action, claims.ID, claims.Grant, &who, err))
		return
	}
	var ans AccessRequestResponse
	switch claims.Action {
	case ActionList:
		ans.Requests = a.PendingFor(who)
		if ans.Requests == nil {
			ans.Requests = []AccessRequest{}
		}
	case ActionFile:
		var ttl time.Duration
		if claims.TTL != "" {
			if ttl, err = policy.ParseDuration(claims.TTL); err != nil {
				api.writeError(w, r, a.refuseRequest(ActionFile, "", claims.Grant, &who, refusal(CodeInvalidRequest, "ttl: "+err.Error())))
				return
			}
		}
		var req AccessRequest
		if req, err = a.FileRequest(who, claims.Grant, claims.Reason, ttl); err == nil {
			ans.Request = &req
		}
	case ActionApprove, ActionDeny:
		var req AccessRequest
		if req, err = a.Decide(who, claims.ID, claims.Action == ActionApprove, claims.Reason); err == nil {
			ans.Request = &req
		}
	}
	if err != nil {
		api.writeError(w, r, err) // recorded by FileRequest or Decide
		return
	}
	if ans.Request != nil {
		api.log().InfoContext(r.Context(), "access request "+claims.Action, "id", ans.Request.ID, "grant", ans.Request.Grant,
			"state", ans.Request.State, "by", who.Name())
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ans)
}

// verifyRequestClaims establishes who signed the claims, from a
// certificate this CA issued (not an agent's), and parses them.
func (a *Authority) verifyRequestClaims(ar AgentRequest) (policy.Identity, AccessRequestClaims, error) {
	var c AccessRequestClaims
	if err := a.ready(); err != nil {
		return policy.Identity{}, c, err
	}
	// Parse first, unverified, only so that a refusal can say what was
	// asked; nothing below acts on it before the signature verifies.
	dec := json.NewDecoder(bytes.NewReader(ar.Claims))
	dec.DisallowUnknownFields()
	derr := dec.Decode(&c)
	who, err := a.checkEngineerCert(ar.Certificate)
	if err != nil {
		if who.Agent != "" {
			err = refusal(CodeInvalidCertificate, "an agent certificate cannot file or decide access requests; its engineer does")
		}
		return who, c, err
	}
	if err := sshsig.Verify(ar.Certificate.Key, RequestNamespace, ar.Claims, ar.Signature); err != nil {
		return who, c, &Error{Code: CodeInvalidCertificate, Status: statusFor(CodeInvalidCertificate), Err: err,
			Message: "the request's signature does not verify with your certificate's key; sign it with the key beside the certificate (run `gatehouse login` again if they are out of step)"}
	}
	switch {
	case derr != nil:
		return who, c, refusal(CodeInvalidRequest, "the signed request is not access request claims: "+derr.Error())
	case c.CertificateSerial != ar.Certificate.Serial:
		return who, c, refusal(CodeInvalidRequest, fmt.Sprintf("the signed request names certificate serial %d, but certificate %d was sent", c.CertificateSerial, ar.Certificate.Serial))
	}
	if skew := a.now().Sub(c.IssuedAt); skew > agentRequestWindow || skew < -agentRequestWindow {
		return who, c, refusal(CodeInvalidRequest, fmt.Sprintf("the request was signed at %s, more than %s from the CA's clock (%s); check this machine's clock",
			c.IssuedAt.UTC().Format(time.RFC3339), agentRequestWindow, a.now().UTC().Format(time.RFC3339)))
	}
	switch c.Action {
	case ActionFile, ActionList, ActionApprove, ActionDeny:
	default:
		return who, c, refusal(CodeInvalidRequest, fmt.Sprintf("unknown action %q (file, list, approve, deny)", c.Action))
	}
	return who, c, nil
}
