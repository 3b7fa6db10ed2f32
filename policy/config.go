// Package policy holds gatehouse's configuration schema and the pure
// decisions made from it: which grants an identity may receive, which
// targets and roles exist. It performs no I/O beyond reading the file.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole of gatehouse.yaml. Field names are the configuration
// contract of DESIGN.md: fields may be added, none renamed.
type Config struct {
	DataDir    string                     `yaml:"data_dir"`
	SSH        SSHConfig                  `yaml:"ssh"`
	CA         CAConfig                   `yaml:"ca"`
	Identity   IdentityConfig             `yaml:"identity"`
	Targets    map[string]*Target         `yaml:"targets"`
	Grants     []Grant                    `yaml:"grants"`
	Statements map[string]StatementPolicy `yaml:"statements"`
	Masking    map[string]MaskingPolicy   `yaml:"masking"`
	Recording  RecordingConfig            `yaml:"recording"`
	// Vault is the Vault server that credentials.vault leases database
	// credentials from. nil: ca.signer.vault's connection, when set.
	Vault *VaultConnection `yaml:"vault"`
	// Console is the auditor's web console (`gatehouse console`).
	Console ConsoleConfig `yaml:"console"`
	// State is where the CA keeps what replicas share (state.go).
	State StateConfig `yaml:"state"`
	// Ops is the operations endpoint of `gatehouse serve` (metrics,
	// liveness, readiness).
	Ops OpsConfig `yaml:"ops"`
}

// SSHConfig configures the bastion's SSH listener.
type SSHConfig struct {
	Listen  string `yaml:"listen"`   // default 0.0.0.0:2222
	HostKey string `yaml:"host_key"` // relative to data_dir; default host_ed25519
	// PublicAddress is the host:port clients use to reach the bastion,
	// written into their ssh_config. Default: Listen, with an unspecified
	// host replaced by 127.0.0.1.
	PublicAddress string `yaml:"public_address"`
	// HostNames are extra names put into the host certificate's
	// principals besides "gatehouse" and the public address's host.
	HostNames        []string `yaml:"host_names"`
	HandshakeTimeout Duration `yaml:"handshake_timeout"` // default 30s
	IdleTimeout      Duration `yaml:"idle_timeout"`      // default 30m
	// ClockSkew is how long before a certificate's ValidAfter the
	// bastion already accepts it, for a bastion whose clock runs ahead
	// of the CA's. Nothing is allowed after ValidBefore. nil (absent):
	// 1m; 0s means none; at most MaxClockSkew.
	ClockSkew *Duration `yaml:"clock_skew"`
	// MaxAuthAttemptsPerMinute is how many connections one source (an
	// IPv4 address, an IPv6 /64) may open per minute that have not
	// authenticated; each is given back when it authenticates. Default 60.
	MaxAuthAttemptsPerMinute int `yaml:"max_auth_attempts_per_minute"`
	// MaxUnauthenticated bounds the connections, from all sources, that
	// are open and not yet authenticated. Default 512.
	MaxUnauthenticated int `yaml:"max_unauthenticated_connections"`
	// DrainTimeout is how long live sessions may go on after SIGTERM
	// (serve stops accepting at once) before they are ended with the
	// reason "gatehouse: session ended: server draining". Default 30s.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// MaxClockSkew bounds ssh.clock_skew: clocks further apart than this are
// a fault to fix, not one to paper over by accepting certificates early.
const MaxClockSkew = 10 * time.Minute

// Defaults of the limits on unauthenticated SSH connections.
const (
	DefaultMaxAuthAttemptsPerMinute = 60
	DefaultMaxUnauthenticated       = 512
	// DefaultMaxFailedRequestsPerMinute is ca.max_failed_requests_per_minute's.
	DefaultMaxFailedRequestsPerMinute = 60
)

// CAConfig configures the certificate authority and its HTTP API.
type CAConfig struct {
	Listen      string       `yaml:"listen"` // default 127.0.0.1:8443
	TLSCert     string       `yaml:"tls_cert"`
	TLSKey      string       `yaml:"tls_key"`
	Signer      SignerConfig `yaml:"signer"`
	MaxTTL      Duration     `yaml:"max_ttl"`       // default 1h
	AgentMaxTTL Duration     `yaml:"agent_max_ttl"` // default 30m
	// PublicURL is the base URL clients use for the API; default
	// http://LISTEN (or https:// when TLS is configured).
	PublicURL string `yaml:"public_url"`
	// MaxFailedRequestsPerMinute is how many requests (but GET and HEAD)
	// one source may make per minute that fail; each is given back when
	// it succeeds. Default 60.
	MaxFailedRequestsPerMinute int `yaml:"max_failed_requests_per_minute"`
}

// SignerConfig selects where the CA's private key lives.
type SignerConfig struct {
	File string `yaml:"file"` // relative to data_dir; default ca_ed25519
	// HostFile is the host CA key, which signs the bastion's host
	// certificate; default host_ca_ed25519.
	HostFile string       `yaml:"host_file"`
	Vault    *VaultSigner `yaml:"vault"`
}

// VaultSigner signs certificates through Vault's SSH secrets engine: the
// CA keys never leave Vault (docs/vault.md).
type VaultSigner struct {
	VaultConnection `yaml:",inline"`
	Mount           string `yaml:"mount"` // default ssh
	Role            string `yaml:"role"`  // signs user certificates; default gatehouse
	// HostMount and HostRole sign the bastion's host certificate; a mount
	// of its own keeps the host CA apart from the user CA. Defaults: Mount
	// and gatehouse-host.
	HostMount string `yaml:"host_mount"`
	HostRole  string `yaml:"host_role"`
}

// VaultConnection is how gatehouse reaches and logs in to Vault. Exactly
// one of TokenEnv, TokenFile and AppRole says where the token comes from.
type VaultConnection struct {
	Address   string        `yaml:"address"`    // https://vault:8200
	TokenEnv  string        `yaml:"token_env"`  // environment variable holding a token
	TokenFile string        `yaml:"token_file"` // file holding a token (e.g. written by Vault Agent)
	AppRole   *VaultAppRole `yaml:"approle"`
	// CAFile verifies Vault's TLS certificate; default: the system roots.
	CAFile        string `yaml:"ca_file"`
	TLSServerName string `yaml:"tls_server_name"` // default: the address's host
}

// VaultAppRole logs in with AppRole; each ID comes from an environment
// variable or a file (one of each pair).
type VaultAppRole struct {
	Mount        string `yaml:"mount"` // default approle
	RoleIDEnv    string `yaml:"role_id_env"`
	RoleIDFile   string `yaml:"role_id_file"`
	SecretIDEnv  string `yaml:"secret_id_env"`
	SecretIDFile string `yaml:"secret_id_file"`
}

// VaultForCredentials is the connection credentials.vault uses: the
// top-level vault section, else the CA signer's. nil: none configured.
func (c *Config) VaultForCredentials() *VaultConnection {
	if c.Vault != nil {
		return c.Vault
	}
	if v := c.CA.Signer.Vault; v != nil {
		return &v.VaultConnection
	}
	return nil
}

// IdentityConfig configures how people prove who they are.
type IdentityConfig struct {
	OIDC *OIDCConfig `yaml:"oidc"`
}

// OIDCConfig names the OpenID Connect provider whose ID tokens the CA accepts.
type OIDCConfig struct {
	Issuer      string   `yaml:"issuer"`
	ClientID    string   `yaml:"client_id"`
	GroupsClaim string   `yaml:"groups_claim"` // default groups
	Scopes      []string `yaml:"scopes"`       // default openid email profile groups
}

// RecordingConfig configures where session recordings go.
type RecordingConfig struct {
	Store      string   `yaml:"store"` // file (default) | s3 | discard (benchmarks only: DiscardRecordingsEnv)
	Dir        string   `yaml:"dir"`   // for file; relative to data_dir; default recordings
	S3         S3Config `yaml:"s3"`
	FailClosed *bool    `yaml:"fail_closed"` // default true
	// SpoolMaxBytes bounds what the spool holds that the store does not
	// have yet; past it new sessions and statements are refused. 0 means
	// 1 GiB (recorder.DefaultSpoolMaxBytes).
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// DecisionSyncWindow: 0 (the default) makes each allowed statement
	// wait, before it reaches the database, until its decision is fsynced
	// in the spool. A duration (at most MaxDecisionSyncWindow) lets the
	// statement go ahead at once and fsyncs its decision within it: a
	// crash of the machine, not of gatehouse, can then lose the decisions
	// of the last window.
	DecisionSyncWindow Duration `yaml:"decision_sync_window"`
	// OverlapReads (default true): a string that only reads (see
	// bastion's onlyReads) is forwarded once its decision is written, and
	// its results are held until the decision is fsynced. false: it waits
	// for the fsync before it is forwarded, like every statement that may
	// change something. Read it with OverlapsReads.
	OverlapReads *bool `yaml:"overlap_reads"`
	// SpoolKeepUploaded is how long a stream stays in the spool after it
	// is uploaded (store s3 only: with file the spool is the store). nil
	// means DefaultSpoolKeepUploaded; 0 removes it at the first pass after
	// its upload. Read it with KeepUploaded.
	SpoolKeepUploaded *Duration `yaml:"spool_keep_uploaded"`
	// UploadGrace is how long after a session opens the console waits
	// for it in the bucket before counting it missing from the store
	// (store s3 only). nil means DefaultUploadGrace. Read it with
	// Grace.
	UploadGrace *Duration `yaml:"upload_grace"`
	// TrustedKeys are the public halves of recorder keys rotated out,
	// trusted for verification only (never for signing), each perhaps
	// with a not_after. Empty (the default): only the recorder key in
	// data_dir verifies.
	TrustedKeys []TrustedKey `yaml:"trusted_keys"`
}

// DefaultUploadGrace is recording.upload_grace when not set: a session's
// first chunk is put within s3.chunk_interval (10s) while the bucket is
// reachable; ten minutes also covers a short outage of the bucket, and
// a session absent for longer is worth an auditor's look.
const DefaultUploadGrace = 10 * time.Minute

// Grace is how long a session may be absent from the store after it
// opened before it counts as missing: recording.upload_grace (or its
// default) with store s3, 0 with any other store, where the bastion
// writes the store itself.
func (r RecordingConfig) Grace() time.Duration {
	switch {
	case r.Store != "s3":
		return 0
	case r.UploadGrace == nil:
		return DefaultUploadGrace
	}
	return r.UploadGrace.D()
}

// OverlapsReads is recording.overlap_reads, or its default (true).
func (r RecordingConfig) OverlapsReads() bool {
	return r.OverlapReads == nil || *r.OverlapReads
}

// MaxDecisionSyncWindow bounds recording.decision_sync_window.
const MaxDecisionSyncWindow = time.Second

// DefaultSpoolKeepUploaded is how long an uploaded stream stays in the
// spool when recording.spool_keep_uploaded is not set: a day, so that an
// operator looking into a fresh incident still finds it on the server's
// disk, while the disk holds a day of recordings rather than all of them.
const DefaultSpoolKeepUploaded = 24 * time.Hour

// KeepUploaded is recording.spool_keep_uploaded, or its default when not
// set.
func (r RecordingConfig) KeepUploaded() time.Duration {
	if r.SpoolKeepUploaded == nil {
		return DefaultSpoolKeepUploaded
	}
	return r.SpoolKeepUploaded.D()
}

// S3Config is the S3 recording store (recorder/s3store): a bucket with
// Object Lock. Endpoint is host[:port] for HTTPS, or a URL
// https://host[:port] or http://host[:port] (plain HTTP: only for a server
// on the same host). The keys are read from the environment variables
// AccessKeyEnv and SecretKeyEnv; Mode is compliance or governance, and
// every object is locked until Retention after it is put.
type S3Config struct {
	Endpoint     string   `yaml:"endpoint"`
	Bucket       string   `yaml:"bucket"`
	Region       string   `yaml:"region"`
	AccessKeyEnv string   `yaml:"access_key_env"`
	SecretKeyEnv string   `yaml:"secret_key_env"`
	Retention    Duration `yaml:"retention"`
	Mode         string   `yaml:"mode"`
	CreateBucket bool     `yaml:"create_bucket"`
	// ChunkInterval is how often an open session's new events are
	// uploaded; 0 means 10s (s3store.DefaultChunkInterval).
	ChunkInterval Duration `yaml:"chunk_interval"`
}

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: read config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML strictly (unknown fields are errors naming their
// line), applies defaults and validates.
func Parse(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	// An empty file decodes to defaults and then fails validation with a
	// useful message rather than "EOF".
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Path resolves a file name from the configuration: relative names are
// inside data_dir.
func (c *Config) Path(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(c.DataDir, name)
}
