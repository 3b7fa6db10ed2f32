// Package listen opens gatehouse's HTTP listeners under one rule: plain
// HTTP only on a loopback address. The certificate API carries ID tokens
// as bearer credentials, and the auditor console will carry sessions:
// neither may cross a network in clear, so any other address needs TLS.
package listen

import (
	"fmt"
	"net"
)

// HTTP describes a listener as the configuration names it, so that a
// refusal says which settings to change.
type HTTP struct {
	// Section is the configuration section: its settings are
	// SECTION.listen, SECTION.tls_cert and SECTION.tls_key ("ca").
	Section string
	// Addr is SECTION.listen, host:port.
	Addr string
	// TLS is whether a certificate and key are configured.
	TLS bool
	// Secret names what the requests carry, for the refusal: "ID tokens".
	Secret string
}

// Check applies the rule: without TLS, Addr must be a loopback address
// (127.0.0.0/8, ::1, or the name localhost).
func (h HTTP) Check() error {
	if !h.TLS && !IsLoopback(h.Addr) {
		return fmt.Errorf("%s.listen %s is not a loopback address: set %s.tls_cert and %s.tls_key (%s must not cross the network in clear)",
			h.Section, h.Addr, h.Section, h.Section, h.Secret)
	}
	return nil
}

// Listen checks the rule and opens the TCP listener. scheme is "https"
// with TLS, else "http".
func (h HTTP) Listen() (ln net.Listener, scheme string, err error) {
	if err := h.Check(); err != nil {
		return nil, "", err
	}
	if ln, err = net.Listen("tcp", h.Addr); err != nil {
		return nil, "", fmt.Errorf("%s.listen %s: %w", h.Section, h.Addr, err)
	}
	if h.TLS {
		return ln, "https", nil
	}
	return ln, "http", nil
}

// IsLoopback reports whether hostport names a loopback address: an IP in
// 127.0.0.0/8 or ::1, or the name localhost (RFC 6761 §6.3 keeps it on
// the loopback). Any other name is not: what it resolves to can change.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && IsLoopbackHost(host)
}

// IsLoopbackHost is IsLoopback for a host without a port (a URL's
// Hostname).
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
