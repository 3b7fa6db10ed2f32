package ca

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// The CA's state is what it keeps besides its keys: access requests and
// their decisions, the certificates it issued (for revocation by
// identity), and the revocation list. One machine keeps it in files in
// data_dir (RequestStore, the recordings through IssuedIndex,
// RevocationList); replicas share it in PostgreSQL (ca/pgstate). The
// interfaces below are what the CA uses of it; each file type satisfies
// its interface unchanged.

// AccessRequests is where access requests are kept. Every method may fail
// when the store cannot be reached; the CA then refuses what needed it.
type AccessRequests interface {
	// Get returns the request with id; false when there is none.
	Get(id string) (AccessRequest, bool, error)
	// All returns every request kept, oldest first.
	All() ([]AccessRequest, error)
	// Approved returns requester's approved requests whose approval
	// lasts past now, newest approval first.
	Approved(requester policy.Identity, now time.Time) ([]AccessRequest, error)
	// Add keeps the new pending request r, and may drop requests decided
	// and done with for longer than RequestHistory before now. commit
	// records the step: when it fails, nothing is kept.
	Add(r AccessRequest, now time.Time, commit func() error) error
	// Decide replaces the pending request r.ID with r (decided), unless
	// it is no longer pending: then it returns an error wrapping
	// ErrDecided. commit records the decision: when it fails, the
	// request stays pending. Of two Decides of one request at once, on
	// any replica, one wins.
	Decide(r AccessRequest, commit func() error) error
}

// IssuedLog is where the CA also keeps the certificates it issues when
// replicas share state: every replica's revocations by identity and by
// an engineer's serial must see every replica's issuances. nil (one
// machine): the CA's recordings are the only record, read through
// IssuedIndex.
type IssuedLog interface {
	// Add keeps e before the certificate is returned; an error refuses
	// the issuance.
	Add(e IssuedEvent) error
}

// IssuedRecord is the CA's record of the certificates it issued, as
// revocation reads it: an IssuedIndex over the recordings, or the shared
// state's issued certificates.
type IssuedRecord interface {
	All() ([]IssuedEvent, error)
}

// RevocationWriter adds entries to the revocation list that every
// bastion of this gatehouse enforces: the file in data_dir, or the shared
// state, which tells every replica at once.
type RevocationWriter interface {
	Append(rs ...Revocation) error
	// Where names the list for operators ("data_dir/revocations.json",
	// "the shared state database").
	Where() string
}

// RequestHistory is how long decided requests are kept after their
// approval ended or their denial: the CA's record keeps every step for
// good, the store only what `gatehouse requests` and issuance need.
const RequestHistory = 30 * 24 * time.Hour

// ErrDecided is wrapped by AccessRequests.Decide when the request was
// decided meanwhile (by another approver, on this replica or another).
var ErrDecided = errors.New("the access request is no longer pending")

// ErrStateUnavailable is wrapped by a shared state store's errors when
// its database cannot be reached or fails.
var ErrStateUnavailable = errors.New("the shared state database is unavailable")

// stateError is the refusal for a step that needed the state store and
// could not reach it: the client is told why and what fixes it; the
// cause goes to the server log.
func stateError(step string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if !errors.Is(err, ErrStateUnavailable) {
		return asError(err)
	}
	msg := fmt.Sprintf("%s was refused: gatehouse's shared state database (state.store: postgres) is unreachable, and issuance and access-request decisions need it; "+
		"nothing was changed. The operator must bring the database named by state.dsn_env back; this server recovers on its own when it is", step)
	return &Error{Code: caapi.CodeInternal, Status: http.StatusServiceUnavailable, Message: msg, Err: err}
}
