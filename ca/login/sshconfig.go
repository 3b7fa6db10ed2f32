package login

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
)

// SSHConfig returns a Host block for ssh_config that reaches the bastion of
// the profile with its key, certificate and host CA, e.g.
//
//	Host gatehouse
//	  HostName 127.0.0.1
//	  Port 2222
//	  ...
//
// HostKeyAlias makes OpenSSH check the host certificate for the principal
// named by the alias, and look up the "@cert-authority ALIAS" line of the
// profile's known_hosts. home "" means the user's home directory; profile ""
// means "default".
func SSHConfig(home, profile string) (string, error) {
	dir, err := statusDir(home, profile)
	if err != nil {
		return "", err
	}
	p, err := readProfileInfo(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNotLoggedIn
	}
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(p.SSHAddress)
	if err != nil {
		return "", fmt.Errorf("login: %s: ssh_address %q: %w", filepath.Join(dir, profileFileName), p.SSHAddress, err)
	}
	alias := p.SSHHostAlias
	if alias == "" {
		alias = "gatehouse"
	}
	return renderHostBlock(alias, host, port, dir)
}

// renderHostBlock writes the block; every value is checked, since a
// newline or quote would let a profile file inject ssh options.
func renderHostBlock(alias, host, port, dir string) (string, error) {
	for _, v := range []string{alias, host, port} {
		if v == "" || strings.ContainsAny(v, " \t\r\n\"'#%*?!,") {
			return "", fmt.Errorf("login: profile value %q cannot go into ssh_config", v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Host %s\n", alias)
	fmt.Fprintf(&b, "  HostName %s\n", host)
	fmt.Fprintf(&b, "  Port %s\n", port)
	b.WriteString("  User gatehouse\n")
	for _, kv := range [][2]string{
		{"IdentityFile", keyFileName},
		{"CertificateFile", certFileName},
	} {
		p, err := configPath(filepath.Join(dir, kv[1]))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  %s %s\n", kv[0], p)
	}
	b.WriteString("  IdentitiesOnly yes\n")
	kh, err := configPath(filepath.Join(dir, knownHostsFileName))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", kh)
	fmt.Fprintf(&b, "  HostKeyAlias %s\n", alias)
	b.WriteString("  StrictHostKeyChecking yes\n")
	b.WriteString("  ExitOnForwardFailure yes\n")
	b.WriteString("  ServerAliveInterval 30\n")
	return b.String(), nil
}

// configPath quotes a path for ssh_config: '%' is doubled because these
// options expand %-tokens, and a path with white space is double-quoted.
// ssh_config has no escape for '"', a newline or "${" (an environment
// variable reference), so those are refused.
func configPath(p string) (string, error) {
	if strings.ContainsAny(p, "\"\r\n") || strings.Contains(p, "${") {
		return "", fmt.Errorf("login: path %q cannot go into ssh_config", p)
	}
	p = strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`, nil
	}
	return p, nil
}
