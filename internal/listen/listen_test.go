package listen

import (
	"strings"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8443", true},
		{"127.1.2.3:8443", true},
		{"[::1]:8443", true},
		{"localhost:8443", true},
		{"127.0.0.1:0", true},
		{"[::ffff:127.0.0.1]:8443", true}, // IPv4-mapped loopback
		{"0.0.0.0:8443", false},           // every interface
		{"[::]:8443", false},
		{":8443", false}, // every interface too
		{"192.168.1.10:8443", false},
		{"10.0.0.1:8443", false},
		{"[fe80::1]:8443", false},
		{"ca.example.com:8443", false},
		{"localhost.example.com:8443", false},
		{"LOCALHOST:8443", false}, // resolved by the system, not the rule
		{"127.0.0.1", false},      // no port: not a listen address
		{"", false},
	} {
		if got := IsLoopback(tt.addr); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestHTTPCheck(t *testing.T) {
	const refusal = "ca.listen 192.168.1.10:8443 is not a loopback address: set ca.tls_cert and ca.tls_key (ID tokens must not cross the network in clear)"
	for _, tt := range []struct {
		addr string
		tls  bool
		want string // "" accepted
	}{
		{"127.0.0.1:8443", false, ""},
		{"[::1]:8443", false, ""},
		{"localhost:8443", false, ""},
		{"192.168.1.10:8443", false, refusal},
		{"0.0.0.0:8443", false, "ca.listen 0.0.0.0:8443 is not a loopback address"},
		{"ca.example.com:8443", false, "ca.listen ca.example.com:8443 is not a loopback address"},
		{"192.168.1.10:8443", true, ""},
		{"0.0.0.0:8443", true, ""},
	} {
		err := HTTP{Section: "ca", Addr: tt.addr, TLS: tt.tls, Secret: "ID tokens"}.Check()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s tls=%v: %v, want accepted", tt.addr, tt.tls, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s tls=%v: %v, want %q", tt.addr, tt.tls, err, tt.want)
		}
	}
}

func TestHTTPListen(t *testing.T) {
	for _, tt := range []struct {
		addr   string
		tls    bool
		scheme string
	}{
		{"127.0.0.1:0", false, "http"},
		{"127.0.0.1:0", true, "https"},
	} {
		ln, scheme, err := HTTP{Section: "ca", Addr: tt.addr, TLS: tt.tls, Secret: "ID tokens"}.Listen()
		if err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		if scheme != tt.scheme {
			t.Errorf("%s tls=%v: scheme %q, want %q", tt.addr, tt.tls, scheme, tt.scheme)
		}
		ln.Close()
	}
	if _, _, err := (HTTP{Section: "ca", Addr: "192.168.1.10:0", Secret: "ID tokens"}).Listen(); err == nil {
		t.Error("plain HTTP on a LAN address was opened")
	}
	if _, _, err := (HTTP{Section: "ca", Addr: "127.0.0.1:http-alt-nonexistent", Secret: "ID tokens"}).Listen(); err == nil ||
		!strings.HasPrefix(err.Error(), "ca.listen 127.0.0.1:http-alt-nonexistent: ") {
		t.Errorf("bad port: %v, want an error naming ca.listen", err)
	}
}
