package ca

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// States of an access request.
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestDenied   = "denied"
)

// requestsFormat is the version of the requests file.
const requestsFormat = 1

// maxRequestsFile bounds the requests file read at start.
const maxRequestsFile = 64 << 20

// maxReason bounds a request's or a denial's reason.
const maxReason = 1000

// AccessRequest is the wire form of an access request, which is also how the
// requests file keeps it.
type AccessRequest = caapi.AccessRequest

// recordedRequest is r as the workflow's events record it (event.RequestStep).
func recordedRequest(r AccessRequest) event.AccessRequest {
	return event.AccessRequest{ID: r.ID, State: r.State, Requester: event.Identity(r.Requester), Grant: r.Grant,
		Reason: r.Reason, TTL: r.TTL, FiledAt: r.FiledAt, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt,
		DecisionReason: r.DecisionReason, ExpiresAt: r.ExpiresAt}
}

type requestsDoc struct {
	Version  int             `json:"version"`
	Requests []AccessRequest `json:"requests"`
}

// RequestStore holds access requests in one JSON file in data_dir,
// replaced atomically on every change: the AccessRequests of
// state.store: file. One gatehouse server owns it.
type RequestStore struct {
	path string
	mu   sync.Mutex
	doc  requestsDoc
}

// OpenRequestStore reads the requests file at path; a missing file is
// an empty store.
func OpenRequestStore(path string) (*RequestStore, error) {
	s := &RequestStore{path: path, doc: requestsDoc{Version: requestsFormat}}
	data, err := privatefile.Read(path, maxRequestsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ca: read access requests: %w", err)
	}
	if err := json.Unmarshal(data, &s.doc); err != nil {
		return nil, fmt.Errorf("ca: %s: %w", path, err)
	}
	if s.doc.Version != requestsFormat {
		return nil, fmt.Errorf("ca: %s: version %d, want %d", path, s.doc.Version, requestsFormat)
	}
	return s, nil
}

// Path is the file the store lives in.
func (s *RequestStore) Path() string { return s.path }

// Get returns the request with id.
func (s *RequestStore) Get(id string) (AccessRequest, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(id)
	if i < 0 {
		return AccessRequest{}, false, nil
	}
	return s.doc.Requests[i], true, nil
}

// All returns every request, oldest first.
func (s *RequestStore) All() ([]AccessRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.doc.Requests), nil
}

// Approved returns the requester's approved requests whose approval
// lasts past now, newest approval first.
func (s *RequestStore) Approved(requester policy.Identity, now time.Time) ([]AccessRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AccessRequest
	for _, r := range s.doc.Requests {
		if r.State == RequestApproved && sameRequester(r.Requester, requester) && r.ExpiresAt.After(now) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].DecidedAt.After(out[j].DecidedAt) })
	return out, nil
}

// Add keeps the pending request r, dropping the requests decided and done
// with for longer than RequestHistory.
func (s *RequestStore) Add(r AccessRequest, now time.Time, commit func() error) error {
	return s.update(func(rs *[]AccessRequest) error {
		*rs = append(pruneDecided(*rs, now), r)
		return nil
	}, commit)
}

// Decide replaces the pending request r.ID with r.
func (s *RequestStore) Decide(r AccessRequest, commit func() error) error {
	return s.update(func(rs *[]AccessRequest) error {
		i := slices.IndexFunc(*rs, func(x AccessRequest) bool { return x.ID == r.ID })
		if i < 0 || (*rs)[i].State != RequestPending {
			return fmt.Errorf("ca: decide %s: %w", r.ID, ErrDecided)
		}
		(*rs)[i] = r
		return nil
	}, commit)
}

func (s *RequestStore) index(id string) int {
	return slices.IndexFunc(s.doc.Requests, func(r AccessRequest) bool { return r.ID == id })
}

// update applies change to a copy of the requests, writes it, then
// commits it with commit (which records the step); if commit fails, the
// file is put back as it was, so that no step happens unrecorded.
func (s *RequestStore) update(change func(*[]AccessRequest) error, commit func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.doc
	next := requestsDoc{Version: requestsFormat, Requests: slices.Clone(s.doc.Requests)}
	if err := change(&next.Requests); err != nil {
		return err
	}
	if err := s.write(next); err != nil {
		return asError(err)
	}
	if err := commit(); err != nil {
		if werr := s.write(before); werr != nil {
			err = errors.Join(err, werr)
		}
		return err
	}
	s.doc = next
	return nil
}

func (s *RequestStore) write(doc requestsDoc) error {
	doc.Version = requestsFormat
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("ca: encode access requests: %w", err)
	}
	return replaceFile(s.path, append(data, '\n'))
}

func sameRequester(a, b policy.Identity) bool {
	return a.Subject == b.Subject && a.Issuer == b.Issuer
}

// newRequestID is "req-" and 10 random hex digits.
func newRequestID() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ca: random request id: %w", err)
	}
	return "req-" + hex.EncodeToString(b[:]), nil
}

// requester is the part of a certificate's identity a request keeps.
func requester(id policy.Identity) policy.Identity {
	return policy.Identity{Subject: id.Subject, Email: id.Email, Issuer: id.Issuer, Groups: slices.Clone(id.Groups)}
}

// FileRequest files a request by who (established from their
// certificate) for grant, with a reason and an optional TTL (0: the
// approval's max_ttl). The requester must be in one of the groups of a
// grant of it that requires approval.
func (a *Authority) FileRequest(who policy.Identity, grant, reason string, ttl time.Duration) (AccessRequest, error) {
	r, err := a.fileRequest(who, grant, reason, ttl)
	if err != nil {
		return r, a.refuseRequest("file", r.ID, grant, &who, err)
	}
	return r, nil
}

func (a *Authority) fileRequest(who policy.Identity, grant, reason string, ttl time.Duration) (AccessRequest, error) {
	if a.Requests == nil {
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, "this gatehouse takes no access requests")
	}
	p, err := policy.ParsePrincipal(grant)
	if err != nil {
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, "--grant: "+err.Error())
	}
	grant = p.String()
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, "say why you need it (--reason TEXT)")
	case len(reason) > maxReason:
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the reason is over %d bytes", maxReason))
	case ttl < 0:
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, "ttl: negative")
	}
	if slices.Contains(a.Policy.EntitlementFor(who.Groups).Principals, grant) {
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, grant+" is already granted to your groups; `gatehouse login` gives it without a request")
	}
	if _, ok := a.Policy.RequestableFor(grant, who.Groups); !ok {
		return AccessRequest{}, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf(
			"no grant that requires approval gives %s to your groups (%s); ask an operator", grant, listOrNone(who.Groups)))
	}
	id, err := newRequestID()
	if err != nil {
		return AccessRequest{}, asError(err)
	}
	r := AccessRequest{ID: id, State: RequestPending, Requester: requester(who), Grant: grant, Reason: reason, FiledAt: a.now().UTC()}
	if ttl > 0 {
		r.TTL = ttl.String()
	}
	err = a.Requests.Add(r, a.now(), func() error { return a.recordRequest(event.TypeRequestFiled, r, who) })
	if err != nil {
		return r, stateError("filing the access request", err)
	}
	return r, nil
}

// pruneDecided drops the requests decided and done with for longer than
// RequestHistory; pending ones and live approvals stay.
func pruneDecided(rs []AccessRequest, now time.Time) []AccessRequest {
	return slices.DeleteFunc(rs, func(r AccessRequest) bool {
		switch r.State {
		case RequestApproved:
			return now.Sub(r.ExpiresAt) > RequestHistory
		case RequestDenied:
			return now.Sub(r.DecidedAt) > RequestHistory
		}
		return false
	})
}

// Decide approves (approve true) or denies a pending request on the
// authority of who, a member of one of the approvers of its grant who is
// not its requester. An approval lasts the smaller of the requested TTL
// and requires_approval.max_ttl, from now.
func (a *Authority) Decide(who policy.Identity, id string, approve bool, reason string) (AccessRequest, error) {
	r, err := a.decide(who, id, approve, reason)
	if err != nil {
		action := "deny"
		if approve {
			action = "approve"
		}
		return r, a.refuseRequest(action, id, r.Grant, &who, err)
	}
	return r, nil
}

func (a *Authority) decide(who policy.Identity, id string, approve bool, reason string) (AccessRequest, error) {
	if a.Requests == nil {
		return AccessRequest{}, refusal(caapi.CodeInvalidRequest, "this gatehouse takes no access requests")
	}
	r, ok, err := a.Requests.Get(id)
	if err != nil {
		return r, stateError("deciding the access request", err)
	}
	if !ok {
		return AccessRequest{}, &Error{Code: caapi.CodeInvalidRequest, Status: 404, Message: fmt.Sprintf("no access request %q", id)}
	}
	reason = strings.TrimSpace(reason)
	switch {
	case !approve && reason == "":
		return r, refusal(caapi.CodeInvalidRequest, "say why it is denied (--reason TEXT)")
	case len(reason) > maxReason:
		return r, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the reason is over %d bytes", maxReason))
	case sameRequester(r.Requester, who):
		return r, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf("%s is your own request: nobody decides their own; ask another approver", id))
	case r.State != RequestPending:
		return r, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("%s is already %s", id, r.State))
	}
	rq, ok := a.Policy.RequestableFor(r.Grant, r.Requester.Groups)
	if !ok {
		return r, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf("%s no longer requires approval, or is no longer granted to the requester's groups", r.Grant))
	}
	if !rq.IsApprover(who.Groups) {
		return r, refusal(caapi.CodeGrantNotAllowed, fmt.Sprintf("approving %s takes membership of %s; your groups are %s",
			r.Grant, strings.Join(rq.Approvers, " or "), listOrNone(who.Groups)))
	}
	now := a.now().UTC()
	r.DecidedBy, r.DecidedAt, r.DecisionReason = who.Name(), now, reason
	typ := event.TypeRequestDenied
	r.State = RequestDenied
	if approve {
		typ, r.State = event.TypeRequestApproved, RequestApproved
		life := rq.MaxTTL
		if asked, err := policy.ParseDuration(r.TTL); err == nil && asked > 0 && asked < life {
			life = asked
		}
		r.ExpiresAt = now.Add(life)
	}
	err = a.Requests.Decide(r, func() error { return a.recordRequest(typ, r, who) })
	switch {
	case errors.Is(err, ErrDecided):
		return r, refusal(caapi.CodeInvalidRequest, fmt.Sprintf("%s was decided meanwhile", id))
	case err != nil:
		return r, stateError("deciding the access request", err)
	}
	return r, nil
}

// PendingFor lists the pending requests who filed or may decide.
func (a *Authority) PendingFor(who policy.Identity) ([]AccessRequest, error) {
	if a.Requests == nil {
		return nil, nil
	}
	all, err := a.Requests.All()
	if err != nil {
		return nil, stateError("listing access requests", err)
	}
	var out []AccessRequest
	for _, r := range all {
		if r.State != RequestPending {
			continue
		}
		rq, ok := a.Policy.RequestableFor(r.Grant, r.Requester.Groups)
		if sameRequester(r.Requester, who) || (ok && rq.IsApprover(who.Groups)) {
			out = append(out, r)
		}
	}
	return out, nil
}

// recordRequest emits a step of the workflow; an error means the step
// must not happen (it would be unrecorded).
func (a *Authority) recordRequest(typ event.Type, r AccessRequest, by policy.Identity) error {
	if a.Record == nil {
		return asError(errors.New("ca: authority has no Record"))
	}
	if err := a.Record.Emit(typ, event.RequestStep{Request: recordedRequest(r), By: event.Identity(by)}); err != nil {
		return &Error{Code: caapi.CodeInternal, Status: statusFor(caapi.CodeInternal), Err: err,
			Message: "the step could not be recorded, so it was not taken; try again, and tell the operator if it persists"}
	}
	return nil
}

// refuseRequest records a refused step and returns the error for the
// caller.
func (a *Authority) refuseRequest(action, id, grant string, by *policy.Identity, err error) error {
	e := asError(err)
	ev := event.AccessRequestRefused{Action: action, RequestID: clip.Name(id), Grant: clip.Name(grant), Reason: clip.Detail(e.Message), Code: e.Code}
	if by != nil && by.Subject != "" {
		recorded := event.Identity(*by)
		ev.By = &recorded
	}
	if a.Record == nil {
		return e
	}
	if rerr := a.Record.Emit(event.TypeRequestRefused, ev); rerr != nil {
		return errors.Join(e, fmt.Errorf("ca: record request refusal: %w", rerr))
	}
	return e
}
