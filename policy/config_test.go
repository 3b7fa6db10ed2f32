package policy

import (
	"strings"
	"testing"
	"time"
)

const sampleConfig = `
data_dir: /var/lib/gatehouse
ssh:
  listen: 0.0.0.0:2222
ca:
  max_ttl: 1h
  agent_max_ttl: 30m
identity:
  oidc:
    issuer: https://idp.example.com
    client_id: gatehouse
targets:
  orders:
    protocol: postgres
    address: db.internal:5432
    roles:
      readonly:
        credentials: {user: app_ro, password_env: ORDERS_RO_PASSWORD}
        statements: readonly
        masking: pii
      admin:
        credentials: {user: app_admin, password_file: /run/secrets/orders_admin}
        statements: admin
grants:
  - groups: [engineering]
    allow: [orders:readonly]
  - groups: [dba]
    allow: [orders:admin, orders:readonly]
    max_ttl: 30m
statements:
  readonly:
    allow: [select, explain, show, set, transaction]
  admin:
    allow: [all]
    deny: [drop_database, alter_system]
masking:
  pii:
    columns:
      public.customers.email: email
recording:
  store: file
  s3:
    retention: 400d
`

func TestParseSample(t *testing.T) {
	cfg, err := Parse([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Targets["orders"].Port(); got != 5432 {
		t.Errorf("port = %d, want 5432", got)
	}
	if got := cfg.Recording.S3.Retention.D(); got != 400*24*time.Hour {
		t.Errorf("retention = %s", got)
	}
	if cfg.SSH.HostKey != "host_ed25519" || cfg.Identity.OIDC.GroupsClaim != "groups" || !*cfg.Recording.FailClosed {
		t.Errorf("defaults not applied: %+v", cfg.SSH)
	}
	if got := cfg.Path("ca_ed25519"); got != "/var/lib/gatehouse/ca_ed25519" {
		t.Errorf("Path = %q", got)
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name, edit, want string
	}{
		{"unknown field names its line", "ssh:\n  listen: 0.0.0.0:2222\n  colour: blue\n", "line 4: field colour not found"},
		{"grant to unknown target", "grants:\n  - groups: [x]\n    allow: [billing:readonly]\n", `"billing:readonly" names no configured target`},
		{"grant not TARGET:ROLE", "grants:\n  - groups: [x]\n    allow: [orders]\n", "want TARGET:ROLE"},
		{"bad duration", "ca:\n  max_ttl: forever\n", `invalid duration "forever"`},
		{"unknown statement kind", "statements:\n  ro:\n    allow: [selekt]\n", `unknown statement kind "selekt"`},
		{"missing policy", "targets:\n  t:\n    protocol: tcp\n    address: h:1\n    roles:\n      r: {statements: nope}\n", `no policy named "nope"`},
		{"target name like an address", "targets:\n  10.0.0.1:\n    protocol: tcp\n    address: h:1\n    roles: {r: {}}\n", "not hostnames"},
		{"bad protocol", "targets:\n  t:\n    protocol: mysql\n    address: h:1\n    roles: {r: {}}\n", `"mysql", want postgres or tcp`},
		{"agent cap above cap", "ca:\n  max_ttl: 10m\n  agent_max_ttl: 30m\n", "agent_max_ttl"},
		{"no data dir", "data_dir: \"\"\n", "data_dir: required"},
		{"unknown mask", "masking:\n  m:\n    columns: {public.t.c: scramble}\n", `unknown mask "scramble"`},
		{"absurd clock skew", "ssh:\n  clock_skew: 3650d\n", "ssh.clock_skew: 87600h0m0s is over the limit of 10m0s"},
		{"clock skew just over the limit", "ssh:\n  clock_skew: 601s\n", "ssh.clock_skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.edit
			if !strings.HasPrefix(doc, "data_dir") {
				doc = "data_dir: /tmp/x\n" + doc
			}
			_, err := Parse([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEntitlementFor(t *testing.T) {
	cfg, err := Parse([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		groups []string
		want   string
		ttl    time.Duration
	}{
		{[]string{"engineering"}, "orders:readonly", time.Hour},
		{[]string{"dba"}, "orders:admin orders:readonly", 30 * time.Minute},
		{[]string{"engineering", "dba"}, "orders:admin orders:readonly", 30 * time.Minute},
		{[]string{"sales"}, "", 0},
		{nil, "", 0},
	}
	for _, tt := range tests {
		e := cfg.EntitlementFor(tt.groups)
		if got := strings.Join(e.Principals, " "); got != tt.want || e.MaxTTL != tt.ttl {
			t.Errorf("EntitlementFor(%v) = %q %s, want %q %s", tt.groups, got, e.MaxTTL, tt.want, tt.ttl)
		}
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	id := Identity{Subject: "s1", Email: "alice@example.com", Issuer: "https://idp", Agent: "claude-code", Serial: 7}
	if got := id.Name(); got != "alice@example.com via agent:claude-code" {
		t.Errorf("Name = %q", got)
	}
	back, err := DecodeIdentity(id.Encode())
	if err != nil || back.Serial != 7 || back.Agent != "claude-code" {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := DecodeIdentity(`{"email":"x"}`); err == nil {
		t.Error("identity without subject accepted")
	}
}

// TestClockSkew: absent means the default, and zero means zero (not the
// default in disguise).
func TestClockSkew(t *testing.T) {
	tests := []struct {
		doc  string
		want time.Duration
	}{
		{"", time.Minute},
		{"ssh:\n  clock_skew: 0s\n", 0},
		{"ssh:\n  clock_skew: 0\n", 0},
		{"ssh:\n  clock_skew: 5s\n", 5 * time.Second},
		{"ssh:\n  clock_skew: 10m\n", MaxClockSkew},
	}
	for _, tt := range tests {
		cfg, err := Parse([]byte("data_dir: /tmp/x\n" + tt.doc))
		if err != nil {
			t.Fatalf("%q: %v", tt.doc, err)
		}
		if cfg.SSH.ClockSkew == nil || cfg.SSH.ClockSkew.D() != tt.want {
			t.Errorf("%q: clock_skew = %v, want %s", tt.doc, cfg.SSH.ClockSkew, tt.want)
		}
	}
}

func TestCheckVisibleText(t *testing.T) {
	tests := []struct {
		name, text string
		ok         bool
	}{
		{"plain email", "alice@example.com", true},
		{"name with a space", "Ada Lovelace", true},
		{"accented and other scripts", "zoë@例え.jp, दीपक", true},
		{"empty", "", true},
		{"ESC sequence", "alice@example.com\x1b[2J", false},
		{"newline", "alice\nbob", false},
		{"DEL", "alice\x7f", false},
		{"C1 control", "alice\u009b", false},
		{"right-to-left override", "alice\u202egro.elpmaxe@", false},
		{"right-to-left isolate", "alice\u2067x", false},
		{"left-to-right mark", "alice\u200e", false},
		{"zero-width space", "ali\u200bce", false},
		{"zero-width joiner", "ali\u200dce", false},
		{"byte order mark", "\ufeffalice", false},
		{"soft hyphen", "ali\u00adce", false},
		{"line separator", "alice\u2028", false},
		{"paragraph separator", "alice\u2029", false},
		{"no-break space", "alice\u00a0bob", false},
		{"ideographic space", "alice\u3000bob", false},
		{"Hangul filler", "alice\u3164", false},
		{"combining grapheme joiner", "alice\u034f", false},
		{"variation selector", "alice\ufe0f", false},
		{"tag character", "alice\U000E0041", false},
		{"private use", "alice\ue000", false},
		{"noncharacter", "alice\ufdd0", false},
		{"unassigned", "alice\U0003FFFD", false},
		{"invalid UTF-8", "alice\xff", false},
	}
	for _, tt := range tests {
		err := CheckVisibleText(tt.text)
		if (err == nil) != tt.ok {
			t.Errorf("%s: CheckVisibleText(%q) = %v, want ok=%v", tt.name, tt.text, err, tt.ok)
		}
	}
}

func TestIdentityValidateNamesTheField(t *testing.T) {
	id := Identity{Subject: "s", Issuer: "https://idp", Email: "a@example.com", Groups: []string{"eng", "ops\u202e"}}
	err := id.Validate()
	if err == nil || !strings.Contains(err.Error(), "groups[1]: character U+202E") {
		t.Fatalf("Validate = %v, want it to name groups[1] and U+202E", err)
	}
	id.Groups, id.Email = nil, "a\x1b]8;;http://evil\x07@example.com"
	if err := id.Validate(); err == nil || !strings.Contains(err.Error(), "email: character U+001B") {
		t.Fatalf("Validate = %v, want it to name email and U+001B", err)
	}
	if _, err := DecodeIdentity(id.Encode()); err == nil {
		t.Error("DecodeIdentity accepted an identity with an ESC in its email")
	}
}
