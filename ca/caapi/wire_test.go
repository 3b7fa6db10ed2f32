package caapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// The declarations below are frozen copies of the wire types as package
// ca (the server) and package ca/login (the client) each declared them
// before this package existed. The API's JSON must not change shape, so
// a fully populated value of each old type and of its replacement must
// encode to the same bytes, and what the client decoded must survive.

type oldInfo struct {
	UserCA           string       `json:"user_ca"`
	HostCAKnownHosts string       `json:"host_ca_known_hosts"`
	SSHAddress       string       `json:"ssh_address"`
	SSHHostAlias     string       `json:"ssh_host_alias"`
	OIDC             *oldOIDCInfo `json:"oidc,omitempty"`
	DevLogin         bool         `json:"dev_login"`
}

type oldOIDCInfo struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// oldClientInfo is ca/login's caInfo (no omitempty on oidc).
type oldClientInfo struct {
	UserCA           string       `json:"user_ca"`
	HostCAKnownHosts string       `json:"host_ca_known_hosts"`
	SSHAddress       string       `json:"ssh_address"`
	SSHHostAlias     string       `json:"ssh_host_alias"`
	OIDC             *oldOIDCInfo `json:"oidc"`
	DevLogin         bool         `json:"dev_login"`
}

type oldCertificateRequest struct {
	PublicKey string   `json:"public_key"`
	TTL       string   `json:"ttl,omitempty"`
	Grants    []string `json:"grants,omitempty"`
	Agent     string   `json:"agent,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
	TicketID  string   `json:"ticket_id,omitempty"`
	RunID     string   `json:"run_id,omitempty"`
}

// oldClientCertRequest is ca/login's certRequest.
type oldClientCertRequest struct {
	PublicKey string   `json:"public_key"`
	TTL       string   `json:"ttl,omitempty"`
	Grants    []string `json:"grants,omitempty"`
}

type oldCertificateResponse struct {
	Certificate string   `json:"certificate"`
	KeyID       string   `json:"key_id"`
	Serial      uint64   `json:"serial"`
	Principals  []string `json:"principals"`
	ValidAfter  string   `json:"valid_after"`
	ValidBefore string   `json:"valid_before"`
}

type oldErrorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// oldAgentCertificateRequest is ca's AgentCertificateRequest and, field
// for field, ca/login's agentCertRequest.
type oldAgentCertificateRequest struct {
	Certificate string `json:"certificate"`
	Claims      string `json:"claims"`
	Signature   string `json:"signature"`
}

// oldAgentClaims is ca's AgentClaims and ca/login's agentClaims.
type oldAgentClaims struct {
	Agent             string    `json:"agent"`
	PublicKey         string    `json:"public_key"`
	Grants            []string  `json:"grants,omitempty"`
	TTL               string    `json:"ttl,omitempty"`
	RunID             string    `json:"run_id,omitempty"`
	TicketID          string    `json:"ticket_id,omitempty"`
	CertificateSerial uint64    `json:"certificate_serial"`
	IssuedAt          time.Time `json:"issued_at"`
}

// oldAccessRequestClaims is ca's AccessRequestClaims and ca/login's
// requestClaims.
type oldAccessRequestClaims struct {
	Action            string    `json:"action"`
	Grant             string    `json:"grant,omitempty"`
	Reason            string    `json:"reason,omitempty"`
	TTL               string    `json:"ttl,omitempty"`
	ID                string    `json:"id,omitempty"`
	CertificateSerial uint64    `json:"certificate_serial"`
	IssuedAt          time.Time `json:"issued_at"`
}

type oldAccessRequest struct {
	ID             string          `json:"id"`
	State          string          `json:"state"`
	Requester      policy.Identity `json:"requester"`
	Grant          string          `json:"grant"`
	Reason         string          `json:"reason"`
	TTL            string          `json:"ttl,omitempty"`
	FiledAt        time.Time       `json:"filed_at"`
	DecidedBy      string          `json:"decided_by,omitempty"`
	DecidedAt      time.Time       `json:"decided_at,omitzero"`
	DecisionReason string          `json:"decision_reason,omitempty"`
	ExpiresAt      time.Time       `json:"expires_at,omitzero"`
}

type oldAccessRequestResponse struct {
	Request  *oldAccessRequest  `json:"request,omitempty"`
	Requests []oldAccessRequest `json:"requests,omitempty"`
}

// oldClientAccessRequest is ca/login's AccessRequest, which decoded the
// requester's subject, email and groups only.
type oldClientAccessRequest struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Requester struct {
		Subject string   `json:"sub"`
		Email   string   `json:"email"`
		Groups  []string `json:"groups"`
	} `json:"requester"`
	Grant          string    `json:"grant"`
	Reason         string    `json:"reason"`
	TTL            string    `json:"ttl"`
	FiledAt        time.Time `json:"filed_at"`
	DecidedBy      string    `json:"decided_by"`
	DecidedAt      time.Time `json:"decided_at"`
	DecisionReason string    `json:"decision_reason"`
	ExpiresAt      time.Time `json:"expires_at"`
}

type oldClientAccessRequestResponse struct {
	Request  *oldClientAccessRequest  `json:"request"`
	Requests []oldClientAccessRequest `json:"requests"`
}

var (
	issued   = time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	identity = policy.Identity{Subject: "u-1", Email: "alice@example.com", Groups: []string{"engineering", "dba"},
		Issuer: "https://idp.example.com", Agent: "bot", DelegatedBy: "bob", RequestID: "r-1", TicketID: "T-9", RunID: "run-3", Serial: 77}
)

func oldRequest() oldAccessRequest {
	return oldAccessRequest{ID: "req-1", State: "approved", Requester: identity, Grant: "orders:admin", Reason: "incident 12",
		TTL: "30m", FiledAt: issued, DecidedBy: "carol@example.com", DecidedAt: issued.Add(time.Minute),
		DecisionReason: "ok", ExpiresAt: issued.Add(time.Hour)}
}

func newRequest() AccessRequest {
	return AccessRequest{ID: "req-1", State: "approved", Requester: identity, Grant: "orders:admin", Reason: "incident 12",
		TTL: "30m", FiledAt: issued, DecidedBy: "carol@example.com", DecidedAt: issued.Add(time.Minute),
		DecisionReason: "ok", ExpiresAt: issued.Add(time.Hour)}
}

// TestWireBytesUnchanged: every old wire type and its replacement, fully
// populated (and, where omitempty matters, empty), encode identically.
func TestWireBytesUnchanged(t *testing.T) {
	oidcOld := &oldOIDCInfo{Issuer: "https://idp", ClientID: "cli", Scopes: []string{"openid", "groups"}}
	oidcNew := &OIDCInfo{Issuer: "https://idp", ClientID: "cli", Scopes: []string{"openid", "groups"}}
	oneOld, oneNew := oldRequest(), newRequest()
	for _, tc := range []struct {
		name     string
		old, new any
	}{
		{"Info", oldInfo{"ssh-ed25519 AAAA", "@cert-authority gatehouse ssh-ed25519 B", "h:22", "gatehouse", oidcOld, true},
			Info{"ssh-ed25519 AAAA", "@cert-authority gatehouse ssh-ed25519 B", "h:22", "gatehouse", oidcNew, true}},
		{"Info without IdP", oldInfo{SSHAddress: "h:22"}, Info{SSHAddress: "h:22"}},
		{"client Info", oldClientInfo{"u", "k", "h:22", "gatehouse", oidcOld, false},
			Info{"u", "k", "h:22", "gatehouse", oidcNew, false}},
		{"CertificateRequest", oldCertificateRequest{"ssh-ed25519 A", "1h", []string{"a:b"}, "bot", "r", "t", "run"},
			CertificateRequest{"ssh-ed25519 A", "1h", []string{"a:b"}, "bot", "r", "t", "run"}},
		{"CertificateRequest empty", oldCertificateRequest{}, CertificateRequest{}},
		{"client CertificateRequest", oldClientCertRequest{"ssh-ed25519 A", "30m0s", []string{"a:b", "c:d"}},
			CertificateRequest{PublicKey: "ssh-ed25519 A", TTL: "30m0s", Grants: []string{"a:b", "c:d"}}},
		{"CertificateResponse", oldCertificateResponse{"cert", "alice", 42, []string{"a:b"}, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"},
			CertificateResponse{"cert", "alice", 42, []string{"a:b"}, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"}},
		{"ErrorResponse", oldErrorResponse{"no_grant", "no"}, ErrorResponse{"no_grant", "no"}},
		{"SignedRequest", oldAgentCertificateRequest{"c", "Y2xhaW1z", "c2ln"}, SignedRequest{"c", "Y2xhaW1z", "c2ln"}},
		{"AgentClaims", oldAgentClaims{"bot", "ssh-ed25519 A", []string{"a:b"}, "10m", "run", "T-1", 9, issued},
			AgentClaims{"bot", "ssh-ed25519 A", []string{"a:b"}, "10m", "run", "T-1", 9, issued}},
		{"AgentClaims minimal", oldAgentClaims{Agent: "bot"}, AgentClaims{Agent: "bot"}},
		{"AccessRequestClaims", oldAccessRequestClaims{"file", "a:b", "why", "5m", "req-1", 9, issued},
			AccessRequestClaims{ActionFile, "a:b", "why", "5m", "req-1", 9, issued}},
		{"AccessRequestClaims minimal", oldAccessRequestClaims{Action: "list"}, AccessRequestClaims{Action: ActionList}},
		{"AccessRequest", oneOld, oneNew},
		{"AccessRequest pending", oldAccessRequest{ID: "x", State: "pending", FiledAt: issued}, AccessRequest{ID: "x", State: "pending", FiledAt: issued}},
		{"AccessRequestResponse one", oldAccessRequestResponse{Request: &oneOld}, AccessRequestResponse{Request: &oneNew}},
		{"AccessRequestResponse list", oldAccessRequestResponse{Requests: []oldAccessRequest{oneOld, oneOld}},
			AccessRequestResponse{Requests: []AccessRequest{oneNew, oneNew}}},
		{"AccessRequestResponse empty list", oldAccessRequestResponse{Requests: []oldAccessRequest{}},
			AccessRequestResponse{Requests: []AccessRequest{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := json.Marshal(tc.old)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(tc.new)
			if err != nil {
				t.Fatal(err)
			}
			if string(old) != string(got) {
				t.Errorf("wire bytes changed:\nold %s\nnew %s", old, got)
			}
		})
	}
}

// TestClientDecodesAccessRequests: what ca/login's own AccessRequest
// decoded from the CA's answer, the shared type decodes too.
func TestClientDecodesAccessRequests(t *testing.T) {
	one := oldRequest()
	wire, err := json.Marshal(oldAccessRequestResponse{Request: &one, Requests: []oldAccessRequest{one}})
	if err != nil {
		t.Fatal(err)
	}
	var old oldClientAccessRequestResponse
	var got AccessRequestResponse
	if err := json.Unmarshal(wire, &old); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	for i, pair := range [][2]any{{old.Request, got.Request}, {&old.Requests[0], &got.Requests[0]}} {
		o, n := pair[0].(*oldClientAccessRequest), pair[1].(*AccessRequest)
		seen := oldClientAccessRequest{ID: n.ID, State: n.State, Grant: n.Grant, Reason: n.Reason, TTL: n.TTL, FiledAt: n.FiledAt,
			DecidedBy: n.DecidedBy, DecidedAt: n.DecidedAt, DecisionReason: n.DecisionReason, ExpiresAt: n.ExpiresAt}
		seen.Requester.Subject, seen.Requester.Email, seen.Requester.Groups = n.Requester.Subject, n.Requester.Email, n.Requester.Groups
		if !reflect.DeepEqual(*o, seen) {
			t.Errorf("%d: the old client decoded %+v, the shared type %+v", i, *o, seen)
		}
	}
}
