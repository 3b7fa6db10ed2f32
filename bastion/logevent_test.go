package bastion

import (
	"bytes"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"log/slog"
	"strings"
	"testing"
)

// TestLoggedEventIsReadable: a logged event shows its recorded field
// names and values, never a Go struct.
func TestLoggedEventIsReadable(t *testing.T) {
	cases := []struct {
		name string
		data any
		want []string
	}{
		{"refused channel", event.ChannelRefused{Channel: 2, Type: "direct-tcpip", Host: "10.0.0.1", Port: 22, Reason: "destination is an address"},
			[]string{"event.channel=2", "event.type=direct-tcpip", "event.host=10.0.0.1", "event.port=22", `event.reason="destination is an address"`}},
		{"nested values", event.AuthSuccess{Method: "publickey", Principals: []string{"orders:readonly"}, KeyFacts: event.KeyFacts{Serial: 7272410279087210592}},
			[]string{"event.method=publickey", `event.principals="[\"orders:readonly\"]"`, "event.serial=7272410279087210592"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Warn("x", slog.Any("event", loggedEvent{tc.data}))
			got := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("log line lacks %s:\n%s", w, got)
				}
			}
			if strings.Contains(got, "{Channel:") || strings.Contains(got, "{Method:") {
				t.Errorf("log line holds a Go struct:\n%s", got)
			}
		})
	}
}
