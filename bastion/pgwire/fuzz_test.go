package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/: valid start-up
// sequences (SSLRequest, GSSENCRequest, 3.0 and 3.2 StartupMessages,
// CancelRequests), client pipelines, and database reply streams.

// memConn is a client connection whose input is fixed: it ends in EOF, so
// Serve can never wait on it for ever.
type memConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *memConn) Close() error                { return nil }

// FuzzStartup feeds arbitrary bytes to Serve as a client's first packets.
// It must neither panic nor hang, and must answer nothing but 'N' bytes and
// protocol messages.
func FuzzStartup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47}) // SSLRequest
	registry := &CancelRegistry{}
	key, forget := registry.register(4242, func(context.Context) error { return errors.New("not really") }, nil)
	defer forget()
	f.Add(append([]byte{0, 0, 0, 16, 4, 210, 22, 46}, append(be32(key.ProcessID), key.SecretKey...)...))

	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &memConn{r: bytes.NewReader(data)}
		cfg := Config{
			Authorize: func(context.Context, Startup) (*Upstream, error) {
				return nil, &Error{Message: "gatehouse: fuzzing"}
			},
			Inspect:          policyDenyingDelete,
			Cancels:          registry,
			HandshakeTimeout: time.Second,
			Logger:           slog.New(slog.DiscardHandler),
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Serve(context.Background(), conn, cfg)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve hangs")
		}
		// Whatever was written must be 'N' answers, then messages.
		out := conn.out.Bytes()
		for len(out) > 0 && out[0] == 'N' {
			out = out[1:]
		}
		fe := pgproto3.NewFrontend(bytes.NewReader(out), io.Discard)
		for {
			if _, err := fe.Receive(); err != nil {
				if !errors.Is(err, io.ErrUnexpectedEOF) || fe.ReadBufferLen() != 0 {
					t.Fatalf("Serve wrote an undecodable reply %q: %v", conn.out.Bytes(), err)
				}
				break
			}
		}
	})
}

// fuzzSession is a session in its relay phase whose client sends
// clientInput and whose database sends upstreamInput; what it writes goes
// nowhere.
func fuzzSession(clientInput, upstreamInput []byte) *session {
	cfg := &Config{
		Inspect: func(_ context.Context, q Query) Verdict {
			return Verdict{Allow: len(q.SQL)%2 == 0, Detail: len(q.SQL)}
		},
		Observe: func(StatementEvent) {},
	}
	in := &recordingReader{r: bytes.NewReader(clientInput)}
	s := &session{
		cfg:            cfg,
		log:            slog.New(slog.DiscardHandler),
		client:         &memConn{r: bytes.NewReader(nil)},
		clientIn:       in,
		fromClient:     newClientReader(in, 1<<16),
		toClient:       output{w: io.Discard},
		toDB:           output{w: io.Discard},
		fromDB:         newUpstreamReader(bytes.NewReader(upstreamInput), 1<<16),
		cancelUpstream: func(context.Context) error { return nil },
	}
	s.replies = newReplies(cfg.Observe, time.Now, func(string) {})
	return s
}

// FuzzClientMessages feeds arbitrary bytes to the relay as the client's
// messages after start-up. It must not panic, and must end.
func FuzzClientMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzSession(data, nil)
		e := s.clientToUpstream(context.Background())
		if e == nil || e.reason == "" {
			t.Fatalf("no ending: %+v", e)
		}
		s.replies.abandon()
	})
}

// FuzzUpstreamMessages feeds arbitrary bytes to the relay as the database's
// replies, against a queue of pending client messages chosen by the first
// bytes. Matching replies to messages must not panic, whatever arrives;
// what reaches the client must be whole messages a client can read, and
// with masking on no row may carry a value that was not masked.
func FuzzUpstreamMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := min(int(data[0]%16), len(data)-1)
		kinds, stream := data[1:1+n], data[1+n:]
		s := fuzzSession(nil, stream)
		var toClient bytes.Buffer
		s.toClient.w = &toClient
		masked := data[0]&0x80 != 0
		if masked { // every value and COPY row rewritten
			mask := func(dst, v []byte) ([]byte, bool) { return append(dst, "****"...), len(v) == 0 }
			s.replies.results = func(r Result) *RowRewrite {
				rw := &RowRewrite{Columns: make([]ColumnRewrite, len(r.Fields))}
				for i := range rw.Columns {
					rw.Columns[i] = mask
				}
				if r.Copy {
					rw.CopyRow = func(dst, _ []byte) []byte { return append(dst, "****\n"...) }
				}
				return rw
			}
			s.replies.redactErrors = true
		}
		for i, k := range kinds {
			p := &pending{kind: "QFPBDECSd"[k%9], name: string(rune('a' + k%3)), target: "SP"[k%2]}
			switch p.kind {
			case 'Q', 'F', 'P', 'E':
				p.ev = &StatementEvent{SQL: "x"}
			}
			if p.kind == 'P' || p.kind == 'Q' {
				p.stmt = &prepared{sql: "x"}
				if i%2 == 1 {
					p.refusal = "gatehouse: no"
				}
			}
			s.replies.push(p)
		}
		if e := s.upstreamToClient(); e == nil {
			t.Fatal("no ending")
		}
		s.replies.abandon()
		checkClientStream(t, toClient.Bytes(), masked)
	})
}

// checkClientStream reads what the relay sent the client as a client
// would: whole messages to the end, each one that decodes, and, when
// masked, no DataRow value other than the mask's "****" or NULL.
func checkClientStream(t *testing.T, sent []byte, masked bool) {
	t.Helper()
	for off := 0; off < len(sent); {
		if len(sent)-off < 5 {
			t.Fatalf("%d bytes at the end are not a whole message", len(sent)-off)
		}
		size := int(binary.BigEndian.Uint32(sent[off+1:]))
		if size < 4 || off+1+size > len(sent) {
			t.Fatalf("a message at byte %d claims %d bytes, %d are left", off, size, len(sent)-off-1)
		}
		one := sent[off : off+1+size]
		off += 1 + size
		msg, err := pgproto3.NewFrontend(bytes.NewReader(one), io.Discard).Receive()
		if err != nil {
			t.Fatalf("the client could not decode %q: %v", one, err)
		}
		if !masked {
			continue
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			for _, v := range m.Values {
				if v != nil && string(v) != "****" {
					t.Fatalf("a row reached the client with an unmasked value %q", v)
				}
			}
		case *pgproto3.ErrorResponse:
			checkWithheld(t, m)
		case *pgproto3.NoticeResponse:
			checkWithheld(t, (*pgproto3.ErrorResponse)(m))
		}
	}
}

// checkWithheld fails unless e is gatehouse's own refusal or carries
// nothing of the database's text (see redactError).
func checkWithheld(t *testing.T, e *pgproto3.ErrorResponse) {
	t.Helper()
	if e.Code == codeInsufficientPrivilege && e.Message == "gatehouse: no" {
		return
	}
	if !reflect.DeepEqual(e, redactError(e)) {
		t.Fatalf("a database error reached the client with its text: %+v", e)
	}
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// FuzzMessageReader reads arbitrary bytes with gatehouse's readers, in
// reads of a size the first byte chooses, and with pgproto3's, which read
// as much as they can: both must see the same messages, and refuse the
// stream at the same one. The first byte's low bit picks the side: the
// client's messages (pgproto3.Backend) or the database's (Frontend).
func FuzzMessageReader(f *testing.F) {
	f.Add(append([]byte{0}, clientStream(f)...))
	f.Add(append([]byte{1}, upstreamStream(f)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		own, theirs := ownClient, pgprotoClient
		if data[0]&1 == 1 {
			own, theirs = ownUpstream, pgprotoUpstream
		}
		chunk, stream := int(data[0]>>1)+1, data[1:]
		sizes := make([]int, len(stream)/chunk+1)
		for i := range sizes {
			sizes[i] = chunk
		}
		sameMessages(t, own(&splitReader{data: stream, sizes: sizes}, 1<<16), theirs(bytes.NewReader(stream), 1<<16))
	})
}
