//go:build servers

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestCompat runs two PostgreSQL client libraries' own test suites, written
// by their authors, once straight to PostgreSQL and once through a gatehouse
// tunnel under a role that allows every statement and masks nothing, and
// fails on any test that passes directly but not through gatehouse unless
// compat/expected.txt lists it with its reason (docs/compatibility.md).
// It takes many minutes, so only `make compat` runs it.
func TestCompat(t *testing.T) {
	if os.Getenv("GATEHOUSE_COMPAT") != "1" {
		t.Skip("NOT RUN: the client libraries' suites run only under `make compat` (GATEHOUSE_COMPAT=1)")
	}
	requireTools(t, "go", "cp")
	expected := readExpected(t, filepath.Join(repoRoot(), "compat", "expected.txt"))
	w := newCompatWorld(t)
	p := w.newProfile("alice")
	if res := w.authCodeLogin(p, alice); res.err != nil {
		t.Fatalf("login failed: %v\n%s", res.err, res.out)
	}
	port, stop := w.startTunnel(t, w.sshConfig(p), "compat")
	defer stop()
	outDir := filepath.Join(repoRoot(), "bin", "compat")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	for _, s := range compatSuites(w, port) {
		src := s.source(t)
		direct := runSuite(t, s.name+"-direct", src, s.flags, s.direct, outDir)
		through := runSuite(t, s.name+"-gatehouse", src, s.flags, s.through, outDir)
		c := compareRuns(direct, through, expected)
		c.write(&report, s.name)
		if len(c.unexpected) > 0 {
			t.Errorf("%s: %d tests pass directly but not through gatehouse and are not in compat/expected.txt", s.name, len(c.unexpected))
		}
	}
	jdbc := compileJDBC(t)
	c := compareRuns(jdbc(t, w.pg.Port), jdbc(t, port), expected)
	c.write(&report, "jdbc")
	if len(c.unexpected) > 0 {
		t.Errorf("jdbc: %d checks pass directly but not through gatehouse and are not in compat/expected.txt", len(c.unexpected))
	}
	fmt.Print(report.String())
	if err := os.WriteFile(filepath.Join(outDir, "report.txt"), []byte(report.String()), 0o644); err != nil {
		t.Error(err)
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// compatSuite is one library's test suite and the environment each run
// gives it: direct names PostgreSQL, through names the tunnel.
type compatSuite struct {
	name            string
	source          func(t *testing.T) string
	flags           []string // for go test
	direct, through []string
}

// Each library's database is set up as its CI sets it up (pgx:
// ci/setup_test.bash and testsetup/; lib/pq: compose.yaml and
// testdata/postgres): its own superuser, trust on TCP except for the users
// that test other authentication methods. The gatehouse role has the name
// of the database user it connects as, so that current_user, ACLs and
// connection strings read the same on both sides; the runs differ only in
// the port.
func compatSuites(w *world, port int) []compatSuite {
	pgxConn := func(port int) string {
		return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=pgx_test sslmode=disable", port)
	}
	return []compatSuite{
		{name: "pgx", source: moduleSource("github.com/jackc/pgx/v5", ""),
			direct:  []string{"PGX_TEST_DATABASE=" + pgxConn(w.pg.Port)},
			through: []string{"PGX_TEST_DATABASE=" + pgxConn(port)}},
		// lib/pq's tests default to host localhost, user and database
		// pqgo, sslmode disable (internal/pqtest).
		// Its listener tests give a connection 100ms and panic past it,
		// which ends the package's run; one test at a time keeps a shared
		// machine within that.
		{name: "lib/pq", source: moduleSource("github.com/lib/pq", pqVersion), flags: []string{"-parallel", "1"},
			direct: []string{fmt.Sprintf("PGPORT=%d", w.pg.Port)}, through: []string{fmt.Sprintf("PGPORT=%d", port)}},
	}
}

// pqVersion is pinned so that a new release cannot change the result
// between two runs; pgx's version is the one gatehouse's go.mod uses.
const pqVersion = "v1.12.3"

// compatHBA is both libraries' CI pg_hba.conf in one.
const compatHBA = `
local all all trust
host all pgx_md5 127.0.0.1/32 md5
host all pgx_scram 127.0.0.1/32 scram-sha-256
host all pgx_pw 127.0.0.1/32 password
host all pqgomd5 all md5
host all pqgopassword all password
host all pqgoscram all scram-sha-256
host all all all trust
`

// compatSetup is what the libraries' CI setup creates (pgx:
// testsetup/postgresql_setup.sql; lib/pq: testdata/postgres), and a
// database for the JDBC checks.
var compatSetup = []string{
	"CREATE ROLE pqgo LOGIN SUPERUSER",
	"CREATE DATABASE pgx_test",
	"CREATE DATABASE pqgo OWNER pqgo",
	"CREATE DATABASE jdbc",
	`CREATE ROLE " tricky, ' } "" \ test user " LOGIN SUPERUSER PASSWORD 'secret'`,
	"SET password_encryption = md5; CREATE ROLE pgx_md5 LOGIN SUPERUSER PASSWORD 'secret'; CREATE ROLE pqgomd5 LOGIN PASSWORD 'wordpass'",
	"CREATE ROLE pgx_pw LOGIN SUPERUSER PASSWORD 'secret'; CREATE ROLE pgx_scram LOGIN SUPERUSER PASSWORD 'secret'",
	"CREATE ROLE pqgopassword LOGIN PASSWORD 'wordpass'; CREATE ROLE pqgoscram LOGIN PASSWORD 'wordpass'",
	"CREATE ROLE pqgossl LOGIN; CREATE ROLE pqgosslcert LOGIN",
}

func newCompatWorld(t *testing.T) *world {
	t.Helper()
	requireTools(t, "ssh", "ssh-keygen", "psql")
	w := &world{t: t, bin: gatehouseBinary(t), dataDir: t.TempDir()}
	w.pg = testenv.StartPostgres(t)
	if err := os.WriteFile(filepath.Join(w.pg.DataDir, "pg_hba.conf"), []byte(compatHBA), 0o600); err != nil {
		t.Fatal(err)
	}
	w.pg.Exec(t, "SELECT pg_reload_conf()")
	for _, stmt := range compatSetup {
		w.pg.Exec(t, stmt)
	}
	w.execIn("pgx_test", "CREATE EXTENSION hstore; CREATE EXTENSION ltree; CREATE DOMAIN uint64 AS numeric(20,0)")
	w.execIn("jdbc", `CREATE SCHEMA compat_jdbc;
		CREATE TABLE compat_jdbc.items (id int PRIMARY KEY, name text, price numeric);
		INSERT INTO compat_jdbc.items VALUES (1, 'item1', 1.5), (2, 'item2', 2.5), (3, 'item3', 3.5);
		CREATE VIEW compat_jdbc.items_view AS SELECT id, name FROM compat_jdbc.items`)
	// Trust means no password is asked for; gatehouse's configuration
	// still needs one.
	pw := filepath.Join(w.dataDir, "password")
	if err := os.WriteFile(pw, []byte(w.pg.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.serve([]testenv.IdPUser{alice}, func(apiAddr string) string {
		return fmt.Sprintf(compatConfig, w.dataDir, w.sshAddr, apiAddr, w.idp.Issuer, w.idp.ClientID, w.pg.Addr(), pw, pw)
	})
	return w
}

// compatConfig: the proxy should be invisible — every statement allowed,
// nothing masked.
const compatConfig = `
data_dir: %s
ssh:
  listen: %s
ca:
  listen: %s
  max_ttl: 2h
identity:
  oidc:
    issuer: %s
    client_id: %s
targets:
  compat:
    protocol: postgres
    address: %s
    # The suites open more sessions at once with one certificate than the
    # default limit (10): pools reaching their minimum size, concurrency
    # tests. The check is of the protocol, so the limits are raised.
    max_sessions: 90
    max_sessions_per_certificate: 90
    roles:
      postgres:
        credentials: {user: postgres, password_file: %s}
        statements: everything
      pqgo:
        credentials: {user: pqgo, password_file: %s}
        statements: everything
grants:
  - groups: [engineering]
    allow: [compat:postgres, compat:pqgo]
statements:
  everything:
    allow: [all]
`

// moduleSource copies a module's source out of the read-only module cache
// into a directory its tests can run in.
func moduleSource(path, version string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		var cmd *exec.Cmd
		if version == "" {
			cmd = exec.Command("go", "list", "-m", "-json", path)
			cmd.Dir = repoRoot()
		} else {
			cmd = exec.Command("go", "mod", "download", "-json", path+"@"+version)
			cmd.Dir = t.TempDir()
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("locating %s: %v\n%s", path, err, out)
		}
		var mod struct{ Dir string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
			t.Fatalf("locating %s: %v\n%s", path, err, out)
		}
		dst := filepath.Join(t.TempDir(), "src")
		if out, err := exec.Command("cp", "-r", mod.Dir, dst).CombinedOutput(); err != nil {
			t.Fatalf("copying %s: %v\n%s", mod.Dir, err, out)
		}
		if out, err := exec.Command("chmod", "-R", "u+w", dst).CombinedOutput(); err != nil {
			t.Fatalf("chmod %s: %v\n%s", dst, err, out)
		}
		return dst
	}
}

// runSuite runs every package's tests of the module in dir, one package at
// a time (the machine is shared), and returns each top-level test's
// outcome, keyed "import/path.TestName". The raw JSON stays in outDir.
func runSuite(t *testing.T, name, dir string, flags, env []string, outDir string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	args := append([]string{"test", "-json", "-p", "1", "-count=1", "-timeout", "15m"}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "./...")...)
	cmd.Dir = dir
	cmd.Env = append(suiteEnviron(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	file := filepath.Join(outDir, strings.ReplaceAll(name, "/", "_")+".json")
	if werr := os.WriteFile(file, out, 0o644); werr != nil {
		t.Error(werr)
	}
	results := testOutcomes(out)
	t.Logf("%s: %d top-level tests (go test: %v; JSON in %s)", name, len(results), err, file)
	if len(results) == 0 {
		t.Fatalf("%s ran no test: %v\n%s", name, err, stderr.String())
	}
	return results
}

// suiteEnviron is this process's environment without what would point a
// suite elsewhere than where its run says.
func suiteEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "GOFLAGS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOFLAGS=-mod=mod")
}

// testOutcomes reads `go test -json` and keeps the last action (pass, fail,
// skip) of each top-level test.
func testOutcomes(jsonOut []byte) map[string]string {
	results := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(jsonOut))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev struct{ Action, Package, Test string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" || strings.Contains(ev.Test, "/") {
			continue
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			results[ev.Package+"."+ev.Test] = ev.Action
		}
	}
	return results
}

// readExpected reads compat/expected.txt: one "import/path.TestName
// reason" a line; # starts a comment or a heading.
func readExpected(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	expected := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, " ")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("%s:%d: %q has no reason", path, i+1, line)
		}
		expected[name] = strings.TrimSpace(reason)
	}
	return expected
}

// comparison is one suite's two runs side by side.
type comparison struct {
	direct, through int               // tests that passed
	expected        map[string]string // differences listed, with their reason
	unexpected      map[string]string // differences not listed, with the outcome through gatehouse
	stale           []string          // listed, but passing through gatehouse (or not passing directly)
}

func compareRuns(direct, through, listed map[string]string) comparison {
	c := comparison{expected: map[string]string{}, unexpected: map[string]string{}}
	for _, res := range through {
		if res == "pass" {
			c.through++
		}
	}
	for name, res := range direct {
		if res != "pass" {
			continue
		}
		c.direct++
		got, ok := through[name]
		if got == "pass" {
			continue
		}
		if !ok {
			got = "no result (its package failed or timed out)"
		}
		if reason, ok := listed[name]; ok {
			c.expected[name] = reason
		} else {
			c.unexpected[name] = got
		}
	}
	for name := range listed {
		if _, ok := c.expected[name]; ok {
			continue
		}
		if _, ran := direct[name]; ran {
			c.stale = append(c.stale, name)
		}
	}
	sort.Strings(c.stale)
	return c
}

func (c comparison) write(b *strings.Builder, suite string) {
	fmt.Fprintf(b, "\n== %s\n", suite)
	fmt.Fprintf(b, "%-40s %6d\n", "passed directly", c.direct)
	fmt.Fprintf(b, "%-40s %6d\n", "passed through gatehouse", c.through)
	fmt.Fprintf(b, "%-40s %6d\n", "expected differences", len(c.expected))
	fmt.Fprintf(b, "%-40s %6d\n", "unexpected differences", len(c.unexpected))
	for _, name := range sortedKeys(c.expected) {
		fmt.Fprintf(b, "  expected    %s: %s\n", name, c.expected[name])
	}
	for _, name := range sortedKeys(c.unexpected) {
		fmt.Fprintf(b, "  UNEXPECTED  %s: %s through gatehouse\n", name, c.unexpected[name])
	}
	for _, name := range c.stale {
		fmt.Fprintf(b, "  listed in compat/expected.txt but no longer different: %s\n", name)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jdbcJar is where Debian's libpostgresql-jdbc-java puts the driver
// (scripts/compat-deps.sh installs it).
const jdbcJar = "/usr/share/java/postgresql.jar"

// compileJDBC compiles compat/jdbc/Compat.java once and returns a runner
// of its checks against a port, keyed "jdbc.CheckName".
func compileJDBC(t *testing.T) func(t *testing.T, port int) map[string]string {
	t.Helper()
	requireTools(t, "java", "javac")
	if _, err := os.Stat(jdbcJar); err != nil {
		t.Fatalf("the PostgreSQL JDBC driver is not installed: run scripts/compat-deps.sh: %v", err)
	}
	classes := t.TempDir()
	src := filepath.Join(repoRoot(), "compat", "jdbc", "Compat.java")
	if out, err := exec.Command("javac", "-cp", jdbcJar, "-d", classes, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	return func(t *testing.T, port int) map[string]string {
		t.Helper()
		url := fmt.Sprintf("jdbc:postgresql://127.0.0.1:%d/jdbc?currentSchema=compat_jdbc", port)
		cmd := exec.Command("java", "-cp", jdbcJar+":"+classes, "Compat", url, "postgres")
		out, err := runWithTimeout(cmd, 5*time.Minute)
		results := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			res, rest, _ := strings.Cut(line, " ")
			name, why, _ := strings.Cut(rest, ": ")
			if res == "pass" || res == "fail" {
				results["jdbc."+name] = res
			}
			if res == "fail" {
				t.Logf("jdbc on port %d: %s: %s", port, name, why)
			}
		}
		if len(results) == 0 {
			t.Fatalf("the JDBC checks ran none: %v\n%s", err, out)
		}
		return results
	}
}

// TestCompareRuns: only a test that passed directly counts, a listed
// difference is expected, any other is not, and a listed test that passes
// through gatehouse is reported as stale.
func TestCompareRuns(t *testing.T) {
	direct := map[string]string{"p.TestSame": "pass", "p.TestListed": "pass", "p.TestBroken": "pass",
		"p.TestGone": "pass", "p.TestFailsDirectly": "fail", "p.TestStale": "pass"}
	through := map[string]string{"p.TestSame": "pass", "p.TestListed": "fail", "p.TestBroken": "skip",
		"p.TestFailsDirectly": "fail", "p.TestStale": "pass"}
	listed := map[string]string{"p.TestListed": "a wall", "p.TestStale": "fixed since", "q.TestOtherSuite": "elsewhere"}
	c := compareRuns(direct, through, listed)
	tests := []struct {
		what      string
		got, want any
	}{
		{"passed directly", c.direct, 5},
		{"passed through", c.through, 2},
		{"expected", c.expected, map[string]string{"p.TestListed": "a wall"}},
		{"unexpected", c.unexpected, map[string]string{"p.TestBroken": "skip", "p.TestGone": "no result (its package failed or timed out)"}},
		{"stale", c.stale, []string{"p.TestStale"}},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}

// TestTestOutcomes: the last action of each top-level test counts;
// subtests and package events do not.
func TestTestOutcomes(t *testing.T) {
	out := []byte(`{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"fail","Package":"p","Test":"TestA/sub"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"fail","Package":"p"}
not json
`)
	got := fmt.Sprint(testOutcomes(out))
	if want := fmt.Sprint(map[string]string{"p.TestA": "pass", "p.TestB": "skip"}); got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}
