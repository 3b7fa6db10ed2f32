package gatehouse_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-dev/gatehouse"

// allowedImports is DESIGN.md's import direction: each package may import
// only the gatehouse packages listed for it (cmd, e2e and bench may import all).
var allowedImports = map[string][]string{
	"policy":           {"policy/sqlkind"},
	"policy/sqlkind":   {},
	"policy/sqlclass":  {"policy/sqlkind"},
	"policy/masking":   {},
	"policy/lineage":   {},
	"recorder":         {"internal/privatefile", "recorder/journal"},
	"recorder/s3store": {"recorder", "internal/privatefile"},
	// The group-committed journal every stream's lines also go to; the
	// file store (recorder) writes and recovers through it.
	"recorder/journal": {},
	"ca":               {"policy", "ca/caapi", "ca/krl", "ca/sshsig", "internal/privatefile", "internal/clip", "internal/sourcelimit"},
	"ca/krl":           {},
	"ca/sshsig":        {},
	"ca/login":         {"policy", "ca/caapi", "ca/sshsig", "ca/krl", "internal/privatefile"},
	// The certificate API's wire types, shared by the server (ca) and the
	// client (ca/login); AccessRequest carries a policy.Identity.
	"ca/caapi":       {"policy"},
	"bastion":        {"policy", "recorder", "bastion/pgsession", "bastion/pgwire", "bastion/relay", "policy/masking", "internal/clip", "internal/sourcelimit"},
	"bastion/pgwire": {},
	"bastion/relay":  {},
	"internal/pgrun": {},
	// The server's recording store stack: file store, spool, uploader.
	"recorder/stack": {"recorder", "recorder/journal", "recorder/s3store"},

	// The PostgreSQL session adapter: bastion hands it postgres channels.
	"bastion/pgsession": {"policy", "recorder", "bastion/pgwire", "policy/sqlclass", "policy/sqlkind", "policy/masking", "policy/lineage", "internal/clip"},
	// A build tool: summarises go test -json for make e2e.
	"scripts/testsummary": {},
	// The Vault client: cmd wires it into ca (a CertSigner) and bastion (a
	// CredentialSource); neither imports it.
	"internal/vault": {},
	// Plumbing any package may use: owner-only files written atomically,
	// and a buffer safe to read while it is written (tests, bench).
	"internal/privatefile": {},
	"internal/syncbuf":     {},
	// Bounds client-supplied text before it is recorded.
	"internal/clip": {},
	// Per-source limits on attempts that fail (bastion, ca).
	"internal/sourcelimit": {},
	// Plain HTTP only on loopback: the CA API's listener (and the
	// auditor console's), opened by cmd.
	"internal/listen": {},
}

// allowedTestImports adds, for a package's _test.go files, what they may
// import beyond allowedImports: ca/login's tests run against the real CA
// API (package ca, with a source limiter) instead of a copy of it.
var allowedTestImports = map[string][]string{
	"ca/login": {"ca", "internal/sourcelimit", "internal/syncbuf"},
}

// TestImportDirection keeps the dependency rules of DESIGN.md true: leaves
// know nothing of each other, and only cmd wires everything together.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		// cmd wires everything; e2e and bench drive the built binary.
		if pkg == "" || strings.HasPrefix(pkg, "cmd/") || strings.HasPrefix(pkg, "e2e") || pkg == "bench" {
			continue
		}
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("package %s is not in DESIGN.md's import rules; add it to allowedImports deliberately", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if !contains(allowed, dep) {
				t.Errorf("%s imports %s, which DESIGN.md does not allow (allowed: %v)", pkg, dep, allowed)
			}
		}
	}
	if checked < 4 {
		t.Fatalf("only %d packages checked; go list output looks wrong:\n%s", checked, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
