package bastion

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
	gossh "golang.org/x/crypto/ssh"
)

func TestGlobalRequestRefusals(t *testing.T) {
	f := newFixture(t)
	client := f.login(f.goodCert())

	if _, err := client.Listen("tcp", "127.0.0.1:8080"); err == nil {
		t.Error("remote port forwarding (ssh -R) was allowed")
	}
	requests := []struct {
		typ     string
		payload []byte
	}{
		{"keepalive@openssh.com", nil},
		{"streamlocal-forward@openssh.com", gossh.Marshal(struct{ Path string }{"/tmp/agent.sock"})},
		{"cancel-tcpip-forward", gossh.Marshal(struct {
			Addr string
			Port uint32
		}{"127.0.0.1", 8080})},
	}
	for _, r := range requests {
		ok, _, err := client.SendRequest(r.typ, true, r.payload)
		if ok || err != nil {
			t.Errorf("%s: ok %v, err %v; want a refusal", r.typ, ok, err)
		}
	}
	client.Close()

	got := only(t, f.events(), event.TypeRequestRefused)
	want := []map[string]any{
		{"type": "tcpip-forward", "detail": "127.0.0.1:8080", "reason": "remote port forwarding is not allowed"},
		{"type": "streamlocal-forward@openssh.com", "detail": "/tmp/agent.sock", "reason": "remote socket forwarding is not allowed"},
		{"type": "cancel-tcpip-forward", "detail": "127.0.0.1:8080", "reason": "remote port forwarding is not allowed"},
	}
	if len(got) != len(want) {
		t.Fatalf("request.refused events %v, want %v (keepalives are not recorded)", got, want)
	}
	for i, w := range want {
		for k, v := range w {
			wantField(t, got[i], k, v)
		}
		if _, ok := got[i]["channel"]; ok {
			t.Errorf("global request refusal has a channel: %v", got[i])
		}
	}
}

func TestOtherChannelTypesRefused(t *testing.T) {
	f := newFixture(t)
	client := f.login(f.goodCert())
	opens := []struct {
		typ   string
		extra []byte
	}{
		{"x11", gossh.Marshal(struct {
			Addr string
			Port uint32
		}{"127.0.0.1", 6000})},
		{"direct-streamlocal@openssh.com", gossh.Marshal(struct {
			Path     string
			Reserved string
			Port     uint32
		}{"/var/run/postgresql/.s.PGSQL.5432", "", 0})},
		{"forwarded-tcpip", nil},
	}
	for _, o := range opens {
		_, _, err := client.OpenChannel(o.typ, o.extra)
		var oce *gossh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != gossh.Prohibited ||
			!strings.Contains(oce.Message, "gatehouse: "+o.typ+" channels are not allowed") {
			t.Errorf("open %s: %v, want prohibited with a message", o.typ, err)
		}
	}
	client.Close()

	got := only(t, f.events(), event.TypeChannelRefused)
	if len(got) != len(opens) {
		t.Fatalf("channel.refused events %v, want %d", got, len(opens))
	}
	for i, o := range opens {
		wantField(t, got[i], "type", o.typ)
		wantField(t, got[i], "reason", "channel type not allowed")
	}
	wantField(t, got[1], "host", "/var/run/postgresql/.s.PGSQL.5432")
}
