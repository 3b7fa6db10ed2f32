package policy

import (
	"strings"
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

func TestOpsValidation(t *testing.T) {
	for _, tt := range []struct{ ops, want string }{
		{"  listen: 9100\n", `ops.listen: "9100" is not host:port`},
		{"  tls_cert: c.pem\n", "ops.tls_cert and ops.tls_key: set both or neither"},
	} {
		_, err := Parse([]byte("data_dir: /tmp/x\nops:\n" + tt.ops))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ops:\n%s: error %v, want %q", tt.ops, err, tt.want)
		}
	}
}
