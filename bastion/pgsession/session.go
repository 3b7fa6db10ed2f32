package pgsession

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// pgSession is one PostgreSQL session through a channel: the role the
// client chose, the policy that judges its statements, and the statements
// it prepared in SQL (so that EXECUTE is judged by what it runs).
type pgSession struct {
	p         *Proxy
	conn      Conn
	stream    Stream
	log       *slog.Logger
	sessionID string // the SSH connection's recording
	channel   int
	target    string
	spec      *policy.Target
	roles     []string // the certificate's roles on target
	identity  policy.Identity
	agent     bool
	cert      string // certKey: the certificate counted under the target's limits

	// Set by authorize, read afterwards (pgwire calls the hooks in order).
	role       string
	policyName string
	readOnly   bool
	lease      *LeasedCredential // credentials.vault; released when the channel ends
	release    func()            // frees the session's place under the target's limits
	// prepared is touched only by inspect, which pgwire calls from one
	// goroutine at a time.
	prepared map[string]preparedStatement
	masking  *sessionMasking // nil: the role masks nothing
}

type preparedStatement struct {
	kinds                          []sqlkind.Kind
	relations, functions, settings []string
}

// authorize checks the startup's user against the certificate's grants and
// says how to reach the database with the role's own credentials.
func (s *pgSession) authorize(ctx context.Context, st pgwire.Startup) (*pgwire.Upstream, error) {
	if !slices.Contains(s.roles, st.User) {
		return nil, &pgwire.Error{Code: "28000", Message: fmt.Sprintf(
			"gatehouse: no grant %s:%s; your certificate grants %s (connect with one of those roles as the user name)",
			s.target, clip.Name(st.User), grantsText(s.target, s.roles))}
	}
	total, perCert := s.spec.SessionLimits()
	release, err := s.p.dbSessions.acquire(s.target, s.cert, total, perCert)
	if err != nil {
		return nil, err
	}
	s.release = release
	role := s.spec.Roles[st.User]
	s.role = st.User
	s.policyName = role.StatementPolicyFor(s.agent)
	pol := s.p.cfg.Policy
	s.readOnly = pol.ReadOnly(s.policyName)
	cfg, err := upstreamConfig(s.spec, st.User, role.Credentials, st.Database)
	if err != nil {
		// The cause names files and variables: logged, not shown.
		s.log.Error("postgres upstream credentials", "target", s.target, "role", clip.Name(st.User), "error", err)
		return nil, &pgwire.Error{Code: "28000", Message: fmt.Sprintf(
			"gatehouse: the bastion cannot connect as %s:%s: its credentials are not available; tell the gatehouse operator", s.target, st.User)}
	}
	if err := s.leaseCredentials(ctx, role.Credentials, cfg); err != nil {
		return nil, err
	}
	params := map[string]string{}
	if s.readOnly {
		params["default_transaction_read_only"] = "on"
	}
	if sp, ok := pol.Statements[s.policyName]; ok && sp.StatementTimeout > 0 {
		params["statement_timeout"] = strconv.FormatInt(sp.StatementTimeout.D().Milliseconds(), 10)
	}
	up := &pgwire.Upstream{Config: cfg, RuntimeParams: params, RecordParameters: pol.Statements[s.policyName].LogParameters}
	if err := s.startMasking(ctx, role, st, up); err != nil {
		return nil, err
	}
	return up, nil
}

// upstreamConfig builds the pgconn configuration from the target and the
// role's credentials. Nothing in it comes from the client but the database
// name.
func upstreamConfig(t *policy.Target, roleName string, cr policy.Credentials, database string) (*pgconn.Config, error) {
	password, err := readPassword(cr)
	if err != nil {
		return nil, err
	}
	user := cr.User
	if user == "" {
		user = roleName
	}
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil {
		return nil, fmt.Errorf("target address: %w", err)
	}
	conninfo := []string{
		"host=" + quoteConninfo(host), "port=" + quoteConninfo(port), "user=" + quoteConninfo(user),
		"dbname=" + quoteConninfo(database), "sslmode=" + quoteConninfo(t.TLS), "connect_timeout=10",
	}
	if t.CAFile != "" {
		conninfo = append(conninfo, "sslrootcert="+quoteConninfo(t.CAFile))
	}
	cfg, err := pgconn.ParseConfig(strings.Join(conninfo, " "))
	if err != nil {
		return nil, fmt.Errorf("upstream config: %w", err)
	}
	cfg.Password = password
	// ParseConfig also reads PG* environment variables; run-time
	// parameters come only from the client's allowed ones and the policy.
	cfg.RuntimeParams = map[string]string{}
	return cfg, nil
}

func readPassword(cr policy.Credentials) (string, error) {
	switch {
	case cr.PasswordEnv != "":
		v, ok := os.LookupEnv(cr.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password_env %s is not set", cr.PasswordEnv)
		}
		return v, nil
	case cr.PasswordFile != "":
		b, err := os.ReadFile(cr.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// quoteConninfo quotes a libpq keyword/value (PostgreSQL docs §34.1.1.1).
func quoteConninfo(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// statementDetail is what the recording says of a decided SQL string.
type statementDetail struct {
	Kinds     []sqlkind.Kind
	Relations []string
	Functions []string
	Allow     bool
	Rule      string
	// masking is for the results of an allowed string, when masking
	// applies; replaced when a prepared statement is judged again under
	// another search_path (sessionMasking.bind), read by Results.
	masking   atomic.Pointer[maskingDetail]
	readsOnly bool // every statement of the string onlyReads
	// recordedKinds is Kinds as the records keep them, set with the
	// decision's record (decisionRecord) before pgwire has the verdict,
	// and read by the outcome's.
	recordedKinds []string
}

// inspect decides a SQL string: every statement in it must be allowed.
func (s *pgSession) inspect(ctx context.Context, q pgwire.Query) pgwire.Verdict {
	stmts, err := s.p.classifier.Classify(q.SQL)
	if err != nil {
		return s.unparsable(err)
	}
	d := &statementDetail{Allow: true, readsOnly: len(stmts) > 0}
	// PREPAREs earlier in the string, which its EXECUTEs may run; they are
	// remembered for the session only if the whole string is allowed.
	preparedHere := map[string]preparedStatement{}
	for _, st := range stmts {
		p, refusal := s.effect(st, preparedHere)
		d.readsOnly = d.readsOnly && onlyReads(st)
		d.Kinds = union(d.Kinds, p.kinds)
		d.Relations = union(d.Relations, p.relations)
		d.Functions = union(d.Functions, p.functions)
		if refusal != "" {
			d.Rule = "execute"
			return s.deny(d, refusal)
		}
		if msg := s.wallBreach(p.settings); msg != "" {
			d.Rule = "walls"
			return s.deny(d, msg)
		}
		dec := s.p.cfg.Policy.DecideStatement(s.policyName, p.kinds, p.relations, p.functions)
		d.Rule = dec.Rule
		if !dec.Allow {
			return s.deny(d, "gatehouse: "+dec.Reason)
		}
		if pr := st.Prepared; pr != nil {
			preparedHere[pr.Name] = preparedStatement{pr.Kinds, pr.Relations, pr.Functions, pr.Settings}
		}
	}
	if s.masking != nil {
		if msg := s.masking.check(ctx, q, stmts, d); msg != "" {
			d.Rule = "masking." + s.masking.name
			return s.deny(d, msg)
		}
	}
	maps.Copy(s.prepared, preparedHere)
	return pgwire.Verdict{Allow: true, Detail: d, Names: nameEffects(stmts, d)}
}

// onlyReads says whether a statement, as written, changes nothing and
// takes no lock another session could wait on: a plain SELECT that calls
// no function and locks no row, so that running it before its record is
// durable (recording.overlap_reads) gives away nothing but its results,
// which are held. What the text cannot show is not guessed at: a view or
// an operator it uses may call a function; docs/recording-format.md says
// what that means for the record.
func onlyReads(st sqlclass.Statement) bool {
	return st.Command == sqlclass.SelectCommand && slices.Equal(st.Kinds, []sqlkind.Kind{sqlkind.Select}) &&
		len(st.Functions) == 0 && len(st.Settings) == 0 && len(st.Executes) == 0 && !st.LocksRows
}

// effect is what a statement does, with EXECUTE resolved to the statement
// it runs. An EXECUTE of a statement gatehouse did not see prepared is
// refused: its effect is unknown (fail closed).
func (s *pgSession) effect(st sqlclass.Statement, preparedHere map[string]preparedStatement) (preparedStatement, string) {
	p := preparedStatement{st.Kinds, st.Relations, st.Functions, st.Settings}
	for _, name := range st.Executes {
		inner, ok := preparedHere[name]
		if !ok {
			inner, ok = s.prepared[name]
		}
		if !ok {
			return p, fmt.Sprintf("gatehouse: EXECUTE %s refused: gatehouse did not see that statement prepared in this session", name)
		}
		p.kinds = union(p.kinds, inner.kinds)
		p.relations = union(p.relations, inner.relations)
		p.functions = union(p.functions, inner.functions)
		p.settings = union(p.settings, inner.settings)
	}
	return p, ""
}

// unparsable refuses a string the parser rejects. It never reaches the
// database, and the client is answered as PostgreSQL would answer it: a
// syntax error (42601) with the parser's message and position, which
// editors and drivers point at.
func (s *pgSession) unparsable(err error) pgwire.Verdict {
	v := s.deny(&statementDetail{Rule: "parse"}, "gatehouse: statement refused: gatehouse could not parse it ("+err.Error()+")")
	var pe *sqlclass.ParseError
	if errors.As(err, &pe) {
		v.Message, v.Code, v.Position = pe.Message, "42601", pe.Position
	}
	return v
}

func (s *pgSession) deny(d *statementDetail, msg string) pgwire.Verdict {
	d.Allow = false
	return pgwire.Verdict{Allow: false, Message: msg, Detail: d}
}

// wallBreach refuses changes to the settings that back the policy up:
// the read-only default, the statement timeout, and the two settings that
// would make PostgreSQL read SQL differently from gatehouse's parser. "*"
// is a setting whose name is not known (set_config with a computed name,
// or SQL text given to query_to_xml or ts_stat that is not a constant).
func (s *pgSession) wallBreach(settings []string) string {
	if len(settings) == 0 {
		return "" // most statements: nothing to build the list for
	}
	guarded := []string{"standard_conforming_strings", "client_encoding"}
	if s.readOnly {
		// RESET ALL and DISCARD ALL are fine: they return to the values
		// the session started with, which include the read-only default.
		guarded = append(guarded, "default_transaction_read_only", "transaction_read_only")
	}
	if sp, ok := s.p.cfg.Policy.Statements[s.policyName]; ok && sp.StatementTimeout > 0 {
		guarded = append(guarded, "statement_timeout")
	}
	for _, name := range settings {
		if name == sqlclass.SettingUnknown || slices.Contains(guarded, name) {
			if name == sqlclass.SettingUnknown {
				name = "a setting gatehouse cannot name (set_config with a computed name, or SQL text gatehouse cannot read)"
			}
			return fmt.Sprintf("gatehouse: changing %s is not allowed in this session (statement policy %q)", name, s.policyName)
		}
	}
	return ""
}

// union is a with the entries of b it lacks. With a empty, as for every
// string of one statement, it is b itself when b repeats nothing: b is
// the classifier's answer, the caller's own, and is capped so that what
// is appended to the union later is copied, never written into b.
func union[T comparable](a, b []T) []T {
	if len(a) == 0 && distinct(b) {
		return slices.Clip(b)
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

// distinct says whether no entry of s repeats.
func distinct[T comparable](s []T) bool {
	for i, x := range s {
		if slices.Contains(s[:i], x) {
			return false
		}
	}
	return true
}
