package policy

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// OpsConfig configures the operations endpoint of `gatehouse serve`
// (docs/operations.md): /metrics, /healthz and /readyz.
type OpsConfig struct {
	// Listen is host:port; empty means DefaultOpsListen, and a default
	// address that is taken (a node exporter on 9100) only turns the
	// endpoint off with a logged error, while an address set here that
	// cannot be had stops serve. Plain HTTP only on loopback.
	Listen  string `yaml:"listen"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Pprof serves the Go runtime's profiles (net/http/pprof) under
	// /debug/pprof/ on the endpoint; default off.
	Pprof bool `yaml:"pprof"`
}

// DefaultOpsListen is ops.listen's default.
const DefaultOpsListen = "127.0.0.1:9100"

// TLS says whether the operations endpoint serves HTTPS.
func (c OpsConfig) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// DefaultDrainTimeout is ssh.drain_timeout's default: how long live
// sessions may go on after SIGTERM before serve ends them.
const DefaultDrainTimeout = 30 * time.Second

func (c OpsConfig) validate() []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); c.Listen != "" && err != nil {
		errs = append(errs, fmt.Errorf("ops.listen: %q is not host:port", c.Listen))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("ops.tls_cert and ops.tls_key: set both or neither"))
	}
	return errs
}
