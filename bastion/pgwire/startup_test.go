package pgwire

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

func isReady(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok }

func TestStartup(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var started []SessionInfo
	cfg := baseConfig(t, f)
	var authorized Startup
	auth := cfg.Authorize
	cfg.Authorize = func(ctx context.Context, s Startup) (*Upstream, error) {
		authorized = s
		return auth(ctx, s)
	}
	cfg.OnStart = func(i SessionInfo) error { started = append(started, i); return nil }
	cfg.Cancels = &CancelRegistry{}

	tests := []struct {
		name    string
		first   []pgproto3.FrontendMessage // before the StartupMessage
		startup *pgproto3.StartupMessage
		want    []string
	}{
		{
			name:    "plain",
			startup: startup("readonly", "application_name", "psql", "client_encoding", "UTF8", "DateStyle", "ISO, MDY"),
			want:    []string{"R:ok", "S:client_encoding=UTF8", "S:server_version=15.0 (fake)", "K", "Z:I"},
		},
		{
			name:    "SSLRequest then GSSENCRequest",
			first:   []pgproto3.FrontendMessage{&pgproto3.SSLRequest{}, &pgproto3.GSSEncRequest{}},
			startup: startup("readonly"),
			want:    []string{"R:ok", "S:client_encoding=UTF8", "S:server_version=15.0 (fake)", "K", "Z:I"},
		},
		{
			name: "protocol 3.2 is negotiated down to 3.0",
			startup: &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32, Parameters: map[string]string{
				"user": "readonly", "_pq_.test_option": "x", "_pq_.another": "y",
			}},
			want: []string{"v:0:_pq_.another,_pq_.test_option", "R:ok", "S:client_encoding=UTF8", "S:server_version=15.0 (fake)", "K", "Z:I"},
		},
		{
			name:    "protocol 3.0 with a protocol option",
			startup: startup("readonly", "_pq_.x", "1"),
			want:    []string{"v:0:_pq_.x", "R:ok", "S:client_encoding=UTF8", "S:server_version=15.0 (fake)", "K", "Z:I"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serveClient(t, context.Background(), cfg)
			for _, m := range tt.first {
				c.send(m)
				c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				var b [1]byte
				if _, err := io.ReadFull(c.conn, b[:]); err != nil || b[0] != 'N' {
					t.Fatalf("answer to %T: %q, %v; want N", m, b, err)
				}
			}
			c.send(tt.startup)
			if got := c.untilReady(); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
			if c.key.ProcessID != fakePID || string(c.key.SecretKey) == fakeSecret || len(c.key.SecretKey) != 4 {
				t.Errorf("client got key %d/%x; it must be the backend's process id with a 4-byte secret of gatehouse's own, not the upstream's", c.key.ProcessID, c.key.SecretKey)
			}
			up := f.lastStartup()
			if up.ProtocolVersion != pgproto3.ProtocolVersion30 {
				t.Errorf("upstream was asked for protocol %x, want 3.0", up.ProtocolVersion)
			}
			for k := range up.Parameters {
				if strings.HasPrefix(k, "_pq_.") {
					t.Errorf("upstream got protocol option %q", k)
				}
			}
			if up.Parameters["user"] != "app_ro" || up.Parameters["default_transaction_read_only"] != "on" {
				t.Errorf("upstream startup parameters %v: want user app_ro and the bastion's runtime params", up.Parameters)
			}
			if want := tt.startup.Parameters["application_name"]; up.Parameters["application_name"] != want {
				t.Errorf("application_name upstream = %q, want the client's %q", up.Parameters["application_name"], want)
			}
			if authorized.User != "readonly" || authorized.Database != tt.startup.Parameters["database"] && authorized.Database != "readonly" {
				t.Errorf("Authorize got %+v", authorized)
			}
			c.send(&pgproto3.Terminate{})
			if err := c.result(); err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	if len(started) != len(tests) || started[0].UpstreamPID != fakePID || started[0].UpstreamUser != "app_ro" || started[0].ServerVersion != "15.0 (fake)" || started[0].TLS {
		t.Errorf("OnStart got %+v", started)
	}
}

func TestStartupRefused(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	typed := &Error{Code: "28P01", Message: `gatehouse: no grant "orders:admin" in your certificate`}
	tests := []struct {
		name      string
		startup   *pgproto3.StartupMessage
		authorize error
		wantCode  string
		wantText  string
	}{
		{"options setting role", startup("readonly", "options", "-c role=admin"), nil, "42501", `startup parameter "role" is not allowed`},
		{"replication", startup("readonly", "replication", "database"), nil, "42501", `startup parameter "replication" is not allowed`},
		{"session_authorization", startup("readonly", "session_authorization", "postgres"), nil, "42501", `"session_authorization" is not allowed`},
		{"default_transaction_read_only", startup("readonly", "default_transaction_read_only", "off"), nil, "42501", `"default_transaction_read_only" is not allowed`},
		{"work_mem (the database's memory)", startup("readonly", "work_mem", "64GB"), nil, "42501", `"work_mem" is not allowed`},
		{"unsafe client encoding", startup("readonly", "client_encoding", "SJIS"), nil, "42501", `client_encoding "SJIS" is not allowed`},
		{"standard_conforming_strings off", startup("readonly", "standard_conforming_strings", "off"), nil, "42501", "standard_conforming_strings must stay on"},
		{"no user", &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"database": "x"}}, nil, "28000", "no PostgreSQL user name"},
		{"Authorize error", startup("admin"), errors.New("no grant orders:admin; internal detail"), "28000", "gatehouse: access denied"},
		{"Authorize *Error", startup("admin"), typed, "28P01", typed.Message},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.messages())
			called := false
			cfg := baseConfig(t, f)
			cfg.Authorize = func(ctx context.Context, s Startup) (*Upstream, error) {
				called = true
				if tt.authorize != nil {
					return nil, tt.authorize
				}
				return &Upstream{Config: f.config(t)}, nil
			}
			c := serveClient(t, context.Background(), cfg)
			c.send(tt.startup)
			got := c.untilEOF()
			if len(got) != 1 || !strings.HasPrefix(got[0], "E:FATAL:"+tt.wantCode+":") || !strings.Contains(got[0], tt.wantText) {
				t.Fatalf("got %q, want one FATAL %s containing %q", got, tt.wantCode, tt.wantText)
			}
			if strings.Contains(got[0], "internal detail") {
				t.Errorf("an untyped Authorize error reached the client: %q", got[0])
			}
			if called != (tt.authorize != nil) {
				t.Errorf("Authorize called = %v", called)
			}
			if c.result() == nil {
				t.Error("Serve returned nil for a refused session")
			}
			if len(f.messages()) != before || f.lastStartup() != nil {
				t.Error("the upstream was contacted")
			}
		})
	}
}

// TestUpstreamFailureHidesPassword: whatever goes wrong upstream, the
// client's message never holds the password — not even when the server
// echoes it.
func TestUpstreamFailureHidesPassword(t *testing.T) {
	checkLeaks(t)
	const password = "pw-s3cret-Zq9"
	echoing := newFakeUpstream(t)
	echoing.password = password
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		dsn  string
		want string
	}{
		{"server echoes the password", "postgres://app_ro:" + password + "@" + echoing.ln.Addr().String() + "/orders?sslmode=disable", `E:FATAL:28P01:gatehouse: the database refused the connection: password authentication failed for user "app_ro" (tried "********")`},
		{"unreachable", "postgres://app_ro:" + password + "@" + closedAddr + "/orders?sslmode=disable&connect_timeout=2", "E:FATAL:08001:gatehouse: the database is unreachable"},
		{"TLS required, server has none", "postgres://app_ro:" + password + "@" + echoing.ln.Addr().String() + "/orders?sslmode=require", "E:FATAL:08001:gatehouse: TLS with the database failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc, err := pgconn.ParseConfig(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{
				Authorize: func(context.Context, Startup) (*Upstream, error) { return &Upstream{Config: pc}, nil },
				Inspect:   policyDenyingDelete,
			}
			c := serveClient(t, context.Background(), cfg)
			c.send(startup("readonly"))
			got := c.untilEOF()
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
			err = c.result()
			if err == nil || strings.Contains(err.Error(), password) {
				t.Errorf("Serve returned %v: want an error without the password", err)
			}
		})
	}
}

func TestStartupPackets(t *testing.T) {
	checkLeaks(t)
	packet := func(code uint32, rest ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(rest)))
		b = binary.BigEndian.AppendUint32(b, code)
		return append(b, rest...)
	}
	tests := []struct {
		name  string
		input []byte
		want  string // the client's FATAL; "" for none
	}{
		{"protocol 2", packet(2 << 16), "E:FATAL:0A000:gatehouse: unsupported frontend protocol 2.0: server supports 3.0"},
		{"length too small", []byte{0, 0, 0, 4}, "E:FATAL:08P01:gatehouse: invalid length of startup packet: 0"},
		{"length too large", []byte{0, 1, 0, 0, 0, 3, 0, 0}, "E:FATAL:08P01:gatehouse: invalid length of startup packet: 65532"},
		{"no terminator", packet(pgproto3.ProtocolVersion30, 'u', 0, 'x'), "E:FATAL:08P01:gatehouse: invalid startup packet layout"},
		{"SSLRequest twice", append(packet(codeSSLRequest), packet(codeSSLRequest)...), "E:FATAL:08P01:gatehouse: encryption was requested twice"},
		{"cancel too short", packet(codeCancelRequest, 1, 2), "E:FATAL:08P01:gatehouse: invalid cancel request"},
		{"closed early", []byte{0, 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Authorize: func(context.Context, Startup) (*Upstream, error) { return nil, errors.New("unreachable") },
				Inspect:   policyDenyingDelete,
			}
			c := serveClient(t, context.Background(), cfg)
			// net.Pipe writes wait for the reader: write while reading.
			wrote := make(chan struct{})
			go func() { defer close(wrote); c.conn.Write(tt.input) }()
			defer func() { c.conn.Close(); <-wrote }()
			if tt.want == "" {
				c.conn.Close()
				c.result()
				return
			}
			if tt.name == "SSLRequest twice" {
				var b [1]byte
				if _, err := io.ReadFull(c.conn, b[:]); err != nil || b[0] != 'N' {
					t.Fatalf("first answer %q, %v", b, err)
				}
			}
			var got []string
			for {
				msg, err := c.receive()
				if err != nil {
					break
				}
				got = append(got, summarize(msg))
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	checkLeaks(t)
	cfg := Config{
		Authorize:        func(context.Context, Startup) (*Upstream, error) { return nil, errors.New("unreachable") },
		Inspect:          policyDenyingDelete,
		HandshakeTimeout: 100 * time.Millisecond,
	}
	c := serveClient(t, context.Background(), cfg)
	c.conn.Write([]byte{0, 0, 0})
	if err := c.result(); err == nil || !strings.Contains(err.Error(), "no startup message within") {
		t.Fatalf("Serve = %v, want a handshake timeout", err)
	}
}

func TestConfigCheck(t *testing.T) {
	checkLeaks(t)
	a, b := net.Pipe()
	defer a.Close()
	err := Serve(context.Background(), b, Config{})
	if err == nil || !strings.Contains(err.Error(), "Authorize is nil") || !strings.Contains(err.Error(), "Inspect is nil") {
		t.Fatalf("Serve with an empty Config = %v", err)
	}
}

// TestStartupHarmlessParameters: what client libraries send in their
// start-up packet for their own session passes to the database.
func TestStartupHarmlessParameters(t *testing.T) {
	params := map[string]string{
		"application_name": "app", "client_encoding": "UTF8", "DateStyle": "ISO, MDY", "TimeZone": "UTC",
		"extra_float_digits": "2", "search_path": "public", "IntervalStyle": "iso_8601", "bytea_output": "hex",
		"client_min_messages": "warning", "statement_timeout": "5s", "lock_timeout": "1s",
		"idle_in_transaction_session_timeout": "1min", "idle_session_timeout": "1h",
		"default_transaction_isolation": "serializable",
	}
	for k, v := range params {
		m := startup("readonly", k, v)
		st, err := checkStartup(&startupPacket{startup: m}, nil)
		if err != nil {
			t.Errorf("%s=%s refused: %v", k, v, err)
			continue
		}
		found := false
		for name, got := range st.Params {
			found = found || (strings.EqualFold(name, k) && got == v)
		}
		if !found {
			t.Errorf("%s=%s not passed on: %v", k, v, st.Params)
		}
	}
}

// TestStartupParameterNames: PostgreSQL matches run-time parameter names
// without regard to case, so a parameter reaches Params under its
// lower-case name whatever case the client wrote (a hook reading
// "search_path" must see "Search_Path"), and the same name twice in two
// cases is refused rather than left to the database to pick one.
func TestStartupParameterNames(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   map[string]string // nil: refused
		text   string
	}{
		{"lower", map[string]string{"search_path": "s"}, map[string]string{"search_path": "s"}, ""},
		{"mixed", map[string]string{"Search_Path": "s"}, map[string]string{"search_path": "s"}, ""},
		{"upper", map[string]string{"SEARCH_PATH": "s", "DateStyle": "ISO"}, map[string]string{"search_path": "s", "datestyle": "ISO"}, ""},
		{"twice", map[string]string{"search_path": "a", "SEARCH_PATH": "b"}, nil, `"search_path" is given twice`},
		{"twice, encoding", map[string]string{"client_encoding": "UTF8", "Client_Encoding": "LATIN1"}, nil, "given twice"},
		{"upper options", map[string]string{"OPTIONS": "-c role=x"}, nil, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"user": "u", "database": "d"}
			maps.Copy(params, tt.params)
			pkt := &startupPacket{startup: &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params}}
			s, err := checkStartup(pkt, nil)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("accepted %v (err %v), want a refusal with %q", tt.params, err, tt.text)
				}
				return
			}
			if err != nil || !maps.Equal(s.Params, tt.want) {
				t.Fatalf("Params %v, err %v; want %v", s.Params, err, tt.want)
			}
		})
	}
}

// TestStartupOptions: "options" (PGOPTIONS) is read as PostgreSQL reads it,
// and each -c name=value is judged like a parameter of the packet; any
// other backend switch, and a parameter options may not set, is refused.
func TestStartupOptions(t *testing.T) {
	tests := []struct {
		options string
		want    map[string]string // nil: refused
		text    string
	}{
		{"-c search_path=app", map[string]string{"search_path": "app"}, ""},
		{"-csearch_path=app --statement-timeout=5s", map[string]string{"search_path": "app", "statement_timeout": "5s"}, ""},
		{`-c search_path=a\,\ b  -c DateStyle=ISO`, map[string]string{"search_path": "a, b", "datestyle": "ISO"}, ""},
		{"", map[string]string{}, ""},
		{"-c role=admin", nil, `"role" is not allowed`},
		{"-c default_transaction_read_only=off", nil, "not allowed"},
		{"-c user=postgres", nil, "not allowed"},
		{"-c _pq_.x=1", nil, "not allowed"},
		{"-B 100", nil, `option "-B" is not allowed`},
		{"-c", nil, "not allowed"},
		{"-c search_path", nil, "not allowed"},
		{"-c standard_conforming_strings=off", nil, "standard_conforming_strings must stay on"},
		{"-c search_path=a -c SEARCH_PATH=b", nil, "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.options, func(t *testing.T) {
			params := map[string]string{"user": "u", "database": "d", "options": tt.options}
			pkt := &startupPacket{startup: &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params}}
			s, err := checkStartup(pkt, nil)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("accepted (err %v), want a refusal with %q", err, tt.text)
				}
				return
			}
			if err != nil || !maps.Equal(s.Params, tt.want) || s.User != "u" {
				t.Fatalf("Params %v, user %q, err %v; want %v", s.Params, s.User, err, tt.want)
			}
		})
	}
	// Given in the packet and in options: twice.
	pkt := &startupPacket{startup: &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "u", "search_path": "a", "options": "-c search_path=b"}}}
	if _, err := checkStartup(pkt, nil); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("search_path in the packet and in options: %v", err)
	}
}
