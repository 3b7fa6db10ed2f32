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
	return hostBlock{
		host: alias, alias: alias, hostName: host, port: port,
		key:        filepath.Join(dir, keyFileName),
		cert:       filepath.Join(dir, certFileName),
		knownHosts: filepath.Join(dir, knownHostsFileName),
	}.render()
}

// hostBlock is one Host block of ssh_config.
type hostBlock struct {
	host           string // the Host name
	alias          string // HostKeyAlias: the host certificate's principal and known_hosts name
	hostName, port string
	key, cert      string // IdentityFile, CertificateFile
	knownHosts     string // UserKnownHostsFile
	// noAgent keeps ssh from using any ssh-agent (IdentityAgent none),
	// so that only the block's own key is ever offered.
	noAgent bool
}

// render writes the block; every value is checked, since a newline or
// quote would let a profile file inject ssh options.
func (hb hostBlock) render() (string, error) {
	for _, v := range []string{hb.host, hb.alias, hb.hostName, hb.port} {
		if v == "" || strings.ContainsAny(v, " \t\r\n\"'#%*?!,") {
			return "", fmt.Errorf("login: profile value %q cannot go into ssh_config", v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Host %s\n", hb.host)
	fmt.Fprintf(&b, "  HostName %s\n", hb.hostName)
	fmt.Fprintf(&b, "  Port %s\n", hb.port)
	b.WriteString("  User gatehouse\n")
	for _, kv := range [][2]string{{"IdentityFile", hb.key}, {"CertificateFile", hb.cert}} {
		p, err := configPath(kv[1])
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  %s %s\n", kv[0], p)
	}
	b.WriteString("  IdentitiesOnly yes\n")
	if hb.noAgent {
		b.WriteString("  IdentityAgent none\n")
	}
	kh, err := configPath(hb.knownHosts)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", kh)
	fmt.Fprintf(&b, "  HostKeyAlias %s\n", hb.alias)
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
