//go:build servers

package testenv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
)

func TestPostgres(t *testing.T) {
	pg := StartPostgres(t)
	ctx := context.Background()

	conn, err := pgx.Connect(ctx, pg.DSN("postgres", pg.User, pg.Password))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "15") {
		t.Errorf("server_version %q, want 15.x", version)
	}
	t.Logf("PostgreSQL %s on %s, data in %s", version, pg.Addr(), pg.DataDir)

	// Other roles and databases, with scram-sha-256 passwords.
	pg.Exec(t, `CREATE ROLE app LOGIN PASSWORD 'app-secret'; GRANT pg_read_all_settings TO app`)
	pg.Exec(t, `CREATE DATABASE appdb OWNER app`) // CREATE DATABASE must be alone
	appConn, err := pgx.Connect(ctx, pg.DSN("appdb", "app", "app-secret"))
	if err != nil {
		t.Fatalf("connect as app: %v", err)
	}
	defer appConn.Close(ctx)
	var who, db string
	if err := appConn.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&who, &db); err != nil {
		t.Fatal(err)
	}
	if who != "app" || db != "appdb" {
		t.Errorf("connected as %s to %s, want app to appdb", who, db)
	}
	var enc string
	if err := appConn.QueryRow(ctx, "SHOW password_encryption").Scan(&enc); err != nil || enc != "scram-sha-256" {
		t.Errorf("password_encryption = %q, %v; want scram-sha-256", enc, err)
	}
	if _, err := pgx.Connect(ctx, pg.DSN("appdb", "app", "wrong")); err == nil {
		t.Errorf("a wrong password was accepted")
	}
}

func TestPostgresTLS(t *testing.T) {
	certPEM, keyPEM := selfSignedCert(t, "127.0.0.1")
	pg := StartPostgres(t, PostgresTLS(certPEM, keyPEM))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := strings.Replace(pg.DSN("", "", ""), "sslmode=disable",
		"sslmode=verify-full&sslrootcert="+url.QueryEscape(ca), 1)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect with TLS: %v", err)
	}
	defer conn.Close(ctx)
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Errorf("connection is not using TLS")
	}
}

var testUsers = []IdPUser{
	{Email: "alice@example.com", Username: "alice", Password: "alice-pw", Groups: []string{"admins", "dev"}},
	{Email: "bob@example.com", Username: "bob", Password: "bob-pw"},
}

func TestIdPAuthCodePKCE(t *testing.T) {
	idp := StartIdP(t, testUsers)
	ctx := context.Background()
	disc := discover(t, idp.Issuer)

	// The CLI's loopback listener.
	type result struct{ code, state, err string }
	results := make(chan result, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		results <- result{q.Get("code"), q.Get("state"), q.Get("error")}
		fmt.Fprintln(w, "login complete, you may close this window")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := &oauth2.Config{
		ClientID: idp.ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:   disc.AuthorizationEndpoint,
			TokenURL:  disc.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: "http://" + ln.Addr().String() + "/callback",
		Scopes:      []string{"openid", "email", "profile", "groups", "offline_access"},
	}

	t.Run("login", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		state := randomHex(t, 8)
		authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
		if err := idp.CompleteAuthCodeLogin(ctx, authURL, "alice@example.com", "alice-pw"); err != nil {
			t.Fatalf("CompleteAuthCodeLogin: %v", err)
		}
		var res result
		select {
		case res = <-results:
		default:
			t.Fatal("CompleteAuthCodeLogin returned, but the loopback callback was not requested")
		}
		if res.err != "" || res.code == "" || res.state != state {
			t.Fatalf("callback got %+v, want a code and state %q", res, state)
		}

		// Without the verifier, or with a wrong one, the code is refused (Dex
		// keeps the code then), with the right one it is exchanged, once.
		if _, err := cfg.Exchange(ctx, res.code); err == nil {
			t.Errorf("the code was exchanged without the PKCE verifier")
		}
		if _, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Errorf("the code was exchanged with a wrong PKCE verifier")
		}
		tok, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if _, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); err == nil {
			t.Errorf("the code was exchanged twice")
		}
		claims := verifyIDToken(t, disc, tok, idp.ClientID)
		if claims["email"] != "alice@example.com" || claims["email_verified"] != true {
			t.Errorf("email claims: %v", claims)
		}
		if got := stringList(claims["groups"]); !slices.Equal(got, []string{"admins", "dev"}) {
			t.Errorf("groups claim %v, want [admins dev]", claims["groups"])
		}
		if claims["preferred_username"] != "alice" || claims["name"] != "alice" {
			t.Errorf("profile claims: %v", claims)
		}
		if tok.RefreshToken == "" {
			t.Fatalf("no refresh token (offline_access was requested)")
		}

		// The refresh token grant works for the public client too.
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Hour)
		refreshed, err := cfg.TokenSource(ctx, &expired).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.AccessToken == tok.AccessToken {
			t.Errorf("refresh returned the same access token")
		}
		claims = verifyIDToken(t, disc, refreshed, idp.ClientID)
		if got := stringList(claims["groups"]); !slices.Equal(got, []string{"admins", "dev"}) {
			t.Errorf("groups claim after refresh %v", claims["groups"])
		}
	})

	t.Run("groups need the groups scope", func(t *testing.T) {
		c := *cfg
		c.Scopes = []string{"openid", "email"}
		verifier := oauth2.GenerateVerifier()
		authURL := c.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))
		if err := idp.CompleteAuthCodeLogin(ctx, authURL, "alice@example.com", "alice-pw"); err != nil {
			t.Fatalf("CompleteAuthCodeLogin: %v", err)
		}
		res := <-results
		tok, err := c.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		claims := verifyIDToken(t, disc, tok, idp.ClientID)
		if _, ok := claims["groups"]; ok {
			t.Errorf("groups claim without the groups scope: %v", claims)
		}
		if claims["email"] != "alice@example.com" {
			t.Errorf("email claim %v", claims["email"])
		}
	})

	t.Run("other loopback URIs", func(t *testing.T) {
		// Dex accepts any loopback http redirect URI for a public client
		// without registered redirect URIs; here a port nobody listens on,
		// so the final request fails with connection refused.
		port := FreePort(t)
		for _, host := range []string{"127.0.0.1", "localhost"} {
			c := *cfg
			c.RedirectURL = fmt.Sprintf("http://%s:%d/any/path", host, port)
			authURL := c.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
			err := idp.CompleteAuthCodeLogin(ctx, authURL, "bob@example.com", "bob-pw")
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("%s: want connection refused at the redirect URI, got %v", c.RedirectURL, err)
			}
		}
		c := *cfg
		c.RedirectURL = "http://example.com/callback"
		err := idp.CompleteAuthCodeLogin(ctx, c.AuthCodeURL("s"), "bob@example.com", "bob-pw")
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("a non-loopback redirect URI: want an error naming the redirect URI, got %v", err)
		}
		t.Logf("non-loopback redirect URI: %v", err)
	})

	t.Run("wrong password", func(t *testing.T) {
		authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		err := idp.CompleteAuthCodeLogin(ctx, authURL, "alice@example.com", "not-her-password")
		if err == nil {
			t.Fatal("a wrong password logged in")
		}
		if !strings.Contains(err.Error(), "Invalid") {
			t.Errorf("the error does not show the IdP's page text: %v", err)
		}
		t.Logf("wrong password: %v", err)
		select {
		case res := <-results:
			t.Errorf("the callback was requested: %+v", res)
		default:
		}
	})
}

func TestIdPDeviceLogin(t *testing.T) {
	idp := StartIdP(t, testUsers)
	ctx := context.Background()
	disc := discover(t, idp.Issuer)
	if disc.DeviceAuthorizationEndpoint == "" {
		t.Fatal("no device_authorization_endpoint in discovery")
	}
	cfg := &oauth2.Config{
		ClientID: idp.ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:       disc.AuthorizationEndpoint,
			TokenURL:      disc.TokenEndpoint,
			DeviceAuthURL: disc.DeviceAuthorizationEndpoint,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{"openid", "email", "groups"},
	}

	t.Run("wrong user code", func(t *testing.T) {
		err := idp.CompleteDeviceLogin(ctx, disc.Issuer+"/device", "ABCD-EFGH", "alice@example.com", "alice-pw")
		if err == nil {
			t.Fatal("an unknown user code was accepted")
		}
		t.Logf("wrong user code: %v", err)
	})

	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device auth: %v", err)
	}
	t.Logf("user code %s at %s (complete: %s)", da.UserCode, da.VerificationURI, da.VerificationURIComplete)

	// The device polls while the user logs in.
	type result struct {
		tok *oauth2.Token
		err error
	}
	polled := make(chan result, 1)
	go func() {
		tok, err := cfg.DeviceAccessToken(ctx, da)
		polled <- result{tok, err}
	}()

	if err := idp.CompleteDeviceLogin(ctx, da.VerificationURI, da.UserCode, "alice@example.com", "alice-pw"); err != nil {
		t.Fatalf("CompleteDeviceLogin: %v", err)
	}
	res := <-polled
	if res.err != nil {
		t.Fatalf("device access token: %v", res.err)
	}
	claims := verifyIDToken(t, disc, res.tok, idp.ClientID)
	if claims["email"] != "alice@example.com" {
		t.Errorf("email claim %v", claims["email"])
	}
	if got := stringList(claims["groups"]); !slices.Equal(got, []string{"admins", "dev"}) {
		t.Errorf("groups claim %v, want [admins dev]", claims["groups"])
	}

	// The complete verification URI works the same, and the same user code
	// cannot be used twice.
	da2, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device auth: %v", err)
	}
	if err := idp.CompleteDeviceLogin(ctx, da2.VerificationURIComplete, da2.UserCode, "bob@example.com", "bob-pw"); err != nil {
		t.Fatalf("CompleteDeviceLogin with verification_uri_complete: %v", err)
	}
	if err := idp.CompleteDeviceLogin(ctx, da2.VerificationURI, da2.UserCode, "bob@example.com", "bob-pw"); err == nil {
		t.Errorf("a user code was used twice")
	}
}

type discovery struct {
	Issuer                      string `json:"issuer"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
	JWKSURI                     string `json:"jwks_uri"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
}

func discover(t *testing.T, issuer string) discovery {
	t.Helper()
	var d discovery
	getJSON(t, issuer+"/.well-known/openid-configuration", &d)
	if d.Issuer != issuer {
		t.Fatalf("discovery issuer %q, want %q", d.Issuer, issuer)
	}
	return d
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// verifyIDToken checks the RS256 signature of the token's id_token against
// the IdP's keys, its issuer and audience, and returns its claims.
func verifyIDToken(t *testing.T, d discovery, tok *oauth2.Token, clientID string) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("no id_token in the token response")
	}
	var header struct{ Alg, Kid string }
	decodeSegment(t, parts[0], &header)
	if header.Alg != "RS256" {
		t.Fatalf("id_token alg %q, want RS256", header.Alg)
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, N, E string }
	}
	getJSON(t, d.JWKSURI, &jwks)
	var key *rsa.PublicKey
	for _, k := range jwks.Keys {
		if k.Kid == header.Kid && k.Kty == "RSA" {
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("jwks: %v", err)
			}
			key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		}
	}
	if key == nil {
		t.Fatalf("no key %q in %s", header.Kid, d.JWKSURI)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("id_token signature: %v", err)
	}
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	if claims["iss"] != d.Issuer {
		t.Errorf("iss %v, want %s", claims["iss"], d.Issuer)
	}
	if claims["aud"] != clientID {
		t.Errorf("aud %v, want %s", claims["aud"], clientID)
	}
	return claims
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("jwt segment: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("jwt segment: %v", err)
	}
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func selfSignedCert(t *testing.T, ip string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testenv test postgres"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
