package login

import (
	"net/url"
	"strings"
	"testing"
)

// The decoders of what other parties send: the CA's error body, the
// redirect to the loopback callback and the CA's known_hosts text.

func FuzzDecodeServerError(f *testing.F) {
	f.Add(403, []byte(`{"error":"no_grant","message":"no grant for orders:admin"}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(401, []byte(`{"error":""}`))
	f.Add(500, []byte(strings.Repeat("x", 300)))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeServerError("refused the certificate", status, body)
		if e.Code == "" || e.StatusCode != status || !strings.HasPrefix(e.Error(), "gatehouse CA refused the certificate: ") {
			t.Errorf("decodeServerError(%d, %q) = %+v", status, body, e)
		}
	})
}

func FuzzParseAuthResponse(f *testing.F) {
	f.Add("code=abc&state=s1", "s1")
	f.Add("error=access_denied&error_description=no&state=s1", "s1")
	f.Add("code=abc&state=s2", "s1")
	f.Add("state=s1", "s1")
	f.Fuzz(func(t *testing.T, query, state string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		r := parseAuthResponse(q, state)
		if (r.code == "") == (r.err == nil) {
			t.Fatalf("parseAuthResponse(%q) = %+v: want exactly a code or an error", query, r)
		}
		if r.err == nil && q.Get("state") != state {
			t.Fatalf("accepted state %q, want %q", q.Get("state"), state)
		}
	})
}

func FuzzCheckKnownHosts(f *testing.F) {
	f.Add("@cert-authority gatehouse,127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
	f.Add("gatehouse ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		out, err := checkKnownHosts(text)
		if err == nil && !strings.HasSuffix(string(out), "\n") {
			t.Fatalf("checkKnownHosts(%q) = %q", text, out)
		}
	})
}
