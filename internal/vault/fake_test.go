package vault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeVault answers Vault API requests with recorded exchanges: the real
// captures of testdata/vault-1.21.4, and the few of testdata/synthesized.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string]string // "METHOD /v1/path" → exchange name
	seen   []fakeRequest
	notify chan fakeRequest // every request, for tests that wait for one
}

type fakeRequest struct {
	Method, Path, Token string
	Body                map[string]any
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{t: t, routes: map[string]string{}, notify: make(chan fakeRequest, 64)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// on answers "METHOD /v1/path" with the named exchange; POST covers PUT.
func (f *fakeVault) on(route, exchange string) *fakeVault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = exchange
	return f
}

func (f *fakeVault) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(context.Background(), Config{Address: f.srv.URL, Token: "root"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeVault) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.seen...)
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := fakeRequest{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Vault-Token")}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req.Body); err != nil {
			f.t.Errorf("fake vault: %s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		}
	}
	method := r.Method
	if method == http.MethodPut {
		method = http.MethodPost // Vault treats the two alike; the captures used POST
	}
	f.mu.Lock()
	name, ok := f.routes[method+" "+r.URL.Path]
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	select {
	case f.notify <- req:
	default:
	}
	if !ok {
		// What Vault says for a path no mount handles.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":["no handler for route"]}`)
		return
	}
	status, header, respBody := loadExchange(f.t, name)
	for k, vs := range header {
		if k != "Date" && k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(status)
	w.Write(respBody)
}

// exchangeDir finds an exchange among the captured and synthesized ones.
func exchangeDir(t *testing.T, name string) string {
	for _, dir := range []string{"testdata/vault-1.21.4", "testdata/synthesized"} {
		if _, err := os.Stat(filepath.Join(dir, name+".headers")); err == nil {
			return dir
		}
	}
	t.Fatalf("fake vault: no exchange %q in testdata", name)
	return ""
}

func loadExchange(t *testing.T, name string) (int, http.Header, []byte) {
	dir := exchangeDir(t, name)
	head, err := os.ReadFile(filepath.Join(dir, name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("exchange %s: status line: %v", name, err)
	}
	fields := strings.Fields(line)
	status, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatalf("exchange %s: status line %q", name, line)
	}
	mime, err := tp.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		t.Fatalf("exchange %s: headers: %v", name, err)
	}
	body, err := os.ReadFile(filepath.Join(dir, name+".body"))
	if err != nil {
		t.Fatal(err)
	}
	return status, http.Header(mime), body
}

// capturedRequest is the JSON body of a captured request.
func capturedRequest(t *testing.T, name string) map[string]any {
	b, err := os.ReadFile(filepath.Join("testdata/vault-1.21.4", name+".request"))
	if err != nil {
		t.Fatal(err)
	}
	_, js, _ := strings.Cut(string(b), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("%s.request: %v", name, err)
	}
	return m
}
