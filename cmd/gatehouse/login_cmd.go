package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/login"
)

const defaultServer = "http://127.0.0.1:8443"

func profileFlags(name string, out io.Writer) *flagSetWithProfile {
	fs := newFlags(name, out)
	p := &flagSetWithProfile{FlagSet: fs}
	fs.StringVar(&p.profile, "profile", envOr("GATEHOUSE_PROFILE", "default"), "profile name: files live in ~/.gatehouse/PROFILE/")
	return p
}

func runLogin(ctx context.Context, args []string, out io.Writer) error {
	fs := profileFlags("login", out)
	server := fs.String("server", os.Getenv("GATEHOUSE_SERVER"), "gatehouse certificate API URL (default $GATEHOUSE_SERVER, else the profile's last server, else "+defaultServer+")")
	device := fs.Bool("device", false, "use the device authorization grant (RFC 8628) for headless machines")
	dev := fs.String("dev", "", "exchange the one-time `TOKEN` that gatehouse dev printed (dev mode only)")
	ttl := fs.String("ttl", "", "certificate lifetime, e.g. 30m (default: the most your grants allow)")
	noBrowser := fs.Bool("no-browser", false, "print the login URL without opening a browser")
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	lifetime, err := parseOptionalDuration(*ttl)
	if err != nil {
		return usageError("login: --ttl: %v", err)
	}
	if *server == "" && !profileExists(fs.profile) {
		*server = defaultServer
	}
	_, err = login.Login(ctx, login.Options{
		Server: *server, Profile: fs.profile, TTL: lifetime, Device: *device, DevToken: *dev,
		NoBrowser: *noBrowser, Out: out, AgentSocket: os.Getenv("SSH_AUTH_SOCK"),
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(out, "Next: gatehouse ssh-config >> ~/.ssh/config, then ssh -N -L 15432:TARGET:PORT gatehouse\n")
	return nil
}

// runStatus shows the profile's certificate and exits non-zero when it
// cannot be used: expired, not yet valid, revoked, or (unless --offline)
// its revocation could not be checked.
func runStatus(ctx context.Context, args []string, out io.Writer) error {
	fs := profileFlags("status", out)
	offline := fs.Bool("offline", false, "do not ask the server whether the certificate is revoked")
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	st, err := login.ReadStatus("", fs.profile, time.Now())
	if err != nil {
		return err
	}
	var checkErr error
	if !*offline {
		checkErr = st.CheckRevocation(ctx, nil)
	}
	fmt.Fprint(out, st.String())
	if err := st.Problem(); err != nil {
		return err
	}
	return checkErr
}

func runSSHConfig(ctx context.Context, args []string, out io.Writer) error {
	fs := profileFlags("ssh-config", out)
	if err := parseFlags(fs.FlagSet, args); err != nil {
		return err
	}
	block, err := login.SSHConfig("", fs.profile)
	if err != nil {
		return err
	}
	fmt.Fprint(out, block)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// profileExists reports whether a login already stored a server for profile.
func profileExists(profile string) bool {
	home, err := os.UserHomeDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(home, ".gatehouse", profile, "profile.json"))
	return err == nil
}
