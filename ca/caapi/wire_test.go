package caapi

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// wireGolden holds, a line per case of wireCases in their order
// ("NAME\tJSON"), the bytes the API's JSON had before this package
// existed: written once from the wire types as package ca (the server) and
// package ca/login (the client) declared them on main at commit 7e5d14b,
// with the values of wireCases. Never regenerate it from this package's
// types: the test would then compare them with themselves and could not
// fail. A new type or field adds a line by hand.
const wireGolden = "testdata/wire.golden"

// wireCase is a value of a shared type. A full case sets every field of
// its type; each struct a field holds has a full case of its own.
type wireCase struct {
	name string
	v    any
	full bool
}

var (
	issued   = time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	identity = policy.Identity{Subject: "u-1", Email: "alice@example.com", Groups: []string{"engineering", "dba"},
		Issuer: "https://idp.example.com", Agent: "bot", DelegatedBy: "bob", RequestID: "r-1", TicketID: "T-9", RunID: "run-3",
		Serial: 77, DelegatedBySerial: 5}
	oidc    = &OIDCInfo{Issuer: "https://idp", ClientID: "cli", Scopes: []string{"openid", "groups"}}
	request = AccessRequest{ID: "req-1", State: "approved", Requester: identity, Grant: "orders:admin", Reason: "incident 12",
		TTL: "30m", FiledAt: issued, DecidedBy: "carol@example.com", DecidedAt: issued.Add(time.Minute),
		DecisionReason: "ok", ExpiresAt: issued.Add(time.Hour)}
)

// wireCases: each type fully populated and empty, and the partial values
// whose omitempty fields the server or the client (ca/login's "client"
// cases, whose own types had fewer fields) relied on.
var wireCases = []wireCase{
	{"Info", Info{"ssh-ed25519 AAAA", "@cert-authority gatehouse ssh-ed25519 B", "h:22", "gatehouse", oidc, true}, true},
	{"Info without IdP", Info{SSHAddress: "h:22"}, false},
	{"Info zero", Info{}, false},
	{"client Info", Info{"u", "k", "h:22", "gatehouse", oidc, false}, false},
	{"OIDCInfo", *oidc, true},
	{"OIDCInfo zero", OIDCInfo{}, false},
	{"CertificateRequest", CertificateRequest{"ssh-ed25519 A", "1h", []string{"a:b"}, "bot", "r", "t", "run"}, true},
	{"CertificateRequest zero", CertificateRequest{}, false},
	{"client CertificateRequest", CertificateRequest{PublicKey: "ssh-ed25519 A", TTL: "30m0s", Grants: []string{"a:b", "c:d"}}, false},
	{"CertificateResponse", CertificateResponse{"cert", "alice", 42, []string{"a:b"}, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"}, true},
	{"CertificateResponse zero", CertificateResponse{}, false},
	{"ErrorResponse", ErrorResponse{"no_grant", "no"}, true},
	{"ErrorResponse zero", ErrorResponse{}, false},
	{"SignedRequest", SignedRequest{"c", "Y2xhaW1z", "c2ln"}, true},
	{"SignedRequest zero", SignedRequest{}, false},
	{"AgentClaims", AgentClaims{"bot", "ssh-ed25519 A", []string{"a:b"}, "10m", "run", "T-1", 9, issued}, true},
	{"AgentClaims minimal", AgentClaims{Agent: "bot"}, false},
	{"AgentClaims zero", AgentClaims{}, false},
	{"AccessRequestClaims", AccessRequestClaims{ActionFile, "a:b", "why", "5m", "req-1", 9, issued}, true},
	{"AccessRequestClaims minimal", AccessRequestClaims{Action: ActionList}, false},
	{"AccessRequestClaims zero", AccessRequestClaims{}, false},
	{"Identity", identity, true},
	{"Identity zero", policy.Identity{}, false},
	{"AccessRequest", request, true},
	{"AccessRequest pending", AccessRequest{ID: "x", State: "pending", FiledAt: issued}, false},
	{"AccessRequest zero", AccessRequest{}, false},
	{"AccessRequestResponse", AccessRequestResponse{Request: &request, Requests: []AccessRequest{request}}, true},
	{"AccessRequestResponse one", AccessRequestResponse{Request: &request}, false},
	{"AccessRequestResponse list", AccessRequestResponse{Requests: []AccessRequest{request, request}}, false},
	{"AccessRequestResponse empty list", AccessRequestResponse{Requests: []AccessRequest{}}, false},
	{"AccessRequestResponse zero", AccessRequestResponse{}, false},
}

// TestWireBytesUnchanged: every case encodes to the bytes the old types
// encoded it to, and a full case decodes back to itself (what ca/login
// read from the CA's answers, and the CA from its clients' bodies).
func TestWireBytesUnchanged(t *testing.T) {
	data, err := os.ReadFile(wireGolden)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(wireCases) {
		t.Fatalf("%s has %d lines for %d cases", wireGolden, len(lines), len(wireCases))
	}
	for i, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			name, want, _ := strings.Cut(lines[i], "\t")
			if name != tc.name {
				t.Fatalf("line %d of %s is %q, not %q", i+1, wireGolden, name, tc.name)
			}
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("wire bytes changed:\n got %s\nwant %s", got, want)
			}
			if tc.full {
				decoded := reflect.New(reflect.TypeOf(tc.v))
				if err := json.Unmarshal([]byte(want), decoded.Interface()); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(decoded.Elem().Interface(), tc.v) {
					t.Errorf("decoded %+v, want %+v", decoded.Elem().Interface(), tc.v)
				}
			}
		})
	}
}

// TestFullCasesSetEveryField: a full case leaves no field of its type
// zero, so that a field added to a wire type shows in its line and fails
// TestWireBytesUnchanged until the line names it.
func TestFullCasesSetEveryField(t *testing.T) {
	for _, tc := range wireCases {
		v := reflect.ValueOf(tc.v)
		for i := range v.NumField() {
			if tc.full && v.Field(i).IsZero() {
				t.Errorf("%s: %s is zero", tc.name, v.Type().Field(i).Name)
			}
		}
	}
}
