package pgwire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// encode is the wire form of msgs.
func encode(t testing.TB, msgs ...pgproto3.Message) []byte {
	t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// clientStream is a client's pipeline after start-up, one of every
// message type the relay accepts or refuses.
func clientStream(t testing.TB) []byte {
	return encode(t,
		&pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 42"},
		&pgproto3.Parse{Name: "s1", Query: "SELECT $1::int", ParameterOIDs: []uint32{23}},
		&pgproto3.Bind{PreparedStatement: "s1", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 0, 0, 7}, nil}, ResultFormatCodes: []int16{0}},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{MaxRows: 10},
		&pgproto3.Close{ObjectType: 'S', Name: "s1"},
		&pgproto3.Flush{},
		&pgproto3.Sync{},
		&pgproto3.CopyData{Data: []byte("1\tone\n")},
		&pgproto3.CopyDone{},
		&pgproto3.CopyFail{Message: "no"},
		&pgproto3.FunctionCall{Function: 764, Arguments: [][]byte{{1}}, ResultFormatCode: 1},
		&pgproto3.PasswordMessage{Password: "secret"},
		&pgproto3.Query{String: strings.Repeat("SELECT 1; ", 300)}, // larger than the small buffer
		&pgproto3.Terminate{},
	)
}

// upstreamStream is a database's replies, one of every message type
// pgproto3.Frontend decodes.
func upstreamStream(t testing.TB) []byte {
	return encode(t,
		&pgproto3.AuthenticationOk{},
		&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}},
		&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}},
		&pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"},
		&pgproto3.BackendKeyData{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: []string{"_pq_.x"}},
		&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.CloseComplete{},
		&pgproto3.ParameterDescription{ParameterOIDs: []uint32{23}},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("abalance"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}},
		&pgproto3.NoData{},
		&pgproto3.DataRow{Values: [][]byte{[]byte("42"), nil}},
		&pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 20000)}}, // larger than a pooled 8 KiB
		&pgproto3.PortalSuspended{},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.EmptyQueryResponse{},
		&pgproto3.NoticeResponse{Severity: "WARNING", Code: "01000", Message: "careful"},
		&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42501", Message: "denied"},
		&pgproto3.NotificationResponse{PID: 7, Channel: "c", Payload: "p"},
		&pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}},
		&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}},
		&pgproto3.CopyBothResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}},
		&pgproto3.CopyData{Data: []byte("row\n")}, &pgproto3.CopyDone{},
		&pgproto3.FunctionCallResponse{Result: []byte{9}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
}

// receiver is either side's Receive.
type receiver func() (pgproto3.Message, error)

func ownClient(r io.Reader, max int) receiver {
	c := newClientReader(r, max)
	return func() (pgproto3.Message, error) { return c.Receive() }
}

func ownUpstream(r io.Reader, max int) receiver {
	u := newUpstreamReader(r, max)
	return func() (pgproto3.Message, error) { return u.Receive() }
}

func pgprotoClient(r io.Reader, max int) receiver {
	b := pgproto3.NewBackend(r, io.Discard)
	b.SetMaxBodyLen(max)
	return func() (pgproto3.Message, error) { return b.Receive() }
}

func pgprotoUpstream(r io.Reader, max int) receiver {
	f := pgproto3.NewFrontend(r, io.Discard)
	f.SetMaxBodyLen(max)
	return func() (pgproto3.Message, error) { return f.Receive() }
}

// sameMessages receives from both until either fails, and says where
// they first differ: a message, or one failing where the other did not.
func sameMessages(t testing.TB, own, theirs receiver) (n int, ownErr error) {
	t.Helper()
	for ; ; n++ {
		m1, err1 := own()
		m2, err2 := theirs()
		switch {
		case (err1 == nil) != (err2 == nil):
			t.Fatalf("message %d: gatehouse's reader: %v (%T); pgproto3's: %v (%T)", n, err1, m1, err2, m2)
		case err1 != nil:
			return n, err1
		case !reflect.DeepEqual(m1, m2):
			t.Fatalf("message %d: gatehouse's reader %#v; pgproto3's %#v", n, m1, m2)
		}
	}
}

// splitReader returns data in reads of at most the sizes given, in turn,
// then the rest at once; it counts its reads.
type splitReader struct {
	data  []byte
	sizes []int
	reads int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	s.reads++
	n := len(s.data)
	if len(s.sizes) > 0 {
		n, s.sizes = min(n, s.sizes[0]), s.sizes[1:]
	}
	n = copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

// TestMessageReaderSplitAnywhere splits every stream at every byte offset
// into two reads, and also delivers it a byte at a time: gatehouse's
// readers see what pgproto3's do, and end the same way.
func TestMessageReaderSplitAnywhere(t *testing.T) {
	sides := []struct {
		name        string
		data        []byte
		own, theirs func(io.Reader, int) receiver
		want        int
	}{
		{"client", clientStream(t), ownClient, pgprotoClient, 15},
		{"upstream", upstreamStream(t), ownUpstream, pgprotoUpstream, 27},
	}
	for _, side := range sides {
		t.Run(side.name, func(t *testing.T) {
			splits := [][]int{nil, ones(len(side.data))}
			for at := 1; at < len(side.data); at++ {
				splits = append(splits, []int{at})
			}
			for _, sizes := range splits {
				own := side.own(&splitReader{data: side.data, sizes: sizes}, 1<<20)
				theirs := side.theirs(bytes.NewReader(side.data), 1<<20)
				n, err := sameMessages(t, own, theirs)
				if n != side.want || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("split %v: %d messages, then %v; want %d, then the stream's end", sizes[:min(len(sizes), 1)], n, err, side.want)
				}
			}
		})
	}
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// TestMessageReaderReads counts reads: a small message that arrives whole
// costs one, as with pgproto3, and a burst larger than the small buffer
// goes on in a borrowed one rather than in small pieces.
func TestMessageReaderReads(t *testing.T) {
	query := encode(t, &pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 42"})
	var burst []byte
	for range 1000 {
		burst = append(burst, encode(t, &pgproto3.Sync{})...) // 5000 bytes
	}
	tests := []struct {
		name  string
		data  []byte
		sizes []int
		msgs  int
		reads int
	}{
		{"one small message per read", bytes.Repeat(query, 3), []int{len(query), len(query), len(query)}, 3, 3},
		{"a burst in one read", burst, nil, 1000, 2}, // the small buffer, then the rest
		{"a large message", encode(t, &pgproto3.CopyData{Data: make([]byte, 100000)}), nil, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &splitReader{data: tt.data, sizes: tt.sizes}
			c := newClientReader(src, 0)
			for i := range tt.msgs {
				if _, err := c.Receive(); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if src.reads != tt.reads {
				t.Errorf("%d reads; want %d", src.reads, tt.reads)
			}
			if c.buffered() != 0 || len(src.data) != 0 {
				t.Errorf("%d bytes left over", c.buffered()+len(src.data))
			}
		})
	}
}

// TestMessageReaderRefuses: what pgproto3's readers refuse, with the same
// errors, which clientReadFailed and upstreamFailed tell the client about.
func TestMessageReaderRefuses(t *testing.T) {
	query := encode(t, &pgproto3.Query{String: "SELECT 1"})
	tests := []struct {
		name     string
		upstream bool
		data     []byte
		want     string
		tooBig   bool
	}{
		{"body over the limit", false, encode(t, &pgproto3.Query{String: strings.Repeat("x", 2000)}), "", true},
		{"database's body over the limit", true, encode(t, &pgproto3.DataRow{Values: [][]byte{make([]byte, 1100)}}), "", true},
		{"length below 4", false, []byte{'Q', 0, 0, 0, 3}, "invalid message length: 3", false},
		{"negative length", true, []byte{'D', 0xff, 0xff, 0xff, 0xff}, "invalid message length: -1", false},
		{"unknown client type", false, []byte{'Z', 0, 0, 0, 5, 'I'}, "unknown message type: 'Z'", false},
		{"unknown database type", true, []byte{'Q', 0, 0, 0, 4}, "unknown message type: 'Q'", false},
		{"a zero type byte", false, []byte{0, 0, 0, 0, 4}, `unknown message type: '\x00'`, false},
		{"authentication too short", true, []byte{'R', 0, 0, 0, 6, 0, 0}, "authentication message too short", false},
		{"SSPI", true, []byte{'R', 0, 0, 0, 8, 0, 0, 0, 9}, "unsupported authentication type: 9", false},
		{"truncated", false, query[:len(query)-1], io.ErrUnexpectedEOF.Error(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			receive := ownClient(bytes.NewReader(tt.data), 1024)
			if tt.upstream {
				receive = ownUpstream(bytes.NewReader(tt.data), 1024)
			}
			_, err := receive()
			var tooBig *pgproto3.ExceededMaxBodyLenErr
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tt.tooBig && (!errors.As(err, &tooBig) || tooBig.MaxExpectedBodyLen != 1024):
				t.Fatalf("%v; want pgproto3.ExceededMaxBodyLenErr with the limit", err)
			case !tt.tooBig && err.Error() != tt.want:
				t.Fatalf("%q; want %q", err, tt.want)
			}
		})
	}
}

// watchedReader reports, at each read the message reader makes with
// nothing buffered (when it may wait for ever), whether it holds a
// borrowed buffer.
type watchedReader struct {
	r       io.Reader
	m       *msgReader
	idle    []bool // borrowing, at each read with nothing buffered
	borrows int    // reads into a borrowed buffer
}

func (w *watchedReader) Read(p []byte) (int, error) {
	if w.m.buffered() == 0 {
		w.idle = append(w.idle, w.m.borrowing())
	}
	if w.m.borrowing() {
		w.borrows++
	}
	return w.r.Read(p)
}

// TestMessageReaderIdleHoldsNoPooledBuffer: after a burst of large
// messages over a real pipe, a reader waiting for the next message holds
// only its small buffer.
func TestMessageReaderIdleHoldsNoPooledBuffer(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		var b []byte
		for i := range 20 {
			b = append(b, encode(t, &pgproto3.DataRow{Values: [][]byte{make([]byte, 3000*i)}})...)
			b = append(b, encode(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})...)
		}
		b = append(b, encode(t, &pgproto3.ReadyForQuery{TxStatus: 'I'})...)
		client.Write(b) // the pipe splits it as the reader reads
	}()
	w := &watchedReader{r: server}
	u := newUpstreamReader(w, 0)
	w.m = &u.msgReader
	for {
		m, err := u.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	done := make(chan error)
	go func() { _, err := u.Receive(); done <- err }()
	client.Close()
	<-done
	if w.borrows == 0 {
		t.Fatal("the burst borrowed no buffer: the test proves nothing")
	}
	if last := w.idle[len(w.idle)-1]; last || u.borrowing() {
		t.Errorf("waiting for the next message with a borrowed buffer")
	}
	for i, b := range w.idle {
		if b {
			t.Errorf("read %d with nothing buffered held a borrowed buffer", i)
		}
	}
}

// TestSizeClass: a borrowed buffer holds what it was asked for, and the
// pool keeps only its own sizes.
func TestSizeClass(t *testing.T) {
	for _, n := range []int{1, minPooledBuffer, minPooledBuffer + 1, 100000, 1 << 20, 1<<20 + 1, 5 << 20} {
		b := borrow(n)
		if len(*b) < n {
			t.Errorf("borrow(%d) has %d bytes", n, len(*b))
		}
		if c := sizeClass(n); (c < 0) != (n > minPooledBuffer<<(pooledClasses-1)) {
			t.Errorf("sizeClass(%d) = %d", n, c)
		}
		giveBack(b)
	}
}

// loopReader repeats data for ever, as much of it as a read asks for.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// BenchmarkMessageReader receives a client's pipeline and a database's
// replies (every message type once, a few larger than the small buffer)
// with gatehouse's readers and with pgproto3's; an op is one whole stream.
func BenchmarkMessageReader(b *testing.B) {
	sides := []struct {
		name string
		data []byte
		n    int
		read func(io.Reader, int) receiver
	}{
		{"client/gatehouse", clientStream(b), 15, ownClient},
		{"client/pgproto3", clientStream(b), 15, pgprotoClient},
		{"upstream/gatehouse", upstreamStream(b), 27, ownUpstream},
		{"upstream/pgproto3", upstreamStream(b), 27, pgprotoUpstream},
	}
	for _, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			receive := side.read(&loopReader{data: side.data}, 1<<20)
			b.SetBytes(int64(len(side.data)))
			b.ReportAllocs()
			for b.Loop() {
				for range side.n {
					if _, err := receive(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
