package evidence

import (
	"fmt"
	"strings"
	"testing"
)

// population is the rows of NOUN.jsonl in a built bundle.
func population(t *testing.T, files []dataFile, noun string) []map[string]any {
	t.Helper()
	return jsonLines(t, fileData(t, files, noun+".jsonl"))
}

// scoped is the rows of NOUN.jsonl in the bundle of the fixture's period
// narrowed to the identities and targets of sc.
func scoped(t *testing.T, f *fixture, noun string, sc Scope) []map[string]any {
	t.Helper()
	opts := f.opts
	opts.Scope.Identities, opts.Scope.Targets = sc.Identities, sc.Targets
	return population(t, unzip(t, f.build(t, opts)), noun)
}

// rowWhere is the first row whose field key has the value want (as
// fmt prints it), failing the test when none has.
func rowWhere(t *testing.T, rows []map[string]any, key, want string) map[string]any {
	t.Helper()
	for _, r := range rows {
		if fmt.Sprint(r[key]) == want {
			return r
		}
	}
	t.Fatalf("no row with %s=%s in %v", key, want, rows)
	return nil
}

// expect compares the fields of a row with want, as fmt prints them.
func expect(t *testing.T, what string, row map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := fmt.Sprint(row[k]); got != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got, v)
		}
	}
}

// TestBuildIssuances: every certificate issued and refused in the
// period, with the login method, the vouching human of an agent and the
// request it was issued under; a refusal with its code.
func TestBuildIssuances(t *testing.T) {
	f := newFixture(t)
	rows := population(t, unzip(t, f.build(t, f.opts)), "issuances")
	expect(t, "alice's certificate", rowWhere(t, rows, "serial", "7"), map[string]string{"outcome": "issued",
		"identity": "alice@example.com", "login_method": "oidc", "issuer": "https://idp", "principals": "[orders:ro]",
		"key_fingerprint": "SHA256:alice", "valid_before": "2026-11-26T08:00:00Z", "vouched_by": ""})
	expect(t, "the agent's certificate", rowWhere(t, rows, "serial", "8"), map[string]string{"outcome": "issued",
		"agent": "bot", "login_method": "agent", "vouched_by": "alice@example.com", "vouched_by_serial": "7", "request": "req-1"})
	expect(t, "mallory's refusal", rowWhere(t, rows, "outcome", "refused"), map[string]string{"identity": "mallory@example.com",
		"code": "grant_not_allowed", "reason": "no grant", "principals": "[orders:admin]", "serial": "0"})

	if rows := scoped(t, f, "issuances", Scope{Identities: []string{"bot"}}); len(rows) != 1 || rows[0]["agent"] != "bot" {
		t.Errorf("--identity bot: issuances %v", rows)
	}
}

// TestBuildRequests: each request filed in the period in its state at
// the period's end: one approved and used (with the sessions under it),
// one approved and expired unused, one denied.
func TestBuildRequests(t *testing.T) {
	f := newFixture(t)
	rows := population(t, unzip(t, f.build(t, f.opts)), "requests")
	if len(rows) != 3 {
		t.Fatalf("requests %v", rows)
	}
	alice, bob := sessionOf(t, f, "alice@example.com"), sessionOf(t, f, "bob@example.com")
	// Approved, used, then revoked with alice's certificate.
	expect(t, "the used request", rowWhere(t, rows, "id", "req-used"), map[string]string{"state": "revoked", "used": "true",
		"decided_by": "bob@example.com", "requester": "alice@example.com", "grant": "orders:rw", "certificates": "[7]",
		"sessions": "[" + alice + " " + bob + "]", "justification": `=HYPERLINK("x") ticket 42`})
	expect(t, "the lapsed request", rowWhere(t, rows, "id", "req-lapsed"), map[string]string{"state": "expired", "used": "false",
		"sessions": "[]", "expires": "2026-11-26T03:00:00Z"})
	expect(t, "the denied request", rowWhere(t, rows, "id", "req-denied"), map[string]string{"state": "denied", "used": "false"})

	if rows := scoped(t, f, "requests", Scope{Targets: []string{"billing"}}); len(rows) != 0 {
		t.Errorf("--target billing: requests for orders listed: %v", rows)
	}
}

// sessionOf is the id of the fixture's session of identity in the period.
func sessionOf(t *testing.T, f *fixture, identity string) string {
	t.Helper()
	return fmt.Sprint(rowWhere(t, population(t, unzip(t, f.build(t, f.opts)), "sessions"), "identity", identity)["session"])
}

// TestBuildRevocations: a revocation with who made it, the session it
// ended and the session begun after it, which is also an exception.
func TestBuildRevocations(t *testing.T) {
	f := newFixture(t)
	files := unzip(t, f.build(t, f.opts))
	alice, bob := sessionOf(t, f, "alice@example.com"), sessionOf(t, f, "bob@example.com")
	rows := population(t, files, "revocations")
	if len(rows) != 2 {
		t.Fatalf("revocations %v", rows)
	}
	expect(t, "the key's revocation", rows[1], map[string]string{"what": "key SHA256:alice", "sessions_after": "[" + bob + "]"})
	if ended := fmt.Sprint(rows[1]["sessions_ended"]); !strings.HasPrefix(ended, "["+alice) {
		t.Errorf("the key's revocation: sessions ended %s, want alice's", ended)
	}
	expect(t, "the revocation", rows[0], map[string]string{"by": "ops", "what": "serial 7", "reason": "laptop lost",
		"revoked_at": "2026-11-26T09:00:03Z", "matched": "[7]", "sessions_after": "[" + bob + "]"})
	if ended := fmt.Sprint(rows[0]["sessions_ended"]); !strings.HasPrefix(ended, "["+alice+" at 2026-11-26T09:00:") ||
		!strings.HasSuffix(ended, ": certificate revoked]") {
		t.Errorf("sessions ended %s, want alice's", ended)
	}
	ex := population(t, files, "exceptions")
	if len(ex) != 1 {
		t.Fatalf("exceptions %v", ex)
	}
	expect(t, "the exception", ex[0], map[string]string{"kind": "activity after revocation", "session": bob})
	if d := fmt.Sprint(ex[0]["detail"]); !strings.Contains(d, "serial 7 was revoked at 2026-11-26T09:00:03Z") {
		t.Errorf("exception detail %q", d)
	}

	if rows := scoped(t, f, "revocations", Scope{Identities: []string{"carol@example.com"}}); len(rows) != 0 {
		t.Errorf("--identity carol: revocations %v", rows)
	}
}

// TestBuildExposure: the masked column with its statements and values,
// then the probe a masking rule refused.
func TestBuildExposure(t *testing.T) {
	f := newFixture(t)
	rows := population(t, unzip(t, f.build(t, f.opts)), "exposure")
	if len(rows) != 2 {
		t.Fatalf("exposure %v", rows)
	}
	expect(t, "the masked column", rows[0], map[string]string{"kind": "masked", "target": "orders", "column": "pii",
		"function": "redact", "statements": "1", "values": "1", "identities": "alice@example.com"})
	expect(t, "the refused probe", rows[1], map[string]string{"kind": "refused", "target": "billing", "rule": "masking.deny_probing",
		"identity": "bob@example.com", "text": "select * from cards where pan like '4%'"})
}

// TestBuildActivity: the console's events of the period, not those
// after it; an auditor's filter text is formula-safe in the CSV.
func TestBuildActivity(t *testing.T) {
	f := newFixture(t)
	files := unzip(t, f.build(t, f.opts))
	rows := population(t, files, "activity")
	if len(rows) != 2 {
		t.Fatalf("activity %v", rows)
	}
	expect(t, "the login", rows[0], map[string]string{"kind": "login", "auditor": "erin@audit.example (erin at https://idp)",
		"what": "from 198.51.100.7:4000"})
	expect(t, "the view", rows[1], map[string]string{"kind": "view", "what": `/sessions identity="=alice"; 3 rows`})
	if !strings.HasPrefix(fmt.Sprint(rows[0]["stream"]), "console/") {
		t.Errorf("stream %v", rows[0]["stream"])
	}
}
