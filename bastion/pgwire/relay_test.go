package pgwire

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

const refusedDelete = `E:ERROR:42501:gatehouse: delete not allowed by statement policy "readonly"`

// startSession starts a client session through Serve against f and reads the
// welcome.
func startSession(t *testing.T, ctx context.Context, cfg Config) *testClient {
	t.Helper()
	c := serveClient(t, ctx, cfg)
	c.send(startup("readonly"))
	c.untilReady()
	return c
}

func TestSimpleQuery(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var events eventLog
	cfg := baseConfig(t, f)
	cfg.Observe = events.observe
	c := startSession(t, context.Background(), cfg)

	steps := []struct {
		sql  string
		want []string
	}{
		{"SELECT n FROM t", []string{"T", "D:1", "D:2", "C:SELECT 2", "Z:I"}},
		{"DELETE FROM t", []string{refusedDelete, "Z:I"}},
		{"", []string{"I", "Z:I"}},
		{"BEGIN", []string{"C:BEGIN", "Z:T"}},
		{"SELECT 1", []string{"T", "D:1", "D:2", "C:SELECT 2", "Z:T"}},
		// Refused inside a transaction block: the block is failed, as a
		// failing statement would leave it.
		{"DELETE FROM t", []string{refusedDelete, "Z:E"}},
		{"SELECT 1", []string{"E:ERROR:25P02:current transaction is aborted, commands ignored until end of transaction block", "Z:E"}},
		{"DELETE FROM t", []string{refusedDelete, "Z:E"}},
		{"COMMIT", []string{"C:ROLLBACK", "Z:I"}},
		{"SELECT 1", []string{"T", "D:1", "D:2", "C:SELECT 2", "Z:I"}},
	}
	for _, st := range steps {
		c.send(&pgproto3.Query{String: st.sql})
		if got := c.untilReady(); !slices.Equal(got, st.want) {
			t.Fatalf("%q: got %q\nwant %q", st.sql, got, st.want)
		}
	}
	c.send(&pgproto3.Terminate{})
	if err := c.result(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, m := range f.messages() {
		if strings.Contains(m, "DELETE") {
			t.Errorf("the upstream received %q", m)
		}
	}
	f.waitFor(t, "X")
	if !slices.Contains(f.messages(), "Q:"+refusedSQL) {
		t.Errorf("upstream log %q: want the substitute and a Terminate", f.messages())
	}

	evs := events.all()
	if len(evs) != len(steps) {
		t.Fatalf("%d events for %d statements: %+v", len(evs), len(steps), evs)
	}
	if e := evs[0]; e.SQL != "SELECT n FROM t" || e.Outcome != OutcomeOK || e.Rows != 2 || e.Tag != "SELECT 2" || e.Bytes != 2*(7+4+1) || e.Detail != "ok" || e.Extended {
		t.Errorf("first event %+v", e)
	}
	if e := evs[1]; e.SQL != "DELETE FROM t" || e.Outcome != OutcomeDenied || e.SQLState != "42501" || e.Detail != "rule:readonly" {
		t.Errorf("denial event %+v", e)
	}
	if e := evs[6]; e.Outcome != OutcomeError || e.SQLState != "25P02" {
		t.Errorf("aborted-transaction event %+v", e)
	}
}

// TestPipeline: a denied Parse in the middle of a pipeline fails where it
// stands; the replies before it arrive first, everything after it up to
// Sync is discarded, and the next pipeline works.
func TestPipeline(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var events eventLog
	cfg := baseConfig(t, f)
	cfg.Observe = events.observe
	c := startSession(t, context.Background(), cfg)

	c.send(
		&pgproto3.Parse{Name: "s1", Query: "SELECT 1"},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
		&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1"},
		&pgproto3.Execute{Portal: "p1"},
		&pgproto3.Parse{Name: "s2", Query: "DELETE FROM t"},
		&pgproto3.Bind{PreparedStatement: "s2"},
		&pgproto3.Execute{},
		&pgproto3.Parse{Query: "SELECT 3"},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	want := []string{"1", "t", "T", "2", "D:1", "C:SELECT 1", refusedDelete, "Z:I"}
	if got := c.untilReady(); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	wantUp := []string{"P:s1:SELECT 1", "D:Ss1", "B:p1:s1", "E:p1", "P:s2:" + refusedSQL,
		"skipped B::s2", "skipped E:", "skipped P::SELECT 3", "skipped B::", "skipped E:", "S"}
	if got := f.messages(); !slices.Equal(got, wantUp) {
		t.Fatalf("upstream got %q\nwant %q", got, wantUp)
	}

	// The next pipeline, and the named statement from the first, work.
	c.send(
		&pgproto3.Bind{PreparedStatement: "s1"},
		&pgproto3.Execute{},
		&pgproto3.Close{ObjectType: 'S', Name: "s1"},
		&pgproto3.Sync{},
	)
	want = []string{"2", "D:1", "C:SELECT 1", "3", "Z:I"}
	if got := c.untilReady(); !slices.Equal(got, want) {
		t.Fatalf("second pipeline: got %q\nwant %q", got, want)
	}

	// Flush asks for the replies so far without a Sync.
	c.send(&pgproto3.Parse{Name: "s5", Query: "SELECT 5"}, &pgproto3.Flush{})
	if got := c.until(func(m pgproto3.BackendMessage) bool { return true }); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("after Flush: got %q", got)
	}
	c.send(&pgproto3.Sync{})
	c.untilReady()

	c.send(&pgproto3.Terminate{})
	if err := c.result(); err != nil {
		t.Fatal(err)
	}

	type brief struct {
		SQL, Stmt, Portal string
		Outcome           Outcome
		Rows              int64
		SQLState          string
		SkippedAlso       int64
	}
	var got []brief
	for _, e := range events.all() {
		if !e.Extended {
			t.Errorf("event %+v not marked extended", e)
		}
		got = append(got, brief{e.SQL, e.StatementName, e.Portal, e.Outcome, e.Rows, e.SQLState, e.SkippedAlso})
	}
	wantEv := []brief{
		{"SELECT 1", "s1", "p1", OutcomeOK, 1, "", 0},
		{"DELETE FROM t", "s2", "", OutcomeDenied, 0, "42501", 0},
		// The Execute of s2's portal, never bound, and with it the
		// Execute of the unnamed statement, never parsed: one report.
		{"", "", "", OutcomeSkipped, 0, "", 1},
		{"SELECT 1", "s1", "", OutcomeOK, 1, "", 0},
	}
	if !slices.Equal(got, wantEv) {
		t.Errorf("events\n got %+v\nwant %+v", got, wantEv)
	}
}

// TestStatementAttribution: each Execute is recorded with the text of the
// statement the database holds under that name, not the text the client
// last sent with it.
func TestStatementAttribution(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var events eventLog
	cfg := baseConfig(t, f)
	cfg.Observe = events.observe
	c := startSession(t, context.Background(), cfg)

	c.send(&pgproto3.Parse{Name: "s1", Query: "SELECT 'first'"}, &pgproto3.Sync{})
	c.untilReady()
	// Re-using the name fails in the database; s1 stays what it was.
	c.send(&pgproto3.Parse{Name: "s1", Query: "SELECT 'second'"}, &pgproto3.Sync{})
	if got := c.untilReady(); len(got) != 2 || !strings.HasPrefix(got[0], "E:ERROR:42P05") {
		t.Fatalf("got %q", got)
	}
	c.send(&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s1", Parameters: [][]byte{nil, nil}},
		&pgproto3.Execute{Portal: "p", MaxRows: 1}, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{})
	want := []string{"2", "D:1", "*pgproto3.PortalSuspended", "D:1", "C:SELECT 1", "Z:I"}
	if got := c.untilReady(); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Closed and parsed again: the new text counts.
	c.send(&pgproto3.Close{ObjectType: 'S', Name: "s1"}, &pgproto3.Parse{Name: "s1", Query: "SELECT 'third'"},
		&pgproto3.Bind{PreparedStatement: "s1"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	c.untilReady()

	var got []string
	for _, e := range events.all() {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%d|%d", e.Outcome, e.SQL, e.StatementName, e.Portal, e.ParamCount, e.Rows))
	}
	want = []string{
		"error|SELECT 'second'|s1||0|0",
		"suspended|SELECT 'first'|s1|p|2|1",
		"ok|SELECT 'first'|s1|p|2|1",
		"ok|SELECT 'third'|s1||0|1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

// TestRecordParameters: bind values reach Observe, copied and with their
// formats, only when Authorize asks for them.
func TestRecordParameters(t *testing.T) {
	for _, record := range []bool{false, true} {
		t.Run(fmt.Sprint("record=", record), func(t *testing.T) {
			checkLeaks(t)
			f := newFakeUpstream(t)
			var events eventLog
			cfg := baseConfig(t, f)
			authorize := cfg.Authorize
			cfg.Authorize = func(ctx context.Context, s Startup) (*Upstream, error) {
				up, err := authorize(ctx, s)
				up.RecordParameters = record
				return up, err
			}
			cfg.Observe = events.observe
			c := startSession(t, context.Background(), cfg)
			c.send(&pgproto3.Parse{Name: "s", Query: "SELECT 'first'"},
				&pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{0, 1, 0},
					Parameters: [][]byte{[]byte("42"), {0, 0, 0, 7}, nil}},
				&pgproto3.Execute{}, &pgproto3.Sync{})
			c.untilReady()
			evs := events.all()
			if len(evs) != 1 || evs[0].ParamCount != 3 {
				t.Fatalf("events %+v", evs)
			}
			got := evs[0].Parameters
			if !record {
				if got != nil {
					t.Fatalf("parameters recorded without being asked for: %+v", got)
				}
				return
			}
			want := []Parameter{{Value: []byte("42")}, {Value: []byte{0, 0, 0, 7}, Binary: true}, {}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("parameters %+v, want %+v", got, want)
			}
		})
	}
}

func TestFunctionCallRefused(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	c := startSession(t, context.Background(), baseConfig(t, f))
	c.send(&pgproto3.FunctionCall{Function: 764, Arguments: [][]byte{[]byte("/etc/passwd")}}) // lo_import
	got := c.untilReady()
	if len(got) != 2 || !strings.HasPrefix(got[0], "E:ERROR:42501:gatehouse: function calls by OID") || got[1] != "Z:I" {
		t.Fatalf("got %q", got)
	}
	c.send(&pgproto3.Query{String: "SELECT 1"})
	c.untilReady()
}

func TestTerminate(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var ends []SessionEnd
	cfg := baseConfig(t, f)
	cfg.OnEnd = func(e SessionEnd) { ends = append(ends, e) }
	cfg.Cancels = &CancelRegistry{}
	c := startSession(t, context.Background(), cfg)
	c.send(&pgproto3.Terminate{})
	if got := c.untilEOF(); len(got) != 0 {
		t.Errorf("after Terminate the client got %q", got)
	}
	if err := c.result(); err != nil {
		t.Fatal(err)
	}
	if len(ends) != 1 || ends[0].Reason != "client terminated" || ends[0].Err != nil {
		t.Errorf("OnEnd got %+v", ends)
	}
	f.waitFor(t, "X")
	if msgs := f.messages(); len(msgs) != 1 || msgs[0] != "X" {
		t.Errorf("upstream got %q, want a Terminate", msgs)
	}
	if n := len(cfg.Cancels.sessions); n != 0 {
		t.Errorf("%d cancel keys still registered after the session", n)
	}
}

func TestClientDisconnect(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var ends []SessionEnd
	cfg := baseConfig(t, f)
	cfg.OnEnd = func(e SessionEnd) { ends = append(ends, e) }
	c := startSession(t, context.Background(), cfg)
	c.conn.Close()
	if err := c.result(); err != nil {
		t.Fatal(err)
	}
	if len(ends) != 1 || ends[0].Reason != "client disconnected" {
		t.Errorf("OnEnd got %+v", ends)
	}
	// The upstream is told Terminate, so it ends at once.
	f.waitFor(t, "X")
}

func TestUpstreamLost(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name  string
		reply func(be *pgproto3.Backend)
		want  []string
	}{
		{"connection drops", func(*pgproto3.Backend) {}, []string{"E:FATAL:08006:gatehouse: the connection to the database was lost"}},
		{"server shuts down", func(be *pgproto3.Backend) {
			be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"})
			be.Flush()
		}, []string{"E:FATAL:57P01:terminating connection due to administrator command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeUpstream(t)
			f.onQuery = func(q string, be *pgproto3.Backend, conn net.Conn) bool {
				be.Send(oneColumn())
				be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("1")}})
				be.Flush()
				tt.reply(be)
				conn.Close()
				return true
			}
			var ends []SessionEnd
			cfg := baseConfig(t, f)
			cfg.OnEnd = func(e SessionEnd) { ends = append(ends, e) }
			var events eventLog
			cfg.Observe = events.observe
			c := startSession(t, context.Background(), cfg)
			c.send(&pgproto3.Query{String: "SELECT 1"})
			want := append([]string{"T", "D:1"}, tt.want...)
			if got := c.untilEOF(); !slices.Equal(got, want) {
				t.Fatalf("got %q\nwant %q", got, want)
			}
			if err := c.result(); err == nil || !strings.Contains(err.Error(), "upstream lost") {
				t.Errorf("Serve = %v, want upstream lost", err)
			}
			if len(ends) != 1 || ends[0].Reason != "upstream lost" {
				t.Errorf("OnEnd got %+v", ends)
			}
			if evs := events.all(); len(evs) != 1 || evs[0].Outcome != OutcomeUnfinished {
				t.Errorf("events %+v, want the query unfinished", evs)
			}
		})
	}
}

func TestMaxMessageSize(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	cfg := baseConfig(t, f)
	cfg.MaxMessageSize = 1024
	c := startSession(t, context.Background(), cfg)
	c.send(&pgproto3.Query{String: "SELECT 1"})
	c.untilReady()
	// Only the header is sent: the limit applies before the body is read.
	hdr := binary.BigEndian.AppendUint32([]byte{'Q'}, 4+1<<20)
	c.conn.Write(hdr)
	want := []string{"E:FATAL:54000:gatehouse: message of 1048576 bytes exceeds the limit of 1024 bytes"}
	if got := c.untilEOF(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := c.result(); err == nil || !strings.Contains(err.Error(), "client protocol violation") {
		t.Errorf("Serve = %v", err)
	}
	f.waitFor(t, "X")
	if got := f.messages(); !slices.Equal(got, []string{"Q:SELECT 1", "X"}) {
		t.Errorf("upstream got %q", got)
	}
}

// TestForwardedBeforeWaiting: what the client sent reaches the database
// before gatehouse waits for more from the client, not only at its Sync:
// a Parse the client follows, after a pause, with Describe and Sync is
// already being parsed (and its statement_timeout counting), as it would
// be on a direct connection.
func TestForwardedBeforeWaiting(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	c := startSession(t, context.Background(), baseConfig(t, f))
	c.send(&pgproto3.Parse{Name: "s", Query: "SELECT 1"})
	f.waitFor(t, "P:s:SELECT 1")
	c.send(&pgproto3.Describe{ObjectType: 'S', Name: "s"}, &pgproto3.Sync{})
	if got := c.untilReady(); len(got) == 0 || got[len(got)-1] != "Z:I" {
		t.Fatalf("got %q", got)
	}
}

// TestMaxPending: after an error the database answers nothing until
// Sync, so a client sending message after message without one would make
// gatehouse remember each; past MaxPending the session ends instead.
func TestMaxPending(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	cfg := baseConfig(t, f)
	cfg.MaxPending = 100
	c := startSession(t, context.Background(), cfg)
	msgs := []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "d", Query: "DELETE FROM t"}}
	for range 200 {
		msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: "x"})
	}
	c.send(msgs...)
	got := c.untilEOF()
	want := "E:FATAL:54000:gatehouse: more than 100 messages are waiting for the database's answers; send Sync and read the answers before sending more"
	if len(got) == 0 || got[len(got)-1] != want {
		t.Fatalf("got %q, want it to end with %q", got, want)
	}
	if err := c.result(); err == nil || !strings.Contains(err.Error(), "messages await answers") {
		t.Errorf("Serve = %v", err)
	}
}

func TestMaxUpstreamMessageSize(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	f.onQuery = func(q string, be *pgproto3.Backend, conn net.Conn) bool {
		be.Send(oneColumn())
		be.Send(&pgproto3.DataRow{Values: [][]byte{make([]byte, 4096)}})
		return false
	}
	cfg := baseConfig(t, f)
	cfg.MaxUpstreamMessageSize = 1024
	c := startSession(t, context.Background(), cfg)
	c.send(&pgproto3.Query{String: "SELECT big"})
	got := c.untilEOF()
	if len(got) != 2 || got[0] != "T" || got[1] != "E:FATAL:54000:gatehouse: a message of 4102 bytes from the database exceeds the limit of 1024 bytes" {
		t.Fatalf("got %q", got)
	}
}

func TestProtocolViolation(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	c := startSession(t, context.Background(), baseConfig(t, f))
	c.conn.Write([]byte{'p', 0, 0, 0, 8, 'a', 'b', 'c', 0}) // a PasswordMessage nobody asked for
	got := c.untilEOF()
	if len(got) != 1 || !strings.HasPrefix(got[0], "E:FATAL:08P01:gatehouse: unexpected message") {
		t.Fatalf("got %q", got)
	}
}

func TestContextEndsSession(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var ends []SessionEnd
	cfg := baseConfig(t, f)
	cfg.OnEnd = func(e SessionEnd) { ends = append(ends, e) }
	ctx, cancel := context.WithCancelCause(context.Background())
	c := startSession(t, ctx, cfg)
	cause := &Error{Code: "57P01", Message: "gatehouse: session ended: certificate revoked"}
	cancel(cause)
	want := []string{"E:FATAL:57P01:gatehouse: session ended: certificate revoked"}
	if got := c.untilEOF(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := c.result(); err == nil || !strings.Contains(err.Error(), "certificate revoked") {
		t.Errorf("Serve = %v", err)
	}
	if len(ends) != 1 || ends[0].Reason != "session ended" {
		t.Errorf("OnEnd got %+v", ends)
	}

	// A plain cancellation gets the generic message.
	ctx, cancel2 := context.WithCancel(context.Background())
	c = startSession(t, ctx, cfg)
	cancel2()
	if got := c.untilEOF(); !slices.Equal(got, []string{"E:FATAL:57P01:gatehouse: session ended"}) {
		t.Fatalf("got %q", got)
	}
}

// TestCancelRequest: a CancelRequest on a new connection, with the key the
// client was given, reaches the upstream with the upstream's real key.
func TestCancelRequest(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	cfg := baseConfig(t, f)
	cfg.Cancels = &CancelRegistry{}
	c := startSession(t, context.Background(), cfg)
	key := c.key
	if key.ProcessID != fakePID || string(key.SecretKey) == fakeSecret {
		t.Fatalf("the client got key %d/%x; want the backend's process id %d with a secret not the upstream's", key.ProcessID, key.SecretKey, fakePID)
	}

	tests := []struct {
		name   string
		pid    uint32
		secret []byte
		want   bool
	}{
		{"wrong secret", key.ProcessID, []byte{1, 2, 3, 4}, false},
		{"the upstream's own key", fakePID, []byte(fakeSecret), false},
		{"the client's key", key.ProcessID, key.SecretKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := serveClient(t, context.Background(), cfg)
			cc.send(&pgproto3.CancelRequest{ProcessID: tt.pid, SecretKey: tt.secret})
			if got := cc.untilEOF(); len(got) != 0 {
				t.Errorf("cancel connection got %q", got)
			}
			if err := cc.result(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			select {
			case m := <-f.cancels:
				if !tt.want {
					t.Fatalf("upstream got a cancel request %+v", m)
				}
				if m.ProcessID != fakePID || string(m.SecretKey) != fakeSecret {
					t.Errorf("upstream got cancel key %d/%x, want its own %d/%x", m.ProcessID, m.SecretKey, fakePID, fakeSecret)
				}
			default:
				if tt.want {
					t.Fatal("upstream got no cancel request")
				}
			}
		})
	}
}

// TestCancelOnClientLoss: a client that vanishes while its query runs
// leaves no query running upstream.
func TestCancelOnClientLoss(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	started := make(chan struct{})
	f.onQuery = func(q string, be *pgproto3.Backend, conn net.Conn) bool {
		close(started)
		// Runs until cancelled (or the connection ends).
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		conn.Read(b[:])
		return true
	}
	cfg := baseConfig(t, f)
	c := startSession(t, context.Background(), cfg)
	c.send(&pgproto3.Query{String: "SELECT pg_sleep(60)"})
	<-started
	c.conn.Close()
	if err := c.result(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-f.cancels:
		if m.ProcessID != fakePID {
			t.Errorf("cancel for pid %d", m.ProcessID)
		}
	default:
		t.Fatal("no cancel request reached the upstream")
	}
}

func TestAsyncMessagesRelayed(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	f.onQuery = func(q string, be *pgproto3.Backend, conn net.Conn) bool {
		if q != "LISTEN c" {
			return false
		}
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("LISTEN")})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		be.Flush()
		be.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", Code: "00000", Message: "hello"})
		be.Send(&pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"})
		be.Send(&pgproto3.NotificationResponse{PID: 9, Channel: "c", Payload: "p"})
		return true
	}
	c := startSession(t, context.Background(), baseConfig(t, f))
	c.send(&pgproto3.Query{String: "LISTEN c"})
	if got := c.untilReady(); !slices.Equal(got, []string{"C:LISTEN", "Z:I"}) {
		t.Fatalf("got %q", got)
	}
	got := c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.NotificationResponse); return ok })
	if !slices.Equal(got, []string{"N:hello", "S:TimeZone=UTC", "*pgproto3.NotificationResponse"}) {
		t.Fatalf("got %q", got)
	}
}
