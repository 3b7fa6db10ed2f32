package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

func runCA(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: gatehouse ca init|sign --config F ...")
	}
	switch args[0] {
	case "init":
		return runCAInit(args[1:], out)
	case "sign":
		return runCASign(ctx, args[1:], out)
	}
	return usageError("unknown ca command %q (init, sign)", args[0])
}

func runCAInit(args []string, out io.Writer) error {
	fs := newFlags("ca init", out)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path, "ca init")
	if err != nil {
		return err
	}
	made, err := initCAKeys(cfg)
	if err != nil {
		return err
	}
	if cfg.CA.Signer.Vault != nil {
		fmt.Fprintln(out, "ca.signer.vault: the CA keys live in Vault's SSH secrets engine (docs/vault.md); none made here")
	} else if len(made) == 0 {
		fmt.Fprintln(out, "CA keys already exist; nothing to do")
	}
	for _, p := range made {
		fmt.Fprintln(out, "created", p)
	}
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCASign(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("ca sign", out)
	path := configFlag(fs)
	keyFile := fs.String("key", "", "public key to certify (id_ed25519.pub)")
	identity := fs.String("identity", "", "who the certificate is for (an email or a name)")
	agent := fs.String("agent", "", "agent name: makes an agent certificate (capped by ca.agent_max_ttl)")
	ttl := fs.String("ttl", "", "lifetime, e.g. 5m (default: the cap)")
	outFile := fs.String("out", "", "where to write the certificate (default: KEY-cert.pub)")
	var grants stringList
	fs.Var(&grants, "grant", "TARGET:ROLE to include (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyFile == "" || *identity == "" || len(grants) == 0 {
		return usageError("ca sign: --key, --identity and at least one --grant are required")
	}
	cfg, err := loadConfigFlag(*path, "ca sign")
	if err != nil {
		return err
	}
	pub, err := readPublicKey(*keyFile)
	if err != nil {
		return err
	}
	lifetime, err := parseOptionalDuration(*ttl)
	if err != nil {
		return usageError("ca sign: --ttl: %v", err)
	}
	authority, closeRec, err := operatorAuthority(cfg)
	if err != nil {
		return err
	}
	defer closeRec()
	cert, err := authority.IssueOperator(ctx, ca.Request{
		Identity: operatorIdentity(*identity, *agent), PublicKey: pub,
		TTL: lifetime, Grants: grants, Source: "operator",
	})
	if err != nil {
		// The operator is the one to act on the cause (e.g. what to
		// change in Vault), which the CA keeps from remote callers.
		if ce := (*ca.Error)(nil); errors.As(err, &ce) && ce.Err != nil && ce.Code == caapi.CodeInternal {
			return fmt.Errorf("%w: %v", err, ce.Err)
		}
		return err
	}
	dest := *outFile
	if dest == "" {
		dest = strings.TrimSuffix(*keyFile, ".pub") + "-cert.pub"
	}
	if err := os.WriteFile(dest, gossh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	fmt.Fprintf(out, "wrote %s: %q serial %d, principals %s, valid until %s\n", dest, cert.KeyId, cert.Serial,
		strings.Join(cert.ValidPrincipals, ","), formatUnix(cert.ValidBefore))
	return nil
}

// operatorAuthority is the CA as an operator's command uses it: the file
// signer, a recording stream of its own, and the state's issued record.
func operatorAuthority(cfg *policy.Config) (*ca.Authority, func(), error) {
	keys, err := loadKeys(context.Background(), cfg, slog.Default())
	if err != nil {
		return nil, nil, err
	}
	rec, err := openRecorder(cfg)
	if err != nil {
		return nil, nil, err
	}
	stream, err := rec.Open(recorder.KindCA)
	if err != nil {
		return nil, nil, err
	}
	// With shared state the issuance is kept there too, for every
	// replica's revocations by identity and KRL.
	state, err := openState(context.Background(), cfg)
	if err != nil {
		stream.Close()
		return nil, nil, err
	}
	a := &ca.Authority{UserCA: keys.userCA, HostCA: keys.hostCA, Policy: cfg, Record: stream, Issued: state.keep}
	return a, func() { stream.Close(); state.close() }, nil
}

// operatorIdentity names who a `ca sign` certificate is for, and records
// which local account minted it as the issuer.
func operatorIdentity(name, agent string) policy.Identity {
	issuer := "gatehouse-operator"
	if u, err := user.Current(); err == nil {
		issuer += ":" + u.Username
	}
	id := policy.Identity{Subject: name, Issuer: issuer, Agent: agent}
	if strings.Contains(name, "@") {
		id.Email = name
	}
	if agent != "" {
		id.DelegatedBy = name
	}
	return id
}

func readPublicKey(path string) (gossh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse public key %s: %w", path, err)
	}
	return pub, nil
}

func loadConfigFlag(path, cmd string) (*policy.Config, error) {
	if path == "" {
		return nil, usageError("%s: --config is required (or set GATEHOUSE_CONFIG)", cmd)
	}
	return policy.Load(path)
}
