package ca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/policy"
)

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
	var ans caapi.AccessRequestResponse
	switch claims.Action {
	case caapi.ActionList:
		ans.Requests, err = a.PendingFor(who)
		if err == nil && ans.Requests == nil {
			ans.Requests = []AccessRequest{}
		}
	case caapi.ActionFile:
		var ttl time.Duration
		if claims.TTL != "" {
			if ttl, err = policy.ParseDuration(claims.TTL); err != nil {
				api.writeError(w, r, a.refuseRequest(caapi.ActionFile, "", claims.Grant, &who, refusal(caapi.CodeInvalidRequest, "ttl: "+err.Error())))
				return
			}
		}
		var req AccessRequest
		if req, err = a.FileRequest(who, claims.Grant, claims.Reason, ttl); err == nil {
			ans.Request = &req
		}
	case caapi.ActionApprove, caapi.ActionDeny:
		var req AccessRequest
		if req, err = a.Decide(who, claims.ID, claims.Action == caapi.ActionApprove, claims.Reason); err == nil {
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
func (a *Authority) verifyRequestClaims(ar AgentRequest) (policy.Identity, caapi.AccessRequestClaims, error) {
	var c caapi.AccessRequestClaims
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
			err = refusal(caapi.CodeInvalidCertificate, "an agent certificate cannot file or decide access requests; its engineer does")
		}
		return who, c, err
	}
	if err := sshsig.Verify(ar.Certificate.Key, caapi.RequestNamespace, ar.Claims, ar.Signature); err != nil {
		return who, c, &Error{Code: caapi.CodeInvalidCertificate, Status: statusFor(caapi.CodeInvalidCertificate), Err: err,
			Message: "the request's signature does not verify with your certificate's key; sign it with the key beside the certificate (run `gatehouse login` again if they are out of step)"}
	}
	switch {
	case derr != nil:
		return who, c, refusal(caapi.CodeInvalidRequest, "the signed request is not access request claims: "+derr.Error())
	case c.CertificateSerial != ar.Certificate.Serial:
		return who, c, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the signed request names certificate serial %d, but certificate %d was sent", c.CertificateSerial, ar.Certificate.Serial))
	}
	if skew := a.now().Sub(c.IssuedAt); skew > agentRequestWindow || skew < -agentRequestWindow {
		return who, c, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the request was signed at %s, more than %s from the CA's clock (%s); check this machine's clock",
			c.IssuedAt.UTC().Format(time.RFC3339), agentRequestWindow, a.now().UTC().Format(time.RFC3339)))
	}
	switch c.Action {
	case caapi.ActionFile, caapi.ActionList, caapi.ActionApprove, caapi.ActionDeny:
	default:
		return who, c, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("unknown action %q (file, list, approve, deny)", c.Action))
	}
	return who, c, nil
}
