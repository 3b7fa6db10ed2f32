package console

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// Link is what a single-use link for an external auditor grants: a
// console session as Identity, limited to the sessions that started in
// [From, To) (a zero bound is open) on Targets (none: any target).
type Link struct {
	Identity string    `json:"identity"`
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to,omitzero"`
	Targets  []string  `json:"targets,omitempty"`
	Expires  time.Time `json:"expires"`
	MintedBy string    `json:"minted_by"`
	Minted   time.Time `json:"minted"`
}

// Allows says whether the session s is inside the link's scope. An
// unreadable session (no start, no targets) is not.
func (l Link) Allows(s recorder.Summary) bool {
	if s.Start.IsZero() || (!l.From.IsZero() && s.Start.Before(l.From)) || (!l.To.IsZero() && !s.Start.Before(l.To)) {
		return false
	}
	if len(l.Targets) == 0 {
		return true
	}
	if len(s.Targets) == 0 {
		return false
	}
	for _, t := range s.Targets {
		if !slices.Contains(l.Targets, t) {
			return false
		}
	}
	return true
}

// ScopeText says which sessions the link shows, for reading.
func (l Link) ScopeText() string {
	from, to, targets := "any time", "now", "every target"
	if !l.From.IsZero() {
		from = utc(l.From)
	}
	if !l.To.IsZero() {
		to = utc(l.To)
	}
	if len(l.Targets) > 0 {
		targets = strings.Join(l.Targets, ", ")
	}
	return "from " + from + " to " + to + " on " + targets
}

// LinkStore keeps minted links in Dir, one file per link named by the
// SHA-256 of its token (the token itself is never stored). Files are
// written whole through privatefile, so that the CLI can mint while a
// console runs and a console restart keeps unused links valid. A link
// is used by renaming its file, which only one exchange can do.
type LinkStore struct {
	Dir string
	// Clock, if nil, is time.Now.
	Clock func() time.Time
}

// maxLinkFile bounds a link file read back.
const maxLinkFile = 64 << 10

// Errors of Exchange, for the record.
var (
	ErrLinkUnknown = errors.New("unknown link")
	ErrLinkUsed    = errors.New("the link was already used")
	ErrLinkExpired = errors.New("the link has expired")
)

// Mint stores l and returns its token: 256 random bits, URL-safe.
// record, unless nil, is called with the link's LinkRef before the link
// is stored; its error stores nothing, so that no link exists whose
// minting was not recorded.
func (s LinkStore) Mint(l Link, record func(ref string) error) (string, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", fmt.Errorf("console: link store %s: %w", s.Dir, err)
	}
	data, err := json.Marshal(l)
	if err != nil {
		return "", fmt.Errorf("console: encode link: %w", err)
	}
	token := randomToken()
	if record != nil {
		if err := record(LinkRef(token)); err != nil {
			return "", fmt.Errorf("console: record the link's minting: %w", err)
		}
	}
	if err := privatefile.Create(s.path(token), data); err != nil {
		return "", fmt.Errorf("console: store link: %w", err)
	}
	return token, nil
}

// Exchange uses the link of token, once: of concurrent exchanges of one
// token, only the one that renames its file gets the link.
func (s LinkStore) Exchange(token string) (Link, error) {
	if len(token) != 43 {
		return Link{}, ErrLinkUnknown
	}
	path := s.path(token)
	data, err := privatefile.Read(path, maxLinkFile)
	if errors.Is(err, fs.ErrNotExist) {
		if _, used := os.Stat(path + ".used"); used == nil {
			return Link{}, ErrLinkUsed
		}
		return Link{}, ErrLinkUnknown
	}
	if err != nil {
		return Link{}, fmt.Errorf("console: read link: %w", err)
	}
	var l Link
	if err := json.Unmarshal(data, &l); err != nil {
		return Link{}, fmt.Errorf("console: decode link %s: %w", LinkRef(token), err)
	}
	// rename(2) is atomic: of exchanges racing here, one moves the file
	// and the others find it gone.
	if err := os.Rename(path, path+".used"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Link{}, ErrLinkUsed
		}
		return Link{}, fmt.Errorf("console: use link: %w", err)
	}
	if !s.now().Before(l.Expires) {
		return l, ErrLinkExpired
	}
	return l, nil
}

func (s LinkStore) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock()
}

func (s LinkStore) path(token string) string {
	sum := sha256.Sum256([]byte(token))
	return filepath.Join(s.Dir, hex.EncodeToString(sum[:]))
}

// LinkRef names a link in the records without giving away its token:
// the first 16 bytes of the SHA-256 of the token, hex.
func LinkRef(token string) string { return sessionRef(token) }
