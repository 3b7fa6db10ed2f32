package pgwire

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// startupParam is one run-time parameter a client asked for at start-up,
// from the packet itself or from its options.
type startupParam struct {
	name, value string
	from        string // how the client wrote it, for messages
}

// startupParams lists the start-up packet's parameters in a fixed order,
// with the "options" parameter replaced by the parameters it sets: libpq's
// PGOPTIONS and lib/pq's options carry "-c name=value" (or "--name=value"),
// which PostgreSQL applies like a parameter of the packet, so gatehouse
// judges them the same way. Any other backend switch in options is
// refused: they tune the server process, which is not the client's.
func startupParams(packet map[string]string) ([]startupParam, error) {
	var out []startupParam
	for _, k := range slices.Sorted(maps.Keys(packet)) {
		if k != "options" {
			out = append(out, startupParam{name: k, value: packet[k], from: k})
			continue
		}
		opts, err := parseOptions(packet[k])
		if err != nil {
			return nil, err
		}
		out = append(out, opts...)
	}
	return out, nil
}

// parseOptions reads the "options" start-up parameter as PostgreSQL does
// (pg_split_opts: arguments separated by white space, a backslash taking
// the next character as it is).
func parseOptions(options string) ([]startupParam, error) {
	args := splitOptions(options)
	var out []startupParam
	for i := 0; i < len(args); i++ {
		arg := args[i]
		var setting string
		switch {
		case arg == "-c" && i+1 < len(args):
			i++
			setting = args[i]
		case strings.HasPrefix(arg, "-c") && len(arg) > 2:
			setting = arg[2:]
		case strings.HasPrefix(arg, "--") && len(arg) > 2:
			setting = arg[2:]
		default:
			return nil, optionRefused(arg)
		}
		name, value, ok := strings.Cut(setting, "=")
		if !ok || name == "" {
			return nil, optionRefused(arg)
		}
		// PostgreSQL reads "-c a-b=1" as a_b.
		name = strings.ReplaceAll(name, "-", "_")
		if n := strings.ToLower(name); n == "user" || n == "database" || strings.HasPrefix(n, protocolOptionPrefix) {
			return nil, optionRefused(arg) // not run-time parameters: never from options
		}
		out = append(out, startupParam{name: name, value: value, from: "options -c " + name})
	}
	return out, nil
}

func optionRefused(arg string) error {
	return &Error{Code: codeInsufficientPrivilege, Message: fmt.Sprintf(
		"gatehouse: startup option %q is not allowed: options may only set parameters as -c name=value", arg)}
}

func splitOptions(s string) []string {
	var args []string
	var cur strings.Builder
	in, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped, in = false, true
		case r == '\\':
			escaped, in = true, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v':
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		args = append(args, cur.String())
	}
	return args
}
