package login

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"golang.org/x/crypto/ssh"
)

// ErrNotLoggedIn is returned when a profile holds no certificate.
var ErrNotLoggedIn = errors.New("not logged in: run gatehouse login")

// Status describes the certificate of a profile.
type Status struct {
	Profile         string
	CertificateFile string
	KeyID           string
	// Identity is the identity@gatehouse extension; zero when the
	// certificate has none.
	Identity    policy.Identity
	Principals  []string
	ValidAfter  time.Time
	ValidBefore time.Time // zero for a certificate that never expires
	Serial      uint64
	Remaining   time.Duration // until ValidBefore; negative once expired
	Expired     bool
	NotYetValid bool   // ValidAfter is still ahead
	Server      string // from profile.json; "" when unknown
	// Revoked is set by CheckRevocation, when RevocationChecked.
	Revoked           bool
	RevocationChecked bool

	cert *ssh.Certificate
}

// ReadStatus reads the certificate of a profile and judges it at now. home
// "" means the user's home directory; profile "" means "default". An absent
// certificate is ErrNotLoggedIn.
func ReadStatus(home, profile string, now time.Time) (*Status, error) {
	dir, err := statusDir(home, profile)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, certFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notLoggedIn(profile)
	}
	if err != nil {
		return nil, fmt.Errorf("login: read certificate: %w", err)
	}
	cert, err := parseCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st, err := statusFromCert(cert, serverFromProfile(dir), now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st.Profile, st.CertificateFile = filepath.Base(dir), path
	return st, nil
}

func notLoggedIn(profile string) error {
	if profile == "" || profile == DefaultProfile {
		return ErrNotLoggedIn
	}
	return fmt.Errorf("profile %s: %w --profile %s", profile, ErrNotLoggedIn, profile)
}

// statusDir resolves the directory of a profile the way Login does.
func statusDir(home, profile string) (string, error) {
	profile, err := resolveProfile(profile)
	if err != nil {
		return "", err
	}
	home, err = resolveHome(home)
	if err != nil {
		return "", err
	}
	return profileDir(home, profile), nil
}

// statusFromCert judges a certificate at now. The returned Status is
// complete but for Identity when the error is non-nil.
func statusFromCert(cert *ssh.Certificate, server string, now time.Time) (*Status, error) {
	st := &Status{
		cert:        cert,
		KeyID:       cert.KeyId,
		Principals:  cert.ValidPrincipals,
		ValidAfter:  certTime(cert.ValidAfter),
		ValidBefore: certTime(cert.ValidBefore),
		Serial:      cert.Serial,
		Server:      server,
	}
	if st.ValidBefore.IsZero() {
		st.Remaining = math.MaxInt64
	} else {
		st.Remaining = st.ValidBefore.Sub(now)
		st.Expired = !now.Before(st.ValidBefore)
	}
	st.NotYetValid = now.Before(st.ValidAfter)
	ext, ok := cert.Extensions[policy.IdentityExtension]
	if !ok {
		return st, nil
	}
	id, err := policy.DecodeIdentity(ext)
	if err != nil {
		return st, err
	}
	st.Identity = id
	return st, nil
}

// String renders the status for people, one fact per line.
func (s *Status) String() string {
	var b strings.Builder
	line := func(k, v string) { field(&b, k, v) }
	line("identity", s.name())
	if id := s.Identity; id.Subject != "" {
		line("subject", id.Subject+" at "+id.Issuer)
		if len(id.Groups) > 0 {
			line("groups", strings.Join(id.Groups, ", "))
		}
		s.delegation(line)
	}
	line("grants", orNone(s.Principals))
	line("serial", fmt.Sprint(s.Serial))
	line("validity", s.validity())
	line("revoked", s.revocation())
	if s.Server != "" {
		line("server", s.Server)
	}
	return b.String()
}

// delegation adds the lines of an agent certificate: who delegated, and
// the run and ticket it was minted for.
func (s *Status) delegation(line func(k, v string)) {
	id := s.Identity
	if id.Agent == "" {
		return
	}
	by := id.DelegatedBy
	if id.DelegatedBySerial != 0 {
		by += fmt.Sprintf(" (certificate serial %d)", id.DelegatedBySerial)
	}
	line("agent", id.Agent+", delegated by "+by)
	if id.RunID != "" {
		line("run", id.RunID)
	}
	if id.TicketID != "" {
		line("ticket", id.TicketID)
	}
}

func (s *Status) name() string {
	if s.KeyID != "" {
		return s.KeyID
	}
	if n := s.Identity.Name(); n != "" {
		return n
	}
	return "(unnamed certificate)"
}

// validity says how long is left, or how long ago it ended.
func (s *Status) validity() string {
	switch {
	case s.ValidBefore.IsZero():
		return "never expires"
	case s.Expired:
		return fmt.Sprintf("expired %s ago — run gatehouse login", humanDuration(-s.Remaining))
	case s.NotYetValid:
		return fmt.Sprintf("not valid before %s", s.ValidAfter.Format(time.DateTime+" MST"))
	}
	return fmt.Sprintf("%s left, until %s", humanDuration(s.Remaining), s.ValidBefore.Format(time.DateTime+" MST"))
}

// field writes one aligned "key: value" line.
func field(w io.Writer, k, v string) { fmt.Fprintf(w, "%-9s %s\n", k+":", v) }

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "(none)"
	}
	return strings.Join(ss, ", ")
}

// humanDuration renders 42s, 59m, 1h5m or 3d4h.
func humanDuration(d time.Duration) string {
	if d < time.Minute-time.Second/2 {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return trimZero(fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute)))
	}
	d = d.Round(time.Hour)
	return trimZero(fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)))
}

// trimZero drops a zero last unit: 2h0m → 2h.
func trimZero(s string) string {
	if strings.HasSuffix(s, "h0m") || strings.HasSuffix(s, "d0h") {
		return s[:len(s)-2]
	}
	return s
}
