// Command testidp is a real OpenID Connect provider for gatehouse's
// end-to-end tests. It runs Dex as a library with in-memory storage, the
// local password connector holding the users given in a JSON file, and one
// static public client (no secret).
//
// It listens on --addr, serves the issuer --issuer (whose host and port must
// reach --addr), prints exactly one line "testidp ready ISSUER" on stdout once
// it accepts connections, logs to stderr, and stops on SIGTERM or SIGINT.
//
// Users file: a JSON array of
//
//	{"email": "...", "username": "...", "password": "...", "groups": ["..."]}
//
// The client is public and has no registered redirect URIs, so Dex accepts any
// http loopback redirect URI (http://127.0.0.1:ANYPORT/ANYPATH,
// http://localhost:ANYPORT/ANYPATH, http://[::1]:ANYPORT/ANYPATH), the
// out-of-band URI and the device flow callback. ID tokens carry the "groups"
// claim when the "groups" scope is requested.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	gosundheit "github.com/AppsFlyer/go-sundheit"
	"github.com/dexidp/dex/server"
	"github.com/dexidp/dex/server/signer"
	"github.com/dexidp/dex/storage"
	"github.com/dexidp/dex/storage/memory"
	"golang.org/x/crypto/bcrypt"
)

// user is one entry of the --users file.
type user struct {
	Email    string   `json:"email"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	Groups   []string `json:"groups"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testidp:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:5556", "address to listen on (host:port)")
	issuer := flag.String("issuer", "", "issuer URL, e.g. http://127.0.0.1:5556/dex (default http://ADDR/dex)")
	clientID := flag.String("client-id", "gatehouse", "id of the static public OAuth2 client")
	usersFile := flag.String("users", "", "JSON file with an array of {email, username, password, groups}")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *issuer == "" {
		*issuer = "http://" + *addr + "/dex"
	}
	if u, err := url.Parse(*issuer); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--issuer %q is not an absolute URL", *issuer)
	}
	if *clientID == "" {
		return errors.New("--client-id must not be empty")
	}

	users, err := loadUsers(*usersFile)
	if err != nil {
		return err
	}
	passwords, err := toPasswords(users)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var store storage.Storage = memory.New(logger)
	store = storage.WithStaticClients(store, []storage.Client{{
		ID:     *clientID,
		Name:   *clientID,
		Public: true,
		// No RedirectURIs on purpose: for a public client without registered
		// redirect URIs Dex accepts any http loopback redirect URI.
	}})
	store = storage.WithStaticPasswords(store, passwords, logger)
	store = storage.WithStaticConnectors(store, []storage.Connector{{
		ID:   server.LocalConnector,
		Type: server.LocalConnector,
		Name: "Email",
	}})

	const idTokensValidFor = 24 * time.Hour
	sig, err := (&signer.LocalConfig{KeysRotationPeriod: "6h"}).Open(ctx, store, idTokensValidFor, time.Now, logger)
	if err != nil {
		return fmt.Errorf("opening the local signer: %w", err)
	}
	// Make the first signing key now, so that the discovery document built by
	// NewServer already names the real signing algorithm. NewServer starts the
	// signer again; that start finds a fresh key and does not rotate it.
	sig.Start(ctx)

	refreshPolicy, err := server.NewRefreshTokenPolicy(logger, false /* disableRotation */, "", "", "")
	if err != nil {
		return fmt.Errorf("refresh token policy: %w", err)
	}

	srv, err := server.NewServer(ctx, server.Config{
		Issuer:  *issuer,
		Storage: store,
		AllowedGrantTypes: []string{
			"authorization_code",
			"refresh_token",
			"urn:ietf:params:oauth:grant-type:device_code",
			"password",
		},
		SupportedResponseTypes: []string{"code"},
		SkipApprovalScreen:     true,
		PasswordConnector:      server.LocalConnector,
		IDTokensValidFor:       idTokensValidFor,
		RefreshTokenPolicy:     refreshPolicy,
		Signer:                 sig,
		Logger:                 logger,
		HealthChecker:          gosundheit.New(), // no checks: /healthz always passes
		Web:                    server.WebConfig{Issuer: "gatehouse test IdP"},
	})
	if err != nil {
		return fmt.Errorf("starting dex: %w", err)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	logger.Info("testidp serving", "addr", ln.Addr().String(), "issuer", *issuer,
		"client_id", *clientID, "users", len(passwords))
	fmt.Fprintf(os.Stdout, "testidp ready %s\n", *issuer)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("testidp stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		httpSrv.Close()
	}
	return nil
}

func loadUsers(path string) ([]user, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--users: %w", err)
	}
	var users []user
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&users); err != nil {
		return nil, fmt.Errorf("--users %s: %w", path, err)
	}
	return users, nil
}

func toPasswords(users []user) ([]storage.Password, error) {
	seen := make(map[string]bool, len(users))
	passwords := make([]storage.Password, 0, len(users))
	for i, u := range users {
		if u.Email == "" || u.Password == "" {
			return nil, fmt.Errorf("--users: entry %d needs an email and a password", i)
		}
		key := strings.ToLower(u.Email)
		if seen[key] {
			return nil, fmt.Errorf("--users: email %q appears twice", u.Email)
		}
		seen[key] = true
		// Dex refuses bcrypt hashes cheaper than its minimum cost (10).
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), 10)
		if err != nil {
			return nil, fmt.Errorf("--users: hashing the password of %q: %w", u.Email, err)
		}
		username := u.Username
		if username == "" {
			username = u.Email
		}
		// A stable user id, so that the "sub" claim is the same on every run.
		sum := sha256.Sum256([]byte(key))
		passwords = append(passwords, storage.Password{
			Email:             u.Email,
			Hash:              hash,
			Username:          username,
			PreferredUsername: username,
			UserID:            hex.EncodeToString(sum[:16]),
			Groups:            append([]string(nil), u.Groups...),
		})
	}
	return passwords, nil
}
