package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	stats Stats
	err   error
}

func start(ctx context.Context, a, b io.ReadWriteCloser) <-chan result {
	done := make(chan result, 1)
	go func() {
		s, err := Relay(ctx, a, b)
		done <- result{s, err}
	}()
	return done
}

func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Relay did not return")
		return result{}
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestPipeBothWays(t *testing.T) {
	aPeer, a := net.Pipe()
	bPeer, b := net.Pipe()
	done := start(context.Background(), a, b)

	go aPeer.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(bPeer, got); err != nil || string(got) != "ping" {
		t.Fatalf("b side read %q, %v", got, err)
	}
	go bPeer.Write([]byte("pong!"))
	got = make([]byte, 5)
	if _, err := io.ReadFull(aPeer, got); err != nil || string(got) != "pong!" {
		t.Fatalf("a side read %q, %v", got, err)
	}

	// net.Pipe has no half-close: closing one peer ends the relay and
	// the other peer sees end of input.
	aPeer.Close()
	if n, err := bPeer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("b peer read after a closed: %d, %v; want EOF", n, err)
	}
	r := wait(t, done)
	if r.err != nil {
		t.Fatalf("Relay error: %v", r.err)
	}
	if r.stats != (Stats{AToB: 4, BToA: 5}) {
		t.Fatalf("stats %+v", r.stats)
	}
	bPeer.Close()
}

// TestHalfClose checks the request/response pattern: the client sends a
// request and shuts down its write side; the server reads to EOF, answers
// and closes. The answer must still reach the client.
func TestHalfClose(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := start(context.Background(), a, b)

	serverErr := make(chan error, 1)
	go func() {
		req, err := io.ReadAll(server) // only returns once the half-close arrived
		if err != nil {
			serverErr <- err
			return
		}
		_, err = server.Write(append([]byte("echo:"), req...))
		if err == nil {
			err = server.CloseWrite()
		}
		serverErr <- err
	}()

	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(client)
	if err != nil || string(resp) != "echo:request" {
		t.Fatalf("client read %q, %v", resp, err)
	}
	if err := <-serverErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	r := wait(t, done)
	if r.err != nil {
		t.Fatalf("Relay error: %v", r.err)
	}
	if r.stats != (Stats{AToB: 7, BToA: 12}) {
		t.Fatalf("stats %+v", r.stats)
	}
}

// TestHalfCloseKeepsOtherDirection: after a's peer half-closes, data from
// b keeps flowing to a for as long as b sends.
func TestHalfCloseKeepsOtherDirection(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := start(context.Background(), a, b)

	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read %d, %v; want EOF from the half-close", n, err)
	}
	for i := range 3 {
		msg := []byte{'0' + byte(i)}
		if _, err := server.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 1)
		if _, err := io.ReadFull(client, got); err != nil || got[0] != msg[0] {
			t.Fatalf("client read %q, %v", got, err)
		}
	}
	select {
	case r := <-done:
		t.Fatalf("Relay returned while b was still sending: %+v", r)
	default:
	}
	server.Close()
	r := wait(t, done)
	if r.err != nil {
		t.Fatalf("Relay error: %v", r.err)
	}
	if r.stats != (Stats{AToB: 0, BToA: 3}) {
		t.Fatalf("stats %+v", r.stats)
	}
}

func TestCancelClosesBothSides(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	cause := errors.New("session ended")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := start(ctx, a, b)

	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	cancel(cause)
	r := wait(t, done)
	if !errors.Is(r.err, cause) {
		t.Fatalf("Relay error %v, want the cancellation cause", r.err)
	}
	if r.stats.AToB != 1 {
		t.Fatalf("stats %+v", r.stats)
	}
	for name, c := range map[string]net.Conn{"client": client, "server": server} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s read after cancel: %v, want EOF", name, err)
		}
	}
}

func TestAlreadyCancelled(t *testing.T) {
	_, a := net.Pipe()
	_, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := wait(t, start(ctx, a, b))
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Relay error %v, want context.Canceled", r.err)
	}
}

// failing is a connection whose reads fail after its data is consumed.
type failing struct {
	data   *bytes.Reader
	err    error
	closed chan struct{}
}

func (f *failing) Read(p []byte) (int, error) {
	if f.data.Len() > 0 {
		return f.data.Read(p)
	}
	return 0, f.err
}
func (f *failing) Write(p []byte) (int, error) { return len(p), nil }
func (f *failing) Close() error {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	return nil
}

func TestReadErrorEndsRelay(t *testing.T) {
	boom := errors.New("connection reset by gremlins")
	a := &failing{data: bytes.NewReader([]byte("abc")), err: boom, closed: make(chan struct{})}
	bPeer, b := net.Pipe()
	go io.Copy(io.Discard, bPeer)
	r := wait(t, start(context.Background(), a, b))
	if !errors.Is(r.err, boom) || !strings.Contains(r.err.Error(), "a to b") {
		t.Fatalf("Relay error %v, want the read error with its direction", r.err)
	}
	if r.stats.AToB != 3 {
		t.Fatalf("stats %+v", r.stats)
	}
	select {
	case <-a.closed:
	default:
		t.Fatal("a was not closed")
	}
	if _, err := bPeer.Write([]byte("x")); err == nil {
		t.Fatal("b was not closed")
	}
	bPeer.Close()
}

func TestPeerResetIsReported(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := start(context.Background(), a, b)
	// SO_LINGER 0 turns Close into a reset: a real error for the relay,
	// unlike an orderly close.
	if err := server.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	server.Close()
	r := wait(t, done)
	if r.err == nil {
		t.Fatal("Relay returned no error after the target reset the connection")
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after relay end: %v, want EOF", err)
	}
}
