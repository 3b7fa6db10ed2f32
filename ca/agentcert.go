package ca

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// SourceAgent is the source of agent certificates minted by an engineer
// with `gatehouse agent-cert`.
const SourceAgent = "agent"

// agentRequestWindow is how far a request's issued_at may be from the
// CA's clock. Inside the window a request is accepted once (seenRequests):
// a replay would mint another certificate for the agent key, after the
// first was revoked by serial, say.
const agentRequestWindow = 5 * time.Minute

// AgentRequest asks for an agent certificate on the authority of an
// engineer's certificate: Claims (JSON caapi.AgentClaims) signed, in SSHSIG form
// with caapi.AgentNamespace, by the engineer's certified key.
type AgentRequest struct {
	Certificate *gossh.Certificate // the engineer's
	Claims      []byte             // exactly the signed bytes
	Signature   []byte             // SSHSIG blob
}

// delegation is what a verified AgentRequest establishes.
type delegation struct {
	engineer *gossh.Certificate
	req      Request
	issuedAt time.Time // the claims'
}

// IssueAgent signs an agent certificate for an engineer who proved, with
// the key of a certificate this CA issued, that they ask for it. The
// certificate's grants are a subset of the engineer certificate's
// principals, its lifetime at most min(ca.agent_max_ttl, the engineer
// certificate's remaining life), and its identity the engineer's with the
// agent, the run and ticket ids and the engineer certificate's serial.
// Issuance and refusal are recorded with source "agent".
func (a *Authority) IssueAgent(ctx context.Context, ar AgentRequest) (*gossh.Certificate, error) {
	d, err := a.verifyDelegation(ar)
	if err == nil {
		err = a.useOnce(ar, d)
	}
	if err != nil {
		return nil, a.refuse(d.req, err)
	}
	return a.issue(ctx, d.req, []string{SourceAgent}, a.delegatedGrants(d.engineer))
}

// useOnce refuses signed claims this CA has accepted before. Called once
// they verified, so only an engineer's own requests are remembered.
func (a *Authority) useOnce(ar AgentRequest, d delegation) error {
	isNew, full := a.agentRequests.first(ar.Claims, a.now(), d.issuedAt.Add(agentRequestWindow))
	switch {
	case full:
		return &Error{Code: caapi.CodeInternal, Status: statusFor(caapi.CodeInternal), Err: fmt.Errorf("ca: %d agent requests remembered", maxSeenRequests),
			Message: "too many agent certificate requests in the last minutes; try again later"}
	case !isNew:
		return refusal(caapi.CodeInvalidRequest, "this signed request was used already: each agent certificate request is accepted once; run `gatehouse agent-cert` again for a new one")
	}
	return nil
}

// verifyDelegation establishes who asks and what for. The returned
// request carries whatever was established, for the refusal's record.
func (a *Authority) verifyDelegation(ar AgentRequest) (delegation, error) {
	d := delegation{engineer: ar.Certificate, req: Request{Source: SourceAgent}}
	if err := a.ready(); err != nil {
		return d, err
	}
	engineer, err := a.checkEngineerCert(ar.Certificate)
	if err != nil {
		return d, err
	}
	d.req.Identity = engineer
	if err := sshsig.Verify(ar.Certificate.Key, caapi.AgentNamespace, ar.Claims, ar.Signature); err != nil {
		return d, &Error{Code: caapi.CodeInvalidCertificate, Status: statusFor(caapi.CodeInvalidCertificate), Err: err,
			Message: "the request's signature does not verify with your certificate's key; sign it with the key beside the certificate (run `gatehouse login` again if they are out of step)"}
	}
	claims, err := a.decodeClaims(ar)
	if err != nil {
		return d, err
	}
	d.issuedAt = claims.IssuedAt
	return a.delegatedRequest(d, engineer, claims)
}

// checkEngineerCert accepts a user certificate this CA signed, valid now,
// not revoked, and not itself an agent's: agents do not delegate.
func (a *Authority) checkEngineerCert(cert *gossh.Certificate) (policy.Identity, error) {
	invalid := func(msg string) (policy.Identity, error) {
		return policy.Identity{}, refusal(caapi.CodeInvalidCertificate, msg)
	}
	switch {
	case cert == nil || cert.CertType != gossh.UserCert:
		return invalid("send your user certificate (id_ed25519-cert.pub of your profile)")
	case !bytes.Equal(cert.SignatureKey.Marshal(), a.userCA().PublicKey().Marshal()):
		return invalid("your certificate was not issued by this gatehouse; run `gatehouse login` against it")
	}
	checker := gossh.CertChecker{Clock: a.now}
	if err := checker.CheckCert(firstPrincipal(cert), cert); err != nil {
		return invalid(fmt.Sprintf("your certificate is not valid now (%v); run `gatehouse login`", err))
	}
	id, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil {
		return invalid("your certificate carries no gatehouse identity; run `gatehouse login`")
	}
	id.Serial = cert.Serial
	if a.IsRevoked != nil && a.IsRevoked(cert) {
		return id, refusal(caapi.CodeRevoked, fmt.Sprintf("your certificate (serial %d) has been revoked; ask the gatehouse operator", cert.Serial))
	}
	if id.Agent != "" {
		return id, refusal(caapi.CodeInvalidCertificate, "an agent certificate cannot mint agent certificates; an engineer runs `gatehouse agent-cert`")
	}
	return id, nil
}

// firstPrincipal lets CertChecker.CheckCert, which wants a principal the
// certificate lists, judge everything else: the signature, the validity
// window and critical options (none are supported here, so a certificate
// restricted by one, such as source-address, cannot delegate).
func firstPrincipal(cert *gossh.Certificate) string {
	if len(cert.ValidPrincipals) == 0 {
		return ""
	}
	return cert.ValidPrincipals[0]
}

// decodeClaims parses the signed claims strictly and checks that they
// are fresh and name the certificate sent with them.
func (a *Authority) decodeClaims(ar AgentRequest) (caapi.AgentClaims, error) {
	var c caapi.AgentClaims
	dec := json.NewDecoder(bytes.NewReader(ar.Claims))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, refusal(caapi.CodeInvalidRequest, "the signed request is not agent certificate claims: "+err.Error())
	}
	if c.CertificateSerial != ar.Certificate.Serial {
		return c, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the signed request names certificate serial %d, but certificate %d was sent", c.CertificateSerial, ar.Certificate.Serial))
	}
	if skew := a.now().Sub(c.IssuedAt); skew > agentRequestWindow || skew < -agentRequestWindow {
		return c, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the request was signed at %s, more than %s from the CA's clock (%s); check this machine's clock",
			c.IssuedAt.UTC().Format(time.RFC3339), agentRequestWindow, a.now().UTC().Format(time.RFC3339)))
	}
	return c, nil
}

// delegatedRequest builds the certificate request the claims describe.
func (a *Authority) delegatedRequest(d delegation, engineer policy.Identity, c caapi.AgentClaims) (delegation, error) {
	if c.Agent == "" {
		return d, refusal(caapi.CodeInvalidRequest, "name the agent (--agent NAME)")
	}
	id := engineer
	id.Agent, id.DelegatedBy, id.DelegatedBySerial = c.Agent, engineer.Name(), engineer.Serial
	id.RunID, id.TicketID = c.RunID, c.TicketID
	d.req.Identity, d.req.Grants = id, c.Grants
	pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(c.PublicKey))
	if err != nil {
		return d, refusal(caapi.CodeInvalidRequest, "public_key is not an SSH public key in authorized_keys form")
	}
	d.req.PublicKey = pub
	if bytes.Equal(pub.Marshal(), d.engineer.Key.Marshal()) {
		return d, refusal(caapi.CodeInvalidRequest, "the agent needs a key of its own, not the key of your certificate")
	}
	if c.TTL != "" {
		if d.req.TTL, err = policy.ParseDuration(c.TTL); err != nil {
			return d, refusal(caapi.CodeInvalidRequest, "ttl: "+err.Error())
		}
	}
	return d, nil
}

// delegatedGrants is the grant stage for agent certificates: a subset of
// the engineer certificate's principals (all of them when none are
// named), each still configured, for at most the certificate's remaining
// life. capTTL adds ca.agent_max_ttl.
func (a *Authority) delegatedGrants(engineer *gossh.Certificate) func(Request) (grantSet, error) {
	return func(req Request) (grantSet, error) {
		wanted, err := a.delegatedPrincipals(engineer.ValidPrincipals, req.Grants)
		if err != nil {
			return grantSet{}, err
		}
		// The approvals behind the engineer's certificate (its signed
		// identity, which req.Identity was built from) stay named.
		var approvals []string
		if ids := req.Identity.RequestID; ids != "" {
			approvals = strings.Split(ids, ",")
		}
		until, finite := certExpiry(engineer)
		if !finite {
			return grantSet{principals: wanted, maxTTL: a.Policy.CA.MaxTTL.D(), capName: "ca.max_ttl", requestIDs: approvals}, nil
		}
		remaining := until.Sub(a.now()).Truncate(time.Second)
		if remaining <= 0 {
			return grantSet{}, refusal(caapi.CodeInvalidCertificate, "your certificate expires within a second; run `gatehouse login`")
		}
		return grantSet{principals: wanted, maxTTL: remaining, requestIDs: approvals, capName: fmt.Sprintf(
			"the remaining life of your own certificate, which expires at %s; run `gatehouse login` for a fresh one to give an agent longer",
			until.UTC().Format(time.RFC3339))}, nil
	}
}

// delegatedPrincipals checks the requested grants against those the
// engineer holds; none requested means every held grant still configured.
func (a *Authority) delegatedPrincipals(held, requested []string) ([]string, error) {
	configured := func(g string) bool {
		p, err := policy.ParsePrincipal(g)
		return err == nil && a.Policy.HasPrincipal(p)
	}
	if len(requested) == 0 {
		out := slices.DeleteFunc(slices.Clone(held), func(g string) bool { return !configured(g) })
		if len(out) == 0 {
			return nil, refusal(caapi.CodeGrantNotAllowed, "none of your certificate's grants is configured any more; run `gatehouse login`")
		}
		return out, nil
	}
	wanted, err := parseGrants(requested)
	if err != nil {
		return nil, err
	}
	for _, w := range wanted {
		if !slices.Contains(held, w) {
			return nil, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf(
				"%s is beyond your own grants (%s): an agent certificate carries some or all of its engineer's grants, never more",
				w, strings.Join(held, ", ")))
		}
		if !configured(w) {
			return nil, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf("%s is no longer a configured target and role", w))
		}
	}
	return wanted, nil
}

// certExpiry is the end of a certificate's validity; false if it has none.
func certExpiry(cert *gossh.Certificate) (time.Time, bool) {
	if cert.ValidBefore == gossh.CertTimeInfinity || cert.ValidBefore > 1<<62 {
		return time.Time{}, false
	}
	return time.Unix(int64(cert.ValidBefore), 0), true
}
