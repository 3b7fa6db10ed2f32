package pgwire

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestTakeOver: the relay reads the hijacked connection through the
// reader its Frontend was built on, and only when that Frontend holds no
// bytes it read ahead, which the relay's own reader would never see.
func TestTakeOver(t *testing.T) {
	twoReplies := encode(t, &pgproto3.ReadyForQuery{TxStatus: 'I'}, &pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"})
	tests := []struct {
		name     string
		received int // messages the Frontend read before the hijack
		foreign  bool
		want     string // the error; "" for none
	}{
		{"drained", 2, false, ""},
		{"nothing read yet", 0, false, ""},
		{"a message read ahead", 1, false, "holds 18 unread bytes"},
		{"a Frontend pgconn did not build here", 2, true, "reader is unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &upstreamInputs{}
			in := bytes.NewReader(twoReplies)
			f := u.buildFrontend(in, io.Discard)
			if tt.foreign {
				f = pgproto3.NewFrontend(in, io.Discard)
			}
			for range tt.received {
				if _, err := f.Receive(); err != nil {
					t.Fatal(err)
				}
			}
			hc := &pgconn.HijackedConn{Frontend: f, Config: &pgconn.Config{}}
			got, err := u.takeOver(hc)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "" && (got != in || hc.Frontend != nil):
				t.Fatalf("reader %v, Frontend %v kept; want the Frontend's reader, and the Frontend let go", got, hc.Frontend)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v; want one saying %q", err, tt.want)
			}
		})
	}
}
