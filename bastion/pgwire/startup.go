package pgwire

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Start-up packet codes (PostgreSQL protocol §55.7, "StartupMessage",
// "SSLRequest", "GSSENCRequest", "CancelRequest").
const (
	codeCancelRequest = 80877102
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	// maxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH (pqcomm.h).
	maxStartupPacket = 10000
)

// startupPacket is the client's first packet that is not an encryption
// request: a StartupMessage or a CancelRequest.
type startupPacket struct {
	startup *pgproto3.StartupMessage // decoded as 3.0, whatever minor was asked
	minor   int
	cancel  *pgproto3.CancelRequest
}

// readStartup reads the client's start-up packets, answering SSLRequest and
// GSSENCRequest with 'N' (the tunnel is the encryption; protocol §55.2.10),
// until a StartupMessage or CancelRequest. Each encryption request may come
// once, as PostgreSQL allows. It reads exactly the packets' bytes, so no
// byte the client sent early is taken for something sent later.
//
// Malformed packets are returned as *Error, I/O failures as they are.
func readStartup(rw io.ReadWriter) (*startupPacket, error) {
	var sslSeen, gssSeen bool
	for {
		code, body, err := readStartupPacket(rw)
		if err != nil {
			return nil, err
		}
		switch {
		case code == codeSSLRequest && !sslSeen:
			sslSeen = true
		case code == codeGSSENCRequest && !gssSeen:
			gssSeen = true
		case code == codeSSLRequest || code == codeGSSENCRequest:
			return nil, &Error{Code: codeProtocolViolation, Message: "gatehouse: encryption was requested twice"}
		case code == codeCancelRequest:
			var m pgproto3.CancelRequest
			if err := m.Decode(body); err != nil {
				return nil, &Error{Code: codeProtocolViolation, Message: "gatehouse: invalid cancel request", Err: err}
			}
			return &startupPacket{cancel: &m}, nil
		default:
			return decodeStartupMessage(code, body)
		}
		if _, err := rw.Write([]byte{'N'}); err != nil {
			return nil, err
		}
	}
}

// readStartupPacket reads one length-prefixed start-up packet and returns
// its code (protocol version or request code) and its whole body.
func readStartupPacket(r io.Reader) (uint32, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(hdr[:]))) - 4
	if n < 4 || n > maxStartupPacket {
		return 0, nil, &Error{Code: codeProtocolViolation, Message: fmt.Sprintf("gatehouse: invalid length of startup packet: %d", n)}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(body), body, nil
}

// decodeStartupMessage decodes a StartupMessage of any 3.x minor version.
// pgproto3 decodes only 3.0 and 3.2; PostgreSQL accepts every 3.x and
// negotiates, so the version is read here and the parameters decoded as 3.0.
func decodeStartupMessage(code uint32, body []byte) (*startupPacket, error) {
	major, minor := int(code>>16), int(code&0xffff)
	if major != 3 {
		return nil, &Error{Code: codeFeatureNotSupported, Message: fmt.Sprintf("gatehouse: unsupported frontend protocol %d.%d: server supports 3.0", major, minor)}
	}
	b := slices.Clone(body)
	binary.BigEndian.PutUint32(b, pgproto3.ProtocolVersion30)
	var m pgproto3.StartupMessage
	if err := m.Decode(b); err != nil {
		return nil, &Error{Code: codeProtocolViolation, Message: "gatehouse: invalid startup packet layout", Err: err}
	}
	return &startupPacket{startup: &m, minor: minor}, nil
}

// DefaultStartupParameters returns the start-up parameters a client may
// send by default: what psql, pgbench, pgx, JDBC and lib/pq send, none of
// which changes who the session is. Refused, for example: replication,
// session_authorization, role. The "options" parameter is read for the
// parameters it sets (startupParams), each judged by this list, so that
// "-c role=..." or "-c default_transaction_read_only=off" is refused.
func DefaultStartupParameters() []string {
	return []string{
		"application_name", "client_encoding", "DateStyle", "TimeZone",
		"extra_float_digits", "search_path", "IntervalStyle",
		"standard_conforming_strings", "bytea_output",
		// What clients set for their own session, which narrows nothing
		// a policy relies on: message levels, and limits on how long a
		// statement, lock or idle transaction may last (a policy's own
		// statement_timeout is set upstream over the client's).
		"client_min_messages", "statement_timeout", "lock_timeout",
		"idle_in_transaction_session_timeout", "idle_session_timeout",
		"default_transaction_isolation",
	}
}

// protocolOptionPrefix marks protocol options in a StartupMessage
// (protocol §55.2.1); they are not run-time parameters.
const protocolOptionPrefix = "_pq_."

// checkStartup turns the client's StartupMessage into a Startup, refusing
// any parameter outside allowed with a FATAL error that names it. A refusal
// rather than silently dropping the parameter: the client learns that what
// it asked for (a role, a timeout, a read-only default) is not in effect,
// just as PostgreSQL refuses a parameter it does not know.
//
// Run-time parameter names are kept in lower case: PostgreSQL matches them
// without regard to case (guc_name_compare), so "Search_Path" is the
// database's search_path, and whoever reads Params must find it under that
// name. The same name twice in different cases is refused: which one the
// database applies would be its choice, not gatehouse's.
func checkStartup(p *startupPacket, allowed []string) (Startup, error) {
	if allowed == nil {
		allowed = DefaultStartupParameters()
	}
	s := Startup{ProtocolMinor: p.minor, Params: map[string]string{}}
	params, err := startupParams(p.startup.Parameters)
	if err != nil {
		return Startup{}, err
	}
	seen := map[string]string{} // lower-case name → the client's spelling
	for _, param := range params {
		k, v := param.name, param.value
		lower := strings.ToLower(k)
		if first, ok := seen[lower]; ok {
			return Startup{}, &Error{Code: codeProtocolViolation, Message: fmt.Sprintf(
				"gatehouse: startup parameter %q is given twice (as %q and %q)", lower, first, param.from)}
		}
		seen[lower] = param.from
		switch {
		case k == "user":
			s.User = v
		case k == "database":
			s.Database = v
		case strings.HasPrefix(k, protocolOptionPrefix):
			s.ProtocolOptions = append(s.ProtocolOptions, k)
		case !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, k) }):
			return Startup{}, &Error{Code: codeInsufficientPrivilege, Message: fmt.Sprintf(
				"gatehouse: startup parameter %q is not allowed (allowed: %s)", k, strings.Join(allowed, ", "))}
		default:
			if err := checkParamValue(k, v); err != nil {
				return Startup{}, err
			}
			s.Params[lower] = v
		}
	}
	if s.User == "" {
		return Startup{}, &Error{Code: codeInvalidAuthorization, Message: "gatehouse: no PostgreSQL user name specified in startup packet"}
	}
	if s.Database == "" {
		s.Database = s.User
	}
	return s, nil
}

// checkParamValue refuses values under which the server would read SQL
// text differently from gatehouse's parser: a client encoding in which a
// multibyte character may end in a backslash or quote byte (SJIS, BIG5,
// GBK, GB18030, UHC, JOHAB), and standard_conforming_strings=off, under
// which backslashes escape quotes. Either could hide a statement from
// Inspect inside what it takes for a string literal.
func checkParamValue(name, value string) error {
	switch strings.ToLower(name) {
	case "client_encoding":
		if !asciiSafeEncoding(value) {
			return &Error{Code: codeInsufficientPrivilege, Message: fmt.Sprintf(
				"gatehouse: client_encoding %q is not allowed; use UTF8", value)}
		}
	case "standard_conforming_strings":
		switch strings.ToLower(value) {
		case "on", "true", "yes", "1":
		default:
			return &Error{Code: codeInsufficientPrivilege, Message: "gatehouse: standard_conforming_strings must stay on"}
		}
	}
	return nil
}

// asciiSafeEncoding reports whether a client encoding names one whose
// bytes below 0x80 are always ASCII characters. Names are compared as
// PostgreSQL does (clean_encoding_name: letters and digits, lower case).
func asciiSafeEncoding(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	n := b.String()
	if strings.HasPrefix(n, "latin") || strings.HasPrefix(n, "iso8859") || strings.HasPrefix(n, "euc") {
		return true
	}
	switch n {
	case "utf8", "unicode", "sqlascii",
		"win866", "win874", "win1250", "win1251", "win1252", "win1253", "win1254",
		"win1255", "win1256", "win1257", "win1258", "koi8", "koi8r", "koi8u":
		return true
	}
	return false
}

// negotiation is the NegotiateProtocolVersion message a client that asked
// for more than 3.0 must get before anything else (protocol §55.2.1), or
// nil when it asked for exactly 3.0.
func negotiation(s Startup) *pgproto3.NegotiateProtocolVersion {
	if s.ProtocolMinor == 0 && len(s.ProtocolOptions) == 0 {
		return nil
	}
	return &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: s.ProtocolOptions}
}
