package policy

import (
	"testing"
	"time"
)

func TestOpsAndDrainDefaults(t *testing.T) {
	c, err := Parse([]byte("data_dir: /tmp/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SSH.DrainTimeout.D() != 30*time.Second {
		t.Errorf("ssh.drain_timeout defaults to %v, want 30s", c.SSH.DrainTimeout.D())
	}
	// Unset stays unset: serve tells a default address taken by another
	// program (turn the endpoint off) from one the operator chose (stop).
	if c.Ops.Listen != "" || c.Ops.TLS() {
		t.Errorf("ops = %+v, want unset", c.Ops)
	}
	c, err = Parse([]byte("data_dir: /tmp/x\nssh:\n  drain_timeout: 3s\nops:\n  listen: 0.0.0.0:9100\n  tls_cert: c.pem\n  tls_key: k.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SSH.DrainTimeout.D() != 3*time.Second || c.Ops.Listen != "0.0.0.0:9100" || !c.Ops.TLS() {
		t.Errorf("parsed ssh.drain_timeout %v, ops %+v", c.SSH.DrainTimeout.D(), c.Ops)
	}
}
