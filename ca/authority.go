// Package ca is gatehouse's certificate authority: it turns a verified
// identity into a short-lived SSH user certificate whose principals are
// the identity's grants (TARGET:ROLE), and records every issuance and
// refusal. Issuance is one typed pipeline: validate the request, derive
// grants, apply the TTL caps, sign, record.
package ca

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Recorder is what the CA records issuances and refusals to (a
// *recorder.Stream satisfies it). An error means the event was not
// recorded.
type Recorder interface {
	Emit(typ event.Type, data any) error
}

// Sources of a request, recorded with every issuance and refusal.
const (
	SourceOIDC     = "oidc"     // an ID token from the configured identity provider
	SourceDev      = "dev"      // a one-time token of `gatehouse dev`
	SourceOperator = "operator" // `gatehouse ca sign`
	// SourceAgent, in agentcert.go: `gatehouse agent-cert`.
)

// clockSkew is how far ValidAfter is backdated so that a bastion whose
// clock is slightly behind the CA's still accepts a fresh certificate.
const clockSkew = time.Minute

// Authority issues certificates. Policy, Record and a user signer
// (UserCA or UserSigner) are required; an Authority is safe for
// concurrent use, and only its memory of the agent requests it has seen
// changes with it. Use it by pointer.
type Authority struct {
	UserSigner gossh.Signer // signs user certificates with a local key
	HostSigner gossh.Signer // signs the bastion's host certificate with a local key
	// UserCA and HostCA, when set, sign instead of UserSigner and
	// HostSigner: signers that hold the key elsewhere (Vault).
	UserCA CertSigner
	HostCA CertSigner
	Policy *policy.Config   // grants and caps; must come from policy.Load or Parse (defaults applied)
	Record Recorder         // where cert.issued and cert.refused go; issuance fails closed without it
	Clock  func() time.Time // nil: time.Now
	// IsRevoked reports whether a certificate is revoked; IssueAgent
	// refuses to delegate from one that is. nil: nothing is revoked.
	IsRevoked func(*gossh.Certificate) bool
	// Requests holds access requests (requests.go): approved ones add
	// their grant to the requester's certificates until they expire.
	// nil: no access requests are taken.
	Requests AccessRequests
	// Issued, when set, keeps every issuance where all replicas read it
	// (state.go); an issuance it cannot keep is refused. nil: the CA's
	// recording is its only record.
	Issued IssuedLog

	agentRequests seenRequests // makes signed agent requests single-use
}

// Request asks for a user certificate.
type Request struct {
	Identity  policy.Identity // from a verified token (or the operator)
	PublicKey gossh.PublicKey
	TTL       time.Duration // 0: the cap
	Grants    []string      // optional: narrow to these principals (must be a subset of what the groups allow)
	Source    string        // SourceOIDC | SourceDev | SourceOperator
}

// grantSet is what the grant stage decides: the principals and the
// longest lifetime they allow, with the name of that cap for refusals.
type grantSet struct {
	principals []string
	maxTTL     time.Duration
	capName    string
	requestIDs []string // approved access requests that gave principals
}

// Issue signs a certificate for an identity established by a token: the
// principals come from the identity's groups through the policy's grants.
func (a *Authority) Issue(ctx context.Context, req Request) (*gossh.Certificate, error) {
	return a.issue(ctx, req, []string{SourceOIDC, SourceDev}, a.entitledGrants)
}

// IssueOperator signs a certificate for `gatehouse ca sign`: the operator
// names the grants directly (each must be a configured TARGET:ROLE) and no
// group lookup happens. The caps are ca.max_ttl, and ca.agent_max_ttl for
// agent identities; the issuance is recorded like any other. An empty
// Source means SourceOperator.
func (a *Authority) IssueOperator(ctx context.Context, req Request) (*gossh.Certificate, error) {
	if req.Source == "" {
		req.Source = SourceOperator
	}
	return a.issue(ctx, req, []string{SourceOperator}, a.operatorGrants)
}

func (a *Authority) issue(ctx context.Context, req Request, sources []string, grants func(Request) (grantSet, error)) (*gossh.Certificate, error) {
	cert, id, err := a.run(ctx, req, sources, grants)
	if err != nil {
		return nil, a.refuse(req, err)
	}
	issued := newIssuedEvent(req.Source, id, cert)
	if a.Issued != nil {
		if err := a.Issued.Add(IssuedEvent(issued)); err != nil {
			return nil, a.refuse(req, stateError("issuing the certificate", fmt.Errorf("ca: keep issuance of serial %d: %w", cert.Serial, err)))
		}
	}
	// Fail closed: a certificate whose issuance is not on the record
	// must not exist, so it is dropped here, unseen.
	if err := a.Record.Emit(event.TypeCertIssued, issued); err != nil {
		return nil, &Error{
			Code:    caapi.CodeInternal,
			Message: "the issuance could not be recorded, so no certificate was issued; try again, and tell the operator if it persists",
			Status:  statusFor(caapi.CodeInternal),
			Err:     fmt.Errorf("ca: record issuance of serial %d for %s: %w", cert.Serial, id.Name(), err),
		}
	}
	return cert, nil
}

// run is the pipeline up to and including signing.
func (a *Authority) run(ctx context.Context, req Request, sources []string, grants func(Request) (grantSet, error)) (*gossh.Certificate, policy.Identity, error) {
	if err := a.ready(); err != nil {
		return nil, policy.Identity{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, policy.Identity{}, &Error{Code: caapi.CodeInvalidRequest, Message: "the request was cancelled", Status: statusFor(caapi.CodeInvalidRequest), Err: err}
	}
	if err := validateRequest(req, sources); err != nil {
		return nil, policy.Identity{}, err
	}
	gs, err := grants(req)
	if err != nil {
		return nil, policy.Identity{}, err
	}
	ttl, err := a.capTTL(req, gs)
	if err != nil {
		return nil, policy.Identity{}, err
	}
	// Only an approval the grant stage found names a request: whatever
	// the request carried is replaced.
	req.Identity.RequestID = strings.Join(gs.requestIDs, ",")
	return a.signUser(ctx, req, gs.principals, ttl)
}

// ready checks the Authority's required fields, so that a wiring mistake
// refuses issuance instead of issuing unchecked certificates.
func (a *Authority) ready() error {
	var missing string
	switch {
	case a.userCA() == nil:
		missing = "UserSigner or UserCA"
	case a.Policy == nil:
		missing = "Policy"
	case a.Record == nil:
		missing = "Record"
	case a.Policy.CA.MaxTTL <= 0 || a.Policy.CA.AgentMaxTTL <= 0:
		missing = "Policy.CA.MaxTTL/AgentMaxTTL (load the policy with policy.Load or policy.Parse)"
	default:
		return nil
	}
	return asError(fmt.Errorf("ca: authority has no %s", missing))
}

func (a *Authority) now() time.Time {
	if a.Clock != nil {
		return a.Clock()
	}
	return time.Now()
}

// capTTL applies the lifetime caps. A TTL over the cap is refused rather
// than shortened: a client that asked for 2h and silently got 1h would
// fail later, mid-task, without knowing why.
func (a *Authority) capTTL(req Request, gs grantSet) (time.Duration, error) {
	limit, name := gs.maxTTL, gs.capName
	if agentCap := a.Policy.CA.AgentMaxTTL.D(); req.Identity.Agent != "" && agentCap < limit {
		limit, name = agentCap, "ca.agent_max_ttl, the cap for agent certificates"
	}
	switch {
	case req.TTL == 0:
		return limit, nil
	case req.TTL > limit:
		return 0, refusal(caapi.CodeTTLExceeded, fmt.Sprintf("the requested TTL %s is over the cap of %s (%s); ask for %s or less", req.TTL, limit, name, limit))
	default:
		return req.TTL, nil
	}
}

// signUser builds and signs the certificate. The serial is random so that
// it can name one certificate in a revocation list without coordination
// between CA replicas. A signer that chooses the serial itself (Vault)
// cannot have it in the identity extension, signed before the serial is
// known: there the extension's serial is 0, and the certificate's own
// serial, which the record and revocation use, is Vault's.
func (a *Authority) signUser(ctx context.Context, req Request, principals []string, ttl time.Duration) (*gossh.Certificate, policy.Identity, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, policy.Identity{}, asError(err)
	}
	signer := a.userCA()
	id := req.Identity
	id.Groups = append([]string(nil), id.Groups...)
	id.Serial = serial
	if choosesSerial(signer) {
		id.Serial = 0
	}
	now := a.now()
	cert := &gossh.Certificate{
		Key:             req.PublicKey,
		Serial:          serial,
		CertType:        gossh.UserCert,
		KeyId:           id.Name(),
		ValidPrincipals: principals,
		ValidAfter:      unixSeconds(now.Add(-clockSkew)),
		ValidBefore:     unixSeconds(now.Add(ttl)),
		Permissions: gossh.Permissions{
			// Only what a tunnel needs (PROTOCOL.certkeys: an absent
			// permit-pty, permit-agent-forwarding, permit-X11-forwarding
			// and permit-user-rc means each is denied).
			Extensions: map[string]string{
				"permit-port-forwarding": "",
				policy.IdentityExtension: id.Encode(),
			},
		},
	}
	signed, err := signer.SignCertificate(ctx, cert)
	if err != nil {
		return nil, policy.Identity{}, signerError(id.Name(), err)
	}
	id.Serial = signed.Serial
	return signed, id, nil
}

// newSerial returns a random non-zero 64-bit serial. Zero is avoided
// because OpenSSH's KRL format cannot revoke serial 0 (ssh-keygen(1),
// "KEY REVOCATION LISTS").
func newSerial() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("ca: random serial: %w", err)
		}
		if s := binary.BigEndian.Uint64(b[:]); s != 0 {
			return s, nil
		}
	}
}

// unixSeconds converts to the certificate's uint64 seconds, flooring at
// zero rather than wrapping for times before 1970.
func unixSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 0 {
		return uint64(s)
	}
	return 0
}
