package login

import (
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// The files of a profile, under HOME/.gatehouse/PROFILE/.
const (
	keyFileName        = "id_ed25519"
	pubFileName        = "id_ed25519.pub"
	certFileName       = "id_ed25519-cert.pub"
	knownHostsFileName = "known_hosts"
	profileFileName    = "profile.json"
)

// profileInfo is profile.json: where this profile logs in and connects.
type profileInfo struct {
	Server       string `json:"server"`
	SSHAddress   string `json:"ssh_address"`
	SSHHostAlias string `json:"ssh_host_alias"`
}

// profileDir is HOME/.gatehouse/PROFILE.
func profileDir(home, profile string) string {
	return filepath.Join(home, ".gatehouse", profile)
}

// keyComment names the key in files and agents.
func keyComment(profile string) string { return "gatehouse/" + profile }

// save writes the key, the certificate, the host CA and profile.json. Each
// file is replaced atomically, the private key first.
func (o *Options) save(info *caapi.Info, key ed25519.PrivateKey, cert *ssh.Certificate) (*Result, error) {
	dir := profileDir(o.Home, o.Profile)
	files, err := profileFiles(o, info, key, cert)
	if err != nil {
		return nil, err
	}
	if err := writePrivateFiles(dir, files); err != nil {
		return nil, err
	}
	return newResult(dir, info, cert), nil
}

// writePrivateFiles makes dir (0700) and replaces each file in it
// atomically, in order (a private key first).
func writePrivateFiles(dir string, files []namedFile) error {
	if err := makePrivateDir(dir); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

type namedFile struct {
	name string
	data []byte
}

// profileFiles renders every file of the profile before any is written.
func profileFiles(o *Options, info *caapi.Info, key ed25519.PrivateKey, cert *ssh.Certificate) ([]namedFile, error) {
	block, err := ssh.MarshalPrivateKey(key, keyComment(o.Profile))
	if err != nil {
		return nil, fmt.Errorf("login: encode private key: %w", err)
	}
	known, err := checkKnownHosts(info.HostCAKnownHosts)
	if err != nil {
		return nil, fmt.Errorf("gatehouse CA at %s: host_ca_known_hosts: %w", o.Server, err)
	}
	prof, err := json.MarshalIndent(profileInfo{
		Server:       o.Server,
		SSHAddress:   info.SSHAddress,
		SSHHostAlias: info.SSHHostAlias,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("login: encode profile: %w", err)
	}
	return []namedFile{
		{keyFileName, pem.EncodeToMemory(block)},
		{pubFileName, []byte(authorizedKeyLine(cert.Key, keyComment(o.Profile)) + "\n")},
		{certFileName, []byte(authorizedKeyLine(cert, cert.KeyId) + "\n")},
		{knownHostsFileName, known},
		{profileFileName, append(prof, '\n')},
	}, nil
}

func newResult(dir string, info *caapi.Info, cert *ssh.Certificate) *Result {
	return &Result{
		Dir:             dir,
		KeyFile:         filepath.Join(dir, keyFileName),
		PublicKeyFile:   filepath.Join(dir, pubFileName),
		CertificateFile: filepath.Join(dir, certFileName),
		KnownHostsFile:  filepath.Join(dir, knownHostsFileName),
		ProfileFile:     filepath.Join(dir, profileFileName),
		SSHHostAlias:    info.SSHHostAlias,
		KeyID:           cert.KeyId,
		Principals:      cert.ValidPrincipals,
		ValidAfter:      certTime(cert.ValidAfter),
		ValidBefore:     certTime(cert.ValidBefore),
		Serial:          cert.Serial,
	}
}

// authorizedKeyLine renders a key in authorized_keys form with a comment.
func authorizedKeyLine(key ssh.PublicKey, comment string) string {
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(key)), "\n")
	if comment = strings.Join(strings.Fields(comment), "_"); comment != "" {
		line += " " + comment
	}
	return line
}

// checkKnownHosts accepts the CA's known_hosts text only if every entry is
// an @cert-authority line, which is what lets OpenSSH trust the host
// certificate without trusting a plain key.
func checkKnownHosts(text string) ([]byte, error) {
	rest := []byte(text)
	n := 0
	for {
		marker, _, _, _, r, err := ssh.ParseKnownHosts(rest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if marker != "cert-authority" {
			return nil, fmt.Errorf("entry %d is not an @cert-authority line", n+1)
		}
		n++
		rest = r
	}
	if n == 0 {
		return nil, errors.New("no @cert-authority line")
	}
	return []byte(strings.TrimRight(text, "\n") + "\n"), nil
}

// makePrivateDir creates dir (and HOME/.gatehouse) readable by the owner
// only, tightening a directory that already exists.
func makePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("login: create %s: %w", dir, err)
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("login: restrict %s: %w", d, err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data, mode 0600, so a reader sees
// the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	if err := privatefile.Replace(path, data, nil); err != nil {
		return fmt.Errorf("login: write %s: %w", path, err)
	}
	return nil
}

// readProfileInfo reads profile.json of a profile directory.
func readProfileInfo(dir string) (*profileInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, profileFileName))
	if err != nil {
		return nil, err
	}
	var p profileInfo
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("login: %s: %w", filepath.Join(dir, profileFileName), err)
	}
	return &p, nil
}

// serverFromProfile is the server an earlier login recorded, or "".
func serverFromProfile(dir string) string {
	p, err := readProfileInfo(dir)
	if err != nil {
		return ""
	}
	return p.Server
}
