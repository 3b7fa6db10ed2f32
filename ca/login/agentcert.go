package login

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
)

// agentHostPrefix starts the ssh_config Host name of an agent:
// gatehouse-agent-NAME.
const agentHostPrefix = "gatehouse-agent-"

// agentName is what an agent may be called: it becomes a directory name
// and part of an ssh_config Host name, and the CA puts it in KeyIds.
var agentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// AgentOptions configure AgentCert. The zero value of each field is
// documented.
type AgentOptions struct {
	// Agent names the agent (required): letters, digits, '.', '_' and '-'.
	Agent string
	// Grants narrow the agent to these TARGET:ROLE principals; nil gives
	// it every grant of the engineer's certificate.
	Grants []string
	// TTL is the lifetime asked for; 0 leaves it to the CA's cap,
	// min(ca.agent_max_ttl, the engineer certificate's remaining life).
	TTL time.Duration
	// RunID and TicketID go into the certificate's identity.
	RunID, TicketID string
	// Profile is the engineer's profile, whose certificate vouches for
	// the agent; "" means "default". Home "" means os.UserHomeDir().
	Profile, Home string
	// Out receives the text meant for the user; nil discards it.
	Out io.Writer
	// HTTPClient talks to the CA; nil means a 30 second timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// AgentResult describes an agent's certificate and where it was written.
type AgentResult struct {
	Dir             string // HOME/.gatehouse/PROFILE/agents/NAME
	KeyFile         string // id_ed25519
	CertificateFile string // id_ed25519-cert.pub
	SSHConfigFile   string // ssh_config, holding the Host block
	SSHHost         string // gatehouse-agent-NAME

	KeyID       string
	Principals  []string
	ValidAfter  time.Time
	ValidBefore time.Time
	Serial      uint64
}

// engineerProfile is what AgentCert reads from the engineer's profile.
type engineerProfile struct {
	dir  string
	info *profileInfo
	cert *ssh.Certificate
	key  ssh.Signer
}

// AgentCert has the CA certify a fresh key for an agent on the authority
// of the engineer's own certificate, proven by signing the request with
// the engineer's key (no identity provider login), and writes the agent's
// key, certificate, known_hosts and an ssh_config Host block
// (gatehouse-agent-NAME) under the engineer's profile, in agents/NAME/.
func AgentCert(ctx context.Context, opts AgentOptions) (*AgentResult, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	eng, err := readEngineer(o.Home, o.Profile, "agent-cert", o.Now())
	if err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: generate key: %w", err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("agent-cert: generate key: %w", err)
	}
	body, err := o.signedRequest(eng, pub)
	if err != nil {
		return nil, err
	}
	server, err := normalizeServer(eng.info.Server)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: the server of your profile: %w; run `gatehouse login --server URL`", err)
	}
	api := &caClient{base: server, http: o.HTTPClient}
	cert, err := api.agentCertify(ctx, body)
	if err != nil {
		return nil, err
	}
	if err := checkIssued(cert, pub); err != nil {
		return nil, fmt.Errorf("gatehouse CA at %s: %w", server, err)
	}
	res, err := o.saveAgent(eng, priv, cert)
	if err != nil {
		return nil, err
	}
	o.reportAgent(res, cert)
	return res, nil
}

func (o AgentOptions) withDefaults() (*AgentOptions, error) {
	var err error
	if !agentName.MatchString(o.Agent) {
		return nil, fmt.Errorf("agent-cert: agent name %q: use up to 64 letters, digits, '.', '_' and '-', starting with a letter or digit", o.Agent)
	}
	if o.Profile, err = resolveProfile(o.Profile); err != nil {
		return nil, err
	}
	if o.Home, err = resolveHome(o.Home); err != nil {
		return nil, err
	}
	if o.TTL < 0 {
		return nil, fmt.Errorf("agent-cert: negative TTL %v", o.TTL)
	}
	defaultClientIO(&o.Out, &o.HTTPClient, &o.Now)
	return &o, nil
}

// readEngineer reads the engineer's certificate, key and profile, and
// refuses early, with what to do, when the certificate cannot vouch for
// the caller: missing, expired, an agent's, or not matching the key. cmd
// names the command for the messages.
func readEngineer(home, profile, cmd string, now time.Time) (*engineerProfile, error) {
	dir := profileDir(home, profile)
	info, err := readProfileInfo(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notLoggedIn(profile)
	}
	if err != nil {
		return nil, err
	}
	cert, err := readCert(filepath.Join(dir, certFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notLoggedIn(profile)
	}
	if err != nil {
		return nil, err
	}
	st, err := statusFromCert(cert, "", now)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %s: %w", cmd, filepath.Join(dir, certFileName), err)
	case st.Expired:
		return nil, fmt.Errorf("%s: your certificate expired at %s; run `gatehouse login` first", cmd, st.ValidBefore.Format(time.DateTime))
	case st.Identity.Agent != "":
		return nil, fmt.Errorf("%s: this profile holds an agent certificate; an engineer's profile is needed", cmd)
	}
	key, err := readKeyFor(dir, cert)
	if err != nil {
		return nil, err
	}
	return &engineerProfile{dir: dir, info: info, cert: cert, key: key}, nil
}

// readKeyFor reads the profile's private key, which must be cert's.
func readKeyFor(dir string, cert *ssh.Certificate) (ssh.Signer, error) {
	path := filepath.Join(dir, keyFileName)
	keyPEM, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: read your key: %w", err)
	}
	key, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: %s: %w", path, err)
	}
	if string(key.PublicKey().Marshal()) != string(cert.Key.Marshal()) {
		return nil, errors.New("your key and certificate do not belong together; run `gatehouse login`")
	}
	return key, nil
}

func readCert(path string) (*ssh.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: read your certificate: %w", err)
	}
	return parseCertificate(b)
}

// signedRequest builds the claims and signs them with the engineer's key.
func (o *AgentOptions) signedRequest(eng *engineerProfile, agentKey ssh.PublicKey) (caapi.SignedRequest, error) {
	c := caapi.AgentClaims{
		Agent:             o.Agent,
		PublicKey:         authorizedKeyLine(agentKey, "gatehouse-agent/"+o.Agent),
		Grants:            o.Grants,
		RunID:             o.RunID,
		TicketID:          o.TicketID,
		CertificateSerial: eng.cert.Serial,
		IssuedAt:          o.Now().UTC(),
	}
	if o.TTL > 0 {
		c.TTL = o.TTL.String()
	}
	claims, err := json.Marshal(c)
	if err != nil {
		return caapi.SignedRequest{}, fmt.Errorf("agent-cert: encode request: %w", err)
	}
	sig, err := sshsig.Sign(rand.Reader, eng.key, caapi.AgentNamespace, claims)
	if err != nil {
		return caapi.SignedRequest{}, fmt.Errorf("agent-cert: sign the request with your key: %w", err)
	}
	return newAgentCertRequest(eng.cert, claims, sig), nil
}

// saveAgent writes the agent's files, each atomically, the key first.
func (o *AgentOptions) saveAgent(eng *engineerProfile, key ed25519.PrivateKey, cert *ssh.Certificate) (*AgentResult, error) {
	dir := filepath.Join(eng.dir, "agents", o.Agent)
	res := &AgentResult{
		Dir:             dir,
		KeyFile:         filepath.Join(dir, keyFileName),
		CertificateFile: filepath.Join(dir, certFileName),
		SSHConfigFile:   filepath.Join(dir, "ssh_config"),
		SSHHost:         agentHostPrefix + o.Agent,
		KeyID:           cert.KeyId,
		Principals:      cert.ValidPrincipals,
		ValidAfter:      certTime(cert.ValidAfter),
		ValidBefore:     certTime(cert.ValidBefore),
		Serial:          cert.Serial,
	}
	files, err := agentFiles(eng, res, key, cert)
	if err != nil {
		return nil, err
	}
	if err := writePrivateFiles(dir, files); err != nil {
		return nil, err
	}
	return res, nil
}

// agentFiles renders every file of the agent's directory before any is
// written. known_hosts is a copy of the engineer's, so that the directory
// is all an agent needs.
func agentFiles(eng *engineerProfile, res *AgentResult, key ed25519.PrivateKey, cert *ssh.Certificate) ([]namedFile, error) {
	comment := "gatehouse-agent/" + filepath.Base(res.Dir)
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: encode private key: %w", err)
	}
	known, err := os.ReadFile(filepath.Join(eng.dir, knownHostsFileName))
	if err != nil {
		return nil, fmt.Errorf("agent-cert: read known_hosts of your profile: %w", err)
	}
	host, port, err := net.SplitHostPort(eng.info.SSHAddress)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: ssh_address %q of your profile: %w", eng.info.SSHAddress, err)
	}
	alias := eng.info.SSHHostAlias
	if alias == "" {
		alias = "gatehouse"
	}
	config, err := hostBlock{
		host: res.SSHHost, alias: alias, hostName: host, port: port,
		key: res.KeyFile, cert: res.CertificateFile, knownHosts: filepath.Join(res.Dir, knownHostsFileName),
		noAgent: true,
	}.render()
	if err != nil {
		return nil, err
	}
	return []namedFile{
		{keyFileName, pem.EncodeToMemory(block)},
		{pubFileName, []byte(authorizedKeyLine(cert.Key, comment) + "\n")},
		{certFileName, []byte(authorizedKeyLine(cert, cert.KeyId) + "\n")},
		{knownHostsFileName, known},
		{"ssh_config", []byte(config)},
	}, nil
}

// reportAgent tells the engineer what the agent got and how it connects.
func (o *AgentOptions) reportAgent(res *AgentResult, cert *ssh.Certificate) {
	st, _ := statusFromCert(cert, "", o.Now())
	fmt.Fprintf(o.Out, "Agent certificate issued.\n%s", st)
	field(o.Out, "key", res.KeyFile)
	field(o.Out, "config", res.SSHConfigFile)
	field(o.Out, "ssh host", res.SSHHost)
	fmt.Fprintf(o.Out, "The agent connects with: ssh -F %s -N -L 15432:TARGET:PORT %s\n", res.SSHConfigFile, res.SSHHost)
}
