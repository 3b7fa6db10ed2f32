package policy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&c.SSH.Listen, "0.0.0.0:2222")
	def(&c.SSH.HostKey, "host_ed25519")
	defDur(&c.SSH.HandshakeTimeout, 30*time.Second)
	defDur(&c.SSH.IdleTimeout, 30*time.Minute)
	defDur(&c.SSH.DrainTimeout, DefaultDrainTimeout)
	if c.SSH.ClockSkew == nil {
		skew := Duration(time.Minute)
		c.SSH.ClockSkew = &skew
	}
	if c.SSH.MaxAuthAttemptsPerMinute == 0 {
		c.SSH.MaxAuthAttemptsPerMinute = DefaultMaxAuthAttemptsPerMinute
	}
	if c.SSH.MaxUnauthenticated == 0 {
		c.SSH.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	if c.CA.MaxFailedRequestsPerMinute == 0 {
		c.CA.MaxFailedRequestsPerMinute = DefaultMaxFailedRequestsPerMinute
	}
	def(&c.CA.Listen, "127.0.0.1:8443")
	if v := c.CA.Signer.Vault; v == nil {
		def(&c.CA.Signer.File, "ca_ed25519")
	} else {
		v.applyDefaults()
		v.VaultConnection.applyDefaults()
	}
	if c.Vault != nil {
		c.Vault.applyDefaults()
	}
	def(&c.CA.Signer.HostFile, "host_ca_ed25519")
	defDur(&c.CA.MaxTTL, time.Hour)
	defDur(&c.CA.AgentMaxTTL, 30*time.Minute)
	if o := c.Identity.OIDC; o != nil {
		def(&o.GroupsClaim, "groups")
		if len(o.Scopes) == 0 {
			o.Scopes = []string{"openid", "email", "profile", "groups"}
		}
	}
	c.Console.applyDefaults(c.Identity.OIDC)
	c.State.applyDefaults()
	def(&c.Recording.Store, "file")
	def(&c.Recording.Dir, "recordings")
	if c.Recording.FailClosed == nil {
		t := true
		c.Recording.FailClosed = &t
	}
	for _, t := range c.Targets {
		if t != nil {
			def(&t.TLS, "disable")
		}
	}
	for name, m := range c.Masking {
		if m.OnDerived == "" {
			m.OnDerived = DerivedMask
		}
		c.Masking[name] = m
	}
}

// Validate checks the configuration as a whole and returns every problem
// found, each naming the field at fault.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		add("data_dir: required (where keys, the spool and state live)")
	}
	for _, f := range []struct{ name, addr string }{{"ssh.listen", c.SSH.Listen}, {"ca.listen", c.CA.Listen}} {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			add("%s: %q is not host:port", f.name, f.addr)
		}
	}
	if c.SSH.MaxAuthAttemptsPerMinute < 0 || c.SSH.MaxUnauthenticated < 0 || c.CA.MaxFailedRequestsPerMinute < 0 {
		add("ssh.max_auth_attempts_per_minute, ssh.max_unauthenticated_connections, ca.max_failed_requests_per_minute: must be positive (there is no unlimited)")
	}
	errs = append(errs, c.validateVault()...)
	if skew := c.SSH.ClockSkew; skew != nil && skew.D() > MaxClockSkew {
		add("ssh.clock_skew: %s is over the limit of %s (how early a certificate is accepted before its start; nothing is allowed after its end)", skew.D(), MaxClockSkew)
	}
	if c.CA.AgentMaxTTL > c.CA.MaxTTL {
		add("ca.agent_max_ttl (%s) must not exceed ca.max_ttl (%s)", c.CA.AgentMaxTTL.D(), c.CA.MaxTTL.D())
	}
	if o := c.Identity.OIDC; o != nil && (o.Issuer == "" || o.ClientID == "") {
		add("identity.oidc: issuer and client_id are both required")
	}
	errs = append(errs, c.validateTargets()...)
	errs = append(errs, c.validateGrants()...)
	errs = append(errs, c.validateRules()...)
	errs = append(errs, c.validateRecording()...)
	errs = append(errs, c.Console.validate()...)
	errs = append(errs, c.State.validate()...)
	errs = append(errs, c.Ops.validate()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

func (c *Config) validateTargets() []error {
	var errs []error
	for _, name := range sortedKeys(c.Targets) {
		t := c.Targets[name]
		at := "targets." + name
		switch {
		case !validName(name):
			errs = append(errs, fmt.Errorf("%s: target names use a-z, 0-9, '-' and '_' and start with a letter (they are not hostnames)", at))
			continue
		case t == nil:
			errs = append(errs, fmt.Errorf("%s: empty target", at))
			continue
		}
		if t.Protocol != "postgres" && t.Protocol != "tcp" {
			errs = append(errs, fmt.Errorf("%s.protocol: %q, want postgres or tcp", at, t.Protocol))
		}
		if t.Port() == 0 {
			errs = append(errs, fmt.Errorf("%s.address: %q is not host:port", at, t.Address))
		}
		if !slices.Contains([]string{"disable", "require", "verify-full"}, t.TLS) {
			errs = append(errs, fmt.Errorf("%s.tls: %q, want disable, require or verify-full", at, t.TLS))
		}
		if len(t.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s.roles: at least one role is required (grants name TARGET:ROLE)", at))
		}
		if t.MaxSessions < 0 || t.MaxSessionsPerCertificate < 0 {
			errs = append(errs, fmt.Errorf("%s: max_sessions and max_sessions_per_certificate must not be negative (0 means the default)", at))
		}
		for _, rn := range sortedKeys(t.Roles) {
			errs = append(errs, c.validateRole(at+".roles."+rn, rn, t.Roles[rn])...)
		}
	}
	return errs
}

func (c *Config) validateRole(at, name string, r *Role) []error {
	var errs []error
	if !validName(name) {
		errs = append(errs, fmt.Errorf("%s: role names use a-z, 0-9, '-' and '_' and start with a letter", at))
	}
	if r == nil {
		return append(errs, fmt.Errorf("%s: empty role", at))
	}
	cr := r.Credentials
	if cr.PasswordEnv != "" && cr.PasswordFile != "" {
		errs = append(errs, fmt.Errorf("%s.credentials: set one of password_env and password_file", at))
	}
	refs := []struct {
		field, name string
		ok          bool
	}{
		{"statements", r.Statements, hasKey(c.Statements, r.Statements)},
		{"agent_statements", r.AgentStatements, hasKey(c.Statements, r.AgentStatements)},
		{"masking", r.Masking, hasKey(c.Masking, r.Masking)},
		{"agent_masking", r.AgentMasking, hasKey(c.Masking, r.AgentMasking)},
	}
	for _, ref := range refs {
		if ref.name != "" && !ref.ok {
			errs = append(errs, fmt.Errorf("%s.%s: no policy named %q", at, ref.field, ref.name))
		}
	}
	return errs
}

func (c *Config) validateGrants() []error {
	var errs []error
	for i, g := range c.Grants {
		at := fmt.Sprintf("grants[%d]", i)
		if len(g.Groups) == 0 {
			errs = append(errs, fmt.Errorf("%s.groups: at least one group is required", at))
		}
		if a := g.RequiresApproval; a != nil {
			if len(a.Approvers) == 0 {
				errs = append(errs, fmt.Errorf("%s.requires_approval.approvers: at least one group is required", at))
			}
			for _, ap := range a.Approvers {
				if strings.TrimSpace(ap) == "" {
					errs = append(errs, fmt.Errorf("%s.requires_approval.approvers: an empty group name", at))
				}
			}
			if a.MaxTTL <= 0 {
				errs = append(errs, fmt.Errorf("%s.requires_approval.max_ttl: a positive duration is required (how long an approval lasts, e.g. 30m)", at))
			}
		}
		for _, s := range g.Allow {
			p, err := ParsePrincipal(s)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s.allow: %w", at, err))
			case !c.HasPrincipal(p):
				errs = append(errs, fmt.Errorf("%s.allow: %q names no configured target and role", at, s))
			}
		}
	}
	return errs
}

func (c *Config) validateRules() []error {
	var errs []error
	for _, name := range sortedKeys(c.Statements) {
		sp := c.Statements[name]
		for _, k := range append(slices.Clone(sp.Allow), sp.Deny...) {
			if !slices.Contains(StatementKinds, k) {
				errs = append(errs, fmt.Errorf("statements.%s: unknown statement kind %q (known: %s)", name, k, strings.Join(sqlkind.Strings(StatementKinds), ", ")))
			}
		}
	}
	for _, name := range sortedKeys(c.Masking) {
		m := c.Masking[name]
		for _, col := range sortedKeys(m.Columns) {
			if fn := m.Columns[col]; !slices.Contains(MaskFunctions, fn) {
				errs = append(errs, fmt.Errorf("masking.%s.columns.%s: unknown mask %q (known: %s)", name, col, fn, strings.Join(MaskFunctions, ", ")))
			}
			if strings.Count(col, ".") != 2 {
				errs = append(errs, fmt.Errorf("masking.%s.columns: %q, want SCHEMA.TABLE.COLUMN", name, col))
			}
		}
		if m.OnDerived != DerivedMask && m.OnDerived != DerivedDeny {
			errs = append(errs, fmt.Errorf("masking.%s.on_derived: %q, want mask or deny", name, m.OnDerived))
		}
		for _, d := range m.Detectors {
			if !slices.Contains(Detectors, d) {
				errs = append(errs, fmt.Errorf("masking.%s.detectors: unknown detector %q (known: %s)", name, d, strings.Join(Detectors, ", ")))
			}
		}
	}
	return errs
}

func (c *Config) validateRecording() []error {
	if c.Recording.SpoolMaxBytes < 0 {
		return []error{errors.New("recording.spool_max_bytes: must not be negative (0 means the default, 1 GiB)")}
	}
	var errs []error
	if err := c.Recording.validateKeepUploaded(); err != nil {
		errs = append(errs, err)
	}
	if g := c.Recording.UploadGrace; g != nil && *g < 0 {
		errs = append(errs, fmt.Errorf("recording.upload_grace: %s must not be negative (0 counts a session missing as soon as the bucket lacks it)", g.D()))
	}
	if w := c.Recording.DecisionSyncWindow.D(); w < 0 || w > MaxDecisionSyncWindow {
		errs = append(errs, fmt.Errorf("recording.decision_sync_window: %s, want 0 (each statement waits for its decision's fsync) up to %s", w, MaxDecisionSyncWindow))
	}
	errs = append(errs, c.Recording.validateTrustedKeys()...)
	return append(errs, c.Recording.validateStore()...)
}

func (r RecordingConfig) validateStore() []error {
	switch r.Store {
	case "file":
		return nil
	case "s3":
		return r.S3.validate()
	case "discard":
		if os.Getenv(DiscardRecordingsEnv) != "1" {
			return []error{fmt.Errorf("recording.store: discard keeps no recordings and is for benchmarks only; "+
				"it is accepted only with %s=1 in the environment (docs/benchmarks.md). For a server, use file or s3", DiscardRecordingsEnv)}
		}
		return nil
	default:
		return []error{fmt.Errorf("recording.store: %q, want file or s3", r.Store)}
	}
}

// validateKeepUploaded refuses spool_keep_uploaded where it would mean
// nothing, rather than let an operator believe the disk is looked after.
func (r RecordingConfig) validateKeepUploaded() error {
	keep := r.SpoolKeepUploaded
	switch {
	case keep == nil:
		return nil
	case *keep < 0:
		return fmt.Errorf("recording.spool_keep_uploaded: %s must not be negative (it is how long an uploaded stream stays in the spool; 0 removes it soon after its upload)", keep.D())
	case r.Store == "file":
		return errors.New("recording.spool_keep_uploaded: only for store s3, where it says how long uploaded streams stay in the local spool; " +
			"with store file the directory is the store itself and nothing is ever removed from it")
	case r.Store == "discard":
		return errors.New("recording.spool_keep_uploaded: only for store s3; store discard writes nothing to remove")
	}
	return nil
}

// DiscardRecordingsEnv must be 1 for recording.store: discard to be
// accepted. The store records nothing, so it is not a configuration
// choice alone: a configuration file copied from a benchmark to a server
// is refused there unless whoever starts the server also sets this
// deliberately named variable (and serve logs an error on every start).
const DiscardRecordingsEnv = "GATEHOUSE_BENCHMARK_ONLY_DISCARD_RECORDINGS"

// validate checks the S3 store's settings; the endpoint's form is
// host[:port] (HTTPS) or http(s)://host[:port].
func (s S3Config) validate() []error {
	var errs []error
	required := []struct{ name, value string }{
		{"endpoint", s.Endpoint}, {"bucket", s.Bucket}, {"access_key_env", s.AccessKeyEnv}, {"secret_key_env", s.SecretKeyEnv},
	}
	for _, r := range required {
		if strings.TrimSpace(r.value) == "" {
			errs = append(errs, fmt.Errorf("recording.s3.%s is required with store s3", r.name))
		}
	}
	if s.Endpoint != "" {
		if err := checkS3Endpoint(s.Endpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Retention.D() <= 0 {
		errs = append(errs, errors.New("recording.s3.retention is required with store s3: how long each recording stays locked, e.g. 400d"))
	}
	if m := strings.ToLower(s.Mode); m != "compliance" && m != "governance" {
		errs = append(errs, fmt.Errorf("recording.s3.mode: %q, want compliance or governance (the Object Lock retention mode)", s.Mode))
	}
	return errs
}

func checkS3Endpoint(ep string) error {
	bad := fmt.Errorf("recording.s3.endpoint: %q, want host[:port] (HTTPS) or http(s)://host[:port]", ep)
	if !strings.Contains(ep, "://") {
		if strings.ContainsAny(ep, "/?# ") {
			return bad
		}
		return nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return bad
	}
	return nil
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
