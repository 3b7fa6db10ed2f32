package gatehouse_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-dev/gatehouse"

// allowedImports is DESIGN.md's import direction: each package may import
// only the gatehouse packages listed for it (cmd, e2e and bench may import
// all). docs/architecture.md, "Import rules", states the same list
// (TestArchitectureStatesImportRules).
var allowedImports = map[string][]string{
	// What a statement does, what a policy says of it: pure, no I/O.
	"policy":          {"policy/sqlkind"},
	"policy/sqlkind":  {},
	"policy/sqlclass": {"policy/sqlkind"},
	"policy/masking":  {},
	"policy/lineage":  {},

	// Recording: the format, the streams, where they are kept.
	"recorder/event":   {}, // the recording format: every writer and reader shares it
	"recorder":         {"recorder/event", "recorder/journal", "internal/privatefile"},
	"recorder/journal": {}, // the group-committed journal every stream's lines also go to
	"recorder/s3store": {"recorder", "internal/privatefile"},
	"recorder/stack":   {"recorder", "recorder/s3store", "recorder/journal"},                                                                                           // the server's store: file store, spool, uploader
	"recorder/console": {"recorder", "recorder/event", "recorder/audit", "recorder/evidence", "recorder/consoleindex", "internal/sourcelimit", "internal/privatefile"}, // the auditor's web console: reads the store, records views, keeps links
	"recorder/audit":   {"recorder", "recorder/event"},                                                                                                                 // what the console and the evidence bundle derive alike: requests, revocations, exposure, activity; the session walk the console's index shares
	// The console's index of the store (SQLite): derived, rebuilt from it at will.
	"recorder/consoleindex": {"recorder", "recorder/event", "recorder/audit"},

	// The SOC 2 evidence bundle: reads the store, signs its manifest as
	// SSHSIG (the format ssh-keygen -Y verify checks).
	"recorder/evidence": {"recorder", "recorder/event", "recorder/audit", "ca/sshsig"},

	// The CA, its wire types (AccessRequest carries a policy.Identity),
	// and the client that logs in.
	"ca/caapi":  {"policy"},
	"ca/krl":    {},
	"ca/sshsig": {},
	"ca":        {"policy", "recorder/event", "ca/caapi", "ca/krl", "ca/sshsig", "internal/privatefile", "internal/clip", "internal/sourcelimit"},
	"ca/login":  {"policy", "ca/caapi", "ca/sshsig", "ca/krl", "internal/privatefile", "internal/listen"},
	// The CA's state shared by replicas, in PostgreSQL.
	"ca/pgstate": {"ca", "policy"},

	// The SSH server, and the PostgreSQL sessions it hands channels to.
	"bastion":           {"policy", "recorder", "recorder/event", "bastion/pgsession", "bastion/pgwire", "bastion/relay", "policy/masking", "internal/clip", "internal/sourcelimit"},
	"bastion/pgsession": {"policy", "recorder", "recorder/event", "bastion/pgwire", "policy/sqlclass", "policy/sqlkind", "policy/masking", "policy/lineage", "internal/clip"},
	"bastion/pgwire":    {},
	"bastion/relay":     {},

	// The Vault client: cmd wires it into ca (a CertSigner) and bastion (a
	// CredentialSource); neither imports it.
	"internal/vault": {},
	// The throwaway PostgreSQL of gatehouse dev.
	"internal/pgrun": {},
	// Real test servers (PostgreSQL, MinIO, Dex) for e2e and tests built
	// with the servers tag.
	"internal/testenv": {},
	// Plumbing any package may use: owner-only files written atomically;
	// a buffer safe to read while it is written (tests, bench); the cap on
	// client-supplied text before it is recorded; per-source limits on
	// attempts that fail (bastion, ca); plain HTTP only on loopback.
	"internal/privatefile": {},
	"internal/syncbuf":     {},
	"internal/clip":        {},
	"internal/sourcelimit": {},
	"internal/listen":      {},
	// The operations endpoint (/metrics, /healthz, /readyz) and the
	// Prometheus metrics cmd wires to the hooks of bastion, pgsession and
	// the recorder: the only importers of the Prometheus client.
	"internal/ops":     {},
	"internal/metrics": {},
	// The C heap's free memory back to the OS after a peak of sessions
	// (malloc_trim through cgo); cmd wires it into bastion.
	"internal/malloctrim": {},
	// The most heap a piece of work held, sampled while it runs (the
	// evidence benchmark and the evidence package's memory test).
	"internal/heappeak": {},
	// A build tool: summarises go test -json for make e2e.
	"scripts/testsummary": {},
}

// allowedTestImports lists what a package's tests may import besides its
// allowedImports and the package itself (cmd, e2e and bench may import all).
var allowedTestImports = map[string][]string{
	// The login client's tests run against the real CA API.
	"ca/login":       {"ca", "recorder/event", "internal/sourcelimit", "internal/syncbuf"},
	"policy/masking": {"policy"},
	// The uploader's tests build the server's own stack under it: spool,
	// uploader, journaled file store (TestS3StreamsKeepTheJournalsFastPaths).
	"recorder/s3store": {"internal/syncbuf", "recorder/journal"},
	// The bundle's peak heap, measured as bench/evidence measures it.
	"recorder/evidence": {"internal/heappeak"},
}

// serverTests are the packages whose tests need real servers
// (internal/testenv: PostgreSQL, MinIO, Dex). Those test files carry
// `//go:build servers`: `go test ./...` runs the hermetic tests only, and
// `make test` passes -tags servers to run these too. Everything else is
// hermetic: its tests import internal/testenv under no tag.
var serverTests = map[string]bool{
	"bastion/pgwire":   true, // the relay against a real PostgreSQL (postgres_test.go)
	"recorder/s3store": true, // Object Lock and uploads against MinIO
	"ca/pgstate":       true, // the shared state against a real PostgreSQL
	"internal/testenv": true, // the servers themselves
	"e2e":              true, // every file: the built binary against every server
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
		if pkg == "" || strings.HasPrefix(pkg, "cmd/") || strings.HasPrefix(pkg, "e2e") || pkg == "bench" || strings.HasPrefix(pkg, "bench/") {
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

// TestTestImports keeps unit tests hermetic and inside the import rules:
// without the servers tag no test imports internal/testenv, with it only
// the serverTests do, and a package's tests import no more than the
// package may plus allowedTestImports.
func TestTestImports(t *testing.T) {
	for _, tags := range []string{"", "servers"} {
		pkgs := listTests(t, tags)
		if len(pkgs) < 4 {
			t.Fatalf("go list -tags=%q found only %d packages", tags, len(pkgs))
		}
		for _, p := range pkgs {
			checkTestImports(t, p, tags == "servers")
		}
	}
}

// testedPackage is what go list says of a package's tests.
type testedPackage struct {
	ImportPath                string
	TestImports, XTestImports []string
	TestGoFiles, XTestGoFiles []string
}

func listTests(t *testing.T, tags string) []testedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-tags="+tags, "-json=ImportPath,TestImports,XTestImports,TestGoFiles,XTestGoFiles", "./...").Output()
	if err != nil {
		t.Fatalf("go list -tags=%q: %v", tags, err)
	}
	var pkgs []testedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p testedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatalf("go list -tags=%q: decoding: %v", tags, err)
		}
		pkgs = append(pkgs, p)
	}
}

func checkTestImports(t *testing.T, p testedPackage, servers bool) {
	t.Helper()
	pkg := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
	files := slices.Concat(p.TestGoFiles, p.XTestGoFiles)
	deps := gatehouseImports(slices.Concat(p.TestImports, p.XTestImports))
	usesServers := contains(deps, "internal/testenv") || (pkg == "internal/testenv" && len(files) > 0)
	switch {
	case !servers && usesServers:
		t.Errorf("%s: tests that need real servers are built without the servers tag: "+
			"put `//go:build servers` on those of %v that use internal/testenv", pkg, files)
	case !servers && pkg == "e2e":
		t.Errorf("e2e: %v built without the servers tag; every e2e file needs `//go:build servers`", files)
	case servers && usesServers && !serverTests[pkg]:
		t.Errorf("%s: its tests need real servers (internal/testenv); keep unit tests hermetic, or add it to serverTests deliberately", pkg)
	case servers && !usesServers && serverTests[pkg]:
		t.Errorf("%s is in serverTests, but none of its tests uses internal/testenv; remove it", pkg)
	}
	allowed, known := allowedImports[pkg]
	if !known || pkg == "" || strings.HasPrefix(pkg, "cmd/") || strings.HasPrefix(pkg, "e2e") || pkg == "bench" || strings.HasPrefix(pkg, "bench/") {
		return // TestImportDirection names unknown packages; the others may import all
	}
	for _, dep := range deps {
		if dep != pkg && dep != "internal/testenv" && !contains(allowed, dep) && !contains(allowedTestImports[pkg], dep) {
			t.Errorf("%s's tests import %s, which neither allowedImports nor allowedTestImports allows", pkg, dep)
		}
	}
}

// gatehouseImports keeps the imports of this module, without its path.
func gatehouseImports(imports []string) []string {
	var deps []string
	for _, imp := range imports {
		if dep, ok := strings.CutPrefix(imp, module+"/"); ok {
			deps = append(deps, dep)
		}
	}
	return deps
}

// TestArchitectureStatesImportRules keeps docs/architecture.md's "Import
// rules" list the same as allowedImports, so the document cannot drift
// from what this file enforces.
func TestArchitectureStatesImportRules(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Import rules\n")
	if !ok {
		t.Fatal(`docs/architecture.md has no "## Import rules" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	stated := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		rest, ok := strings.CutPrefix(line, "- `")
		if !ok {
			continue
		}
		pkg, deps, ok := strings.Cut(rest, "`: ")
		if !ok {
			t.Errorf("architecture.md: %q: want - `PACKAGE`: `DEP`, `DEP` (or nothing)", line)
			continue
		}
		list := []string{}
		if deps != "nothing" {
			for _, d := range strings.Split(deps, ", ") {
				list = append(list, strings.Trim(d, "`"))
			}
		}
		stated[pkg] = list
	}
	for pkg, allowed := range allowedImports {
		got, ok := stated[pkg]
		switch {
		case !ok:
			t.Errorf("architecture.md does not state the import rule of %s (allowed: %v)", pkg, allowed)
		case !sameSet(got, allowed):
			t.Errorf("architecture.md says %s imports %v; imports_test.go allows %v", pkg, got, allowed)
		}
	}
	for pkg := range stated {
		if _, ok := allowedImports[pkg]; !ok {
			t.Errorf("architecture.md states a rule for %s, which allowedImports does not know", pkg)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
