package ca

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// requestPolicy adds to testPolicy orders:admin for engineering, on
// approval by dba-leads for up to 30m, in certificates of at most 20m.
const requestPolicy = testPolicy + `  - groups: [engineering]
    allow: [orders:admin]
    max_ttl: 20m
    requires_approval: {approvers: [dba-leads], max_ttl: 30m}
`

// clock is a settable clock for the Authority.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type requestFixture struct {
	a     *Authority
	rec   *fakeRecorder
	clock *clock
	path  string
}

func newRequestFixture(t *testing.T) *requestFixture {
	t.Helper()
	a, rec := newTestAuthority(t)
	cfg, err := policy.Parse([]byte(requestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	a.Policy = cfg
	c := &clock{t: testNow}
	a.Clock = c.now
	path := filepath.Join(t.TempDir(), "requests.json")
	if a.Requests, err = OpenRequestStore(path); err != nil {
		t.Fatal(err)
	}
	return &requestFixture{a: a, rec: rec, clock: c, path: path}
}

// carol approves orders:admin (dba-leads) and is an engineer herself.
func carol() policy.Identity {
	return policy.Identity{Subject: "u-456", Email: "carol@example.com", Issuer: "https://idp.example.com", Groups: []string{"engineering", "dba-leads"}}
}

// bob is an engineer who approves nothing.
func bobEngineer() policy.Identity {
	return policy.Identity{Subject: "u-789", Email: "bob@example.com", Issuer: "https://idp.example.com", Groups: []string{"engineering"}}
}

func (f *requestFixture) issue(t *testing.T, id policy.Identity) (*gossh.Certificate, policy.Identity) {
	t.Helper()
	cert, err := f.a.Issue(context.Background(), Request{Identity: id, PublicKey: ed25519Pub(t), Source: SourceOIDC})
	if err != nil {
		t.Fatalf("Issue for %s: %v", id.Name(), err)
	}
	got, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil {
		t.Fatal(err)
	}
	return cert, got
}

func (f *requestFixture) file(t *testing.T, who policy.Identity, ttl time.Duration) AccessRequest {
	t.Helper()
	r, err := f.a.FileRequest(who, "orders:admin", "INC-1: fix a stuck order", ttl)
	if err != nil {
		t.Fatalf("FileRequest: %v", err)
	}
	return r
}

func TestAccessRequestLifecycle(t *testing.T) {
	f := newRequestFixture(t)
	cert, _ := f.issue(t, alice())
	if slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Fatal("orders:admin given by group membership alone")
	}
	r := f.file(t, alice(), 0)
	if r.State != RequestPending || !strings.HasPrefix(r.ID, "req-") || r.Requester.Email != "alice@example.com" {
		t.Errorf("filed %+v", r)
	}
	if ev := f.rec.last(t); ev.Type != event.TypeRequestFiled || !strings.Contains(string(ev.Raw), r.ID) {
		t.Errorf("filing recorded as %s %s", ev.Type, ev.Raw)
	}
	if cert, _ := f.issue(t, alice()); slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Fatal("a pending request gave the grant")
	}
	if got, _ := f.a.PendingFor(carol()); len(got) != 1 || got[0].ID != r.ID {
		t.Errorf("carol's pending list: %+v", got)
	}
	if got, _ := f.a.PendingFor(bobEngineer()); len(got) != 0 {
		t.Errorf("bob, no approver, sees %+v", got)
	}

	f.clock.advance(time.Minute)
	approved, err := f.a.Decide(carol(), r.ID, true, "")
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if approved.State != RequestApproved || approved.DecidedBy != "carol@example.com" || !approved.ExpiresAt.Equal(f.clock.now().Add(30*time.Minute)) {
		t.Errorf("approved %+v", approved)
	}
	if ev := f.rec.last(t); ev.Type != event.TypeRequestApproved || !strings.Contains(string(ev.Raw), "carol@example.com") {
		t.Errorf("approval recorded as %s %s", ev.Type, ev.Raw)
	}

	// The next certificate carries the grant and the request id, capped
	// by the grant's max_ttl (20m, under the approval's 30m).
	cert, id := f.issue(t, alice())
	if want := []string{"orders:admin", "orders:readonly"}; !slices.Equal(cert.ValidPrincipals, want) {
		t.Errorf("principals %v, want %v", cert.ValidPrincipals, want)
	}
	if id.RequestID != r.ID {
		t.Errorf("identity request id %q, want %q", id.RequestID, r.ID)
	}
	if got, want := cert.ValidBefore, uint64(f.clock.now().Add(20*time.Minute).Unix()); got != want {
		t.Errorf("ValidBefore %d, want %d (grant max_ttl)", got, want)
	}
	// Narrowing to the approved grant alone works too.
	narrowed, err := f.a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC, Grants: []string{"orders:admin"}})
	if err != nil || !slices.Equal(narrowed.ValidPrincipals, []string{"orders:admin"}) {
		t.Errorf("narrowed to orders:admin: %v %v", narrowed, err)
	}

	// Later, the approval's remaining time is the cap.
	f.clock.advance(25 * time.Minute)
	cert, _ = f.issue(t, alice())
	if got, want := cert.ValidBefore, uint64(approved.ExpiresAt.Unix()); got != want || !slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Errorf("ValidBefore %d (principals %v), want the approval's end %d", got, cert.ValidPrincipals, want)
	}
	// Asking for more than the approval leaves is refused, not shortened.
	_, err = f.a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC, TTL: time.Hour})
	if errorCode(err) != caapi.CodeTTLExceeded || !strings.Contains(err.Error(), r.ID) {
		t.Errorf("TTL over the approval: %v", err)
	}

	// After it expires, certificates no longer carry it.
	f.clock.advance(5 * time.Minute)
	cert, id = f.issue(t, alice())
	if slices.Contains(cert.ValidPrincipals, "orders:admin") || id.RequestID != "" {
		t.Errorf("after expiry: principals %v, request id %q", cert.ValidPrincipals, id.RequestID)
	}
	// Others never got it.
	if cert, _ := f.issue(t, bobEngineer()); slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Error("bob's certificate carries alice's approval")
	}
}

func TestAccessRequestTTL(t *testing.T) {
	f := newRequestFixture(t)
	short := f.file(t, alice(), 10*time.Minute)
	long := f.file(t, alice(), 2*time.Hour)
	for _, c := range []struct {
		r    AccessRequest
		want time.Duration
	}{{short, 10 * time.Minute}, {long, 30 * time.Minute}} {
		got, err := f.a.Decide(carol(), c.r.ID, true, "ok")
		if err != nil {
			t.Fatal(err)
		}
		if life := got.ExpiresAt.Sub(got.DecidedAt); life != c.want {
			t.Errorf("ttl %s: approval lasts %s, want %s", c.r.TTL, life, c.want)
		}
	}
}

func TestAccessRequestRefusals(t *testing.T) {
	f := newRequestFixture(t)
	r := f.file(t, carol(), 0) // carol may approve orders:admin, but not her own request

	refused := func(name string, err error, wantCode, wantText string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: not refused", name)
			return
		}
		if errorCode(err) != wantCode || !strings.Contains(err.Error(), wantText) {
			t.Errorf("%s: %v (code %s), want %s mentioning %q", name, err, errorCode(err), wantCode, wantText)
		}
		if ev := f.rec.last(t); ev.Type != event.TypeRequestRefused || ev.Data["code"] != wantCode {
			t.Errorf("%s: recorded as %s %s", name, ev.Type, ev.Raw)
		}
	}
	_, err := f.a.Decide(carol(), r.ID, true, "")
	refused("self-approval", err, caapi.CodeGrantNotAllowed, "your own request")
	_, err = f.a.Decide(bobEngineer(), r.ID, true, "")
	refused("approval by a non-approver", err, caapi.CodeGrantNotAllowed, "dba-leads")
	approver := bobEngineer()
	approver.Groups = []string{"dba-leads"}
	_, err = f.a.Decide(approver, r.ID, false, " ")
	refused("denial without a reason", err, caapi.CodeInvalidRequest, "--reason")
	_, err = f.a.Decide(approver, "req-nope", true, "")
	refused("unknown id", err, caapi.CodeInvalidRequest, "no access request")
	_, err = f.a.FileRequest(alice(), "billing:reader", "x", 0)
	refused("a grant not requestable", err, caapi.CodeGrantNotAllowed, "no grant that requires approval")
	_, err = f.a.FileRequest(alice(), "orders:readonly", "x", 0)
	refused("a grant already held", err, caapi.CodeInvalidRequest, "already granted")
	_, err = f.a.FileRequest(alice(), "orders:admin", "", 0)
	refused("no reason", err, caapi.CodeInvalidRequest, "--reason")
	outsider := bobEngineer()
	outsider.Groups = []string{"sales"}
	_, err = f.a.FileRequest(outsider, "orders:admin", "x", 0)
	refused("requester outside the grant's groups", err, caapi.CodeGrantNotAllowed, "sales")
	if got, _, _ := f.a.Requests.Get(r.ID); got.State != RequestPending {
		t.Fatalf("after refusals the request is %s", got.State)
	}

	denied, err := f.a.Decide(approver, r.ID, false, "use the runbook")
	if err != nil || denied.State != RequestDenied || denied.DecisionReason != "use the runbook" {
		t.Fatalf("deny: %+v %v", denied, err)
	}
	if ev := f.rec.last(t); ev.Type != event.TypeRequestDenied || !strings.Contains(string(ev.Raw), "use the runbook") {
		t.Errorf("denial recorded as %s %s", ev.Type, ev.Raw)
	}
	_, err = f.a.Decide(approver, r.ID, true, "")
	refused("approving a denied request", err, caapi.CodeInvalidRequest, "already denied")
	if cert, _ := f.issue(t, carol()); slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Error("a denied request gave the grant")
	}
}

func TestAccessRequestsSurviveRestart(t *testing.T) {
	f := newRequestFixture(t)
	r := f.file(t, alice(), 0)
	pending := f.file(t, alice(), 0)
	if _, err := f.a.Decide(carol(), r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(f.path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("requests file: %v %v", st, err)
	}
	reopened, err := OpenRequestStore(f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.a.Requests = reopened
	if got, ok, _ := reopened.Get(pending.ID); !ok || got.State != RequestPending {
		t.Errorf("pending request after reopening: %+v %v", got, ok)
	}
	if _, id := f.issue(t, alice()); id.RequestID != r.ID {
		t.Errorf("after reopening, request id %q, want %q", id.RequestID, r.ID)
	}
}

func TestAccessRequestUnrecordedStepNotTaken(t *testing.T) {
	f := newRequestFixture(t)
	r := f.file(t, alice(), 0)
	f.rec.err = errors.New("disk full")
	if _, err := f.a.Decide(carol(), r.ID, true, ""); errorCode(err) != caapi.CodeInternal {
		t.Fatalf("approve with a failing recorder: %v", err)
	}
	if _, err := f.a.FileRequest(alice(), "orders:admin", "again", 0); errorCode(err) != caapi.CodeInternal {
		t.Fatalf("file with a failing recorder: %v", err)
	}
	f.rec.err = nil
	if got, _ := f.a.Requests.All(); len(got) != 1 || got[0].State != RequestPending {
		t.Errorf("in memory: %+v", got)
	}
	reopened, err := OpenRequestStore(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := reopened.All(); len(got) != 1 || got[0].State != RequestPending {
		t.Errorf("on disk: %+v", got)
	}
}

func TestAPIAccessRequests(t *testing.T) {
	f := newRequestFixture(t)
	srv := httptest.NewServer((&API{Authority: f.a}).Handler())
	t.Cleanup(srv.Close)
	certFor := func(id policy.Identity) engineer {
		key := newSigner(t)
		cert, err := f.a.Issue(context.Background(), Request{Identity: id, PublicKey: key.PublicKey(), Source: SourceOIDC})
		if err != nil {
			t.Fatal(err)
		}
		return engineer{cert: cert, key: key}
	}
	post := func(e engineer, namespace string, c caapi.AccessRequestClaims) (int, caapi.AccessRequestResponse, string) {
		t.Helper()
		c.CertificateSerial, c.IssuedAt = e.cert.Serial, f.clock.now()
		claims, _ := json.Marshal(c)
		sig, err := sshsig.Sign(rand.Reader, e.key, namespace, claims)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(caapi.SignedRequest{
			Certificate: string(gossh.MarshalAuthorizedKey(e.cert)),
			Claims:      base64.StdEncoding.EncodeToString(claims),
			Signature:   base64.StdEncoding.EncodeToString(sig),
		})
		resp, err := srv.Client().Post(srv.URL+"/v1/access-requests", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		var ans caapi.AccessRequestResponse
		json.Unmarshal(out.Bytes(), &ans)
		return resp.StatusCode, ans, out.String()
	}
	al, ca := certFor(alice()), certFor(carol())
	status, ans, raw := post(al, caapi.RequestNamespace, caapi.AccessRequestClaims{Action: caapi.ActionFile, Grant: "orders:admin", Reason: "INC-1", TTL: "15m"})
	if status != http.StatusOK || ans.Request == nil || ans.Request.State != RequestPending || ans.Request.TTL != "15m0s" {
		t.Fatalf("file: %d %s", status, raw)
	}
	id := ans.Request.ID
	if status, ans, raw = post(ca, caapi.RequestNamespace, caapi.AccessRequestClaims{Action: caapi.ActionList}); status != http.StatusOK || len(ans.Requests) != 1 {
		t.Errorf("list: %d %s", status, raw)
	}
	if status, _, raw = post(al, caapi.AgentNamespace, caapi.AccessRequestClaims{Action: caapi.ActionList}); status != http.StatusUnauthorized || !strings.Contains(raw, caapi.CodeInvalidCertificate) {
		t.Errorf("signature in the agent namespace: %d %s", status, raw)
	}
	if status, _, raw = post(al, caapi.RequestNamespace, caapi.AccessRequestClaims{Action: caapi.ActionApprove, ID: id}); status != http.StatusForbidden || !strings.Contains(raw, "your own request") {
		t.Errorf("self-approval: %d %s", status, raw)
	}
	if status, _, raw = post(al, caapi.RequestNamespace, caapi.AccessRequestClaims{Action: "grant-me"}); status != http.StatusBadRequest {
		t.Errorf("unknown action: %d %s", status, raw)
	}
	status, ans, raw = post(ca, caapi.RequestNamespace, caapi.AccessRequestClaims{Action: caapi.ActionApprove, ID: id})
	if status != http.StatusOK || ans.Request == nil || ans.Request.State != RequestApproved {
		t.Fatalf("approve: %d %s", status, raw)
	}
	if life := ans.Request.ExpiresAt.Sub(ans.Request.DecidedAt); life != 15*time.Minute {
		t.Errorf("approval lasts %s, want the requested 15m", life)
	}
}

// TestDecidedRequestsPruned: filing a request drops requests decided and
// done with for more than RequestHistory, and keeps the rest.
func TestDecidedRequestsPruned(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-RequestHistory-time.Hour), now.Add(-time.Hour)
	rs := []AccessRequest{
		{ID: "approved-long-ago", State: RequestApproved, ExpiresAt: old},
		{ID: "approved-recently", State: RequestApproved, ExpiresAt: recent},
		{ID: "approved-live", State: RequestApproved, ExpiresAt: now.Add(time.Hour)},
		{ID: "denied-long-ago", State: RequestDenied, DecidedAt: old},
		{ID: "denied-recently", State: RequestDenied, DecidedAt: recent},
		{ID: "pending-long", State: RequestPending, FiledAt: old},
	}
	var kept []string
	for _, r := range pruneDecided(rs, now) {
		kept = append(kept, r.ID)
	}
	want := []string{"approved-recently", "approved-live", "denied-recently", "pending-long"}
	if !slices.Equal(kept, want) {
		t.Fatalf("kept %q, want %q", kept, want)
	}
}

// TestRecordedRequestIsTheStoredRequest: a request step records the
// request exactly as the requests file and the API keep it, every field
// set: a field added to caapi.AccessRequest and not to
// event.AccessRequest (or not copied by recordedRequest) fails here.
func TestRecordedRequestIsTheStoredRequest(t *testing.T) {
	var r AccessRequest
	setEveryField(reflect.ValueOf(&r).Elem(), new(int))
	stored, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := json.Marshal(recordedRequest(r))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, recorded) {
		t.Fatalf("recorded\n %s\nstored\n %s", recorded, stored)
	}
}

// setEveryField gives each field of v a value of its own, the n-th field
// set getting n, so that two fields swapped show too.
func setEveryField(v reflect.Value, n *int) {
	*n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 9, 0, *n, 0, time.UTC)))
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			setEveryField(v.Field(i), n)
		}
	case v.Kind() == reflect.String:
		v.SetString("value " + strconv.Itoa(*n))
	case v.Kind() == reflect.Uint64:
		v.SetUint(uint64(*n))
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		setEveryField(v.Index(0), n)
	default:
		panic("setEveryField: no value for " + v.Type().String())
	}
}
