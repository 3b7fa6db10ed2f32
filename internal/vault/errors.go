package vault

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Error is a request Vault refused or could not answer. Fix says what the
// operator changes, in Vault or in gatehouse's configuration.
type Error struct {
	Op      string   // what gatehouse was doing, e.g. "sign a user certificate with ssh/sign/gatehouse"
	Status  int      // Vault's HTTP status; 0 when Vault was not reached
	Reasons []string // Vault's own messages
	Fix     string
	Err     error // the underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vault: %s: ", e.Op)
	if len(e.Reasons) > 0 {
		b.WriteString(strings.Join(e.Reasons, "; "))
	} else {
		b.WriteString(e.Err.Error())
	}
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Unreachable reports whether Vault did not answer at all.
func (e *Error) Unreachable() bool { return e.Status == 0 }

// A fixer recognises one of Vault's refusals by its message and says what
// to change. The messages are Vault 1.21's (builtin/logical/ssh
// path_issue_sign.go, the database engine, the token store).
type fixer struct {
	re  *regexp.Regexp
	fix func(op, addr string, m []string) string
}

var fixers = []fixer{
	{regexp.MustCompile(`ttl is larger than maximum allowed (\d+)`), func(op, _ string, m []string) string {
		return fmt.Sprintf("the Vault role's max_ttl is %ss: raise it with `vault write %s max_ttl=...` to at least gatehouse's ca.max_ttl, or lower ca.max_ttl", m[1], rolePath(op))
	}},
	{regexp.MustCompile(`extensions \[(.*)\] are not on allowed list`), func(op, _ string, m []string) string {
		return fmt.Sprintf("add %s to allowed_extensions of the Vault role: `vault write %s allowed_extensions=permit-port-forwarding,identity@gatehouse ...` (docs/vault.md)", m[1], rolePath(op))
	}},
	{regexp.MustCompile(`setting key_id is not allowed by role`), func(op, _ string, _ []string) string {
		return fmt.Sprintf("gatehouse sets each certificate's key id to the identity: `vault write %s allow_user_key_ids=true ...`", rolePath(op))
	}},
	{regexp.MustCompile(`cert_type '(user|host)' is not allowed by role`), func(op, _ string, m []string) string {
		return fmt.Sprintf("the Vault role must allow %s certificates: `vault write %s allow_%s_certificates=true ...`", m[1], rolePath(op), m[1])
	}},
	{regexp.MustCompile(`(?i)unknown role: (\S+)`), func(op, _ string, m []string) string {
		return fmt.Sprintf("Vault has no role %q at that mount: create it (docs/vault.md) or correct the role in gatehouse's configuration", m[1])
	}},
	{regexp.MustCompile(`is not a valid value for valid_principals`), func(op, _ string, _ []string) string {
		return fmt.Sprintf("gatehouse's principals are TARGET:ROLE grants: set allowed_users=\"*\" on %s", rolePath(op))
	}},
	{regexp.MustCompile(`invalid token`), func(_, addr string, _ []string) string {
		return "gatehouse's Vault token is expired or revoked: give it a new token (token_env, token_file) or check its AppRole; docs/vault.md"
	}},
	{regexp.MustCompile(`permission denied`), func(op, _ string, _ []string) string {
		return fmt.Sprintf("gatehouse's Vault token lacks a policy for this path: add the gatehouse policy of docs/vault.md to it (%s)", op)
	}},
}

// explain turns an error from the Vault client into an *Error for op.
func explain(op, addr string, err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return &Error{Op: op, Err: err, Fix: fmt.Sprintf("Vault at %s did not answer; check that it is running, unsealed and reachable from the bastion", addr)}
	}
	e := &Error{Op: op, Status: re.StatusCode, Reasons: re.Errors, Err: err}
	text := strings.Join(re.Errors, " ")
	for _, f := range fixers {
		if m := f.re.FindStringSubmatch(text); m != nil {
			e.Fix = f.fix(op, addr, m)
			return e
		}
	}
	if re.StatusCode == http.StatusServiceUnavailable {
		e.Fix = "Vault is sealed or in standby; unseal it or point gatehouse at the active node"
	}
	return e
}

// rolePath is the role's configuration path named in op ("…ssh/sign/ROLE"
// → "ssh/roles/ROLE"), for the commands in fixes.
func rolePath(op string) string {
	if i := strings.LastIndex(op, "/sign/"); i >= 0 {
		start := strings.LastIndex(op[:i], " ") + 1
		return op[start:i] + "/roles/" + op[i+len("/sign/"):]
	}
	return "the role"
}
