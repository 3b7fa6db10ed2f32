//go:build servers

package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// testHardeningCerts: issue 12, items 9-13 ("time, identity and the
// certificate"), attacked again with stock clients over the wire.
func testHardeningCerts(t *testing.T, w *world, alice profile) {
	t.Run("a session ends when its certificate expires", func(t *testing.T) { testCertExpiryEndsSession(t, w, alice) })
	t.Run("certificates sshd would refuse", func(t *testing.T) { testCertsSSHDRefuses(t, w, alice) })
	t.Run("a client cannot name an approval", func(t *testing.T) { testClientSetApproval(t, w) })
	t.Run("invisible characters in an identity", func(t *testing.T) { testInvisibleIdentity(t, w) })
	t.Run("a replayed agent request after revocation", func(t *testing.T) { testAgentRequestReplay(t, w, alice) })
}

// sshKeygen makes an Ed25519 key with ssh-keygen and returns its path.
func sshKeygen(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return key
}

// caSignKey makes a key and has `gatehouse ca sign` certify it (as
// KEY-cert.pub) with args; it returns the key's path.
func (w *world) caSignKey(t *testing.T, args ...string) string {
	t.Helper()
	key := sshKeygen(t)
	base := []string{"ca", "sign", "--config", w.cfgPath, "--key", key + ".pub", "--identity", "expiring@example.com"}
	if out, err := exec.Command(w.bin, append(base, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ca sign: %v\n%s", err, out)
	}
	return key
}

// testCertExpiryEndsSession: a statement running when the certificate
// expires is cut off with a FATAL that says so and what to run; the
// session records why; the certificate no longer logs in, although the
// bastion's clock skew (1m) is far from used up.
func testCertExpiryEndsSession(t *testing.T, w *world, alice profile) {
	key := w.caSignKey(t, "--grant", "orders:readonly", "--ttl", "20s")
	cert := readCert(t, key+"-cert.pub")
	until := time.Unix(int64(cert.ValidBefore), 0)
	config := w.craftedConfigFor(t, alice, key)
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, config, "orders")
	defer stop()
	conn := pgxThrough(t, port, pgx.QueryExecModeSimpleProtocol)
	if time.Until(until) < 3*time.Second {
		t.Fatalf("the tunnel took until %s to open; the certificate expires at %s", time.Now().UTC(), until.UTC())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(until)+30*time.Second)
	defer cancel()
	_, err := conn.Exec(ctx, "SELECT pg_sleep(120)")
	ended := time.Now()
	t.Logf("the statement ended %s after the certificate expired: %v", ended.Sub(until).Round(time.Millisecond), err)
	switch {
	case err == nil:
		t.Fatal("a statement ran on for 2 minutes after its certificate expired")
	case ended.Before(until):
		t.Errorf("the session ended at %s, before the certificate expired at %s", ended.UTC(), until.UTC())
	case ended.After(until.Add(5 * time.Second)):
		t.Errorf("the session ended %s after its certificate expired, want within 5s", ended.Sub(until))
	}
	var pgErr *pgconn.PgError
	wantMsg := "gatehouse: session ended: certificate expired at " + until.UTC().Format(time.RFC3339)
	if !errors.As(err, &pgErr) || pgErr.Code != "57P01" || pgErr.Severity != "FATAL" ||
		!strings.HasPrefix(pgErr.Message, wantMsg) || !strings.Contains(pgErr.Message, "gatehouse login") {
		t.Errorf("the client was told %v, want FATAL 57P01 %q and what to run", err, wantMsg)
	}
	stop()
	events := w.newSessionEvents(t, before)
	findEvent(t, events, "session.expired", `"reason":"certificate expired"`, fmt.Sprintf(`"serial":%d`, cert.Serial))
	findEvent(t, events, "session.end", "certificate expired at")

	// Past ValidBefore by seconds, inside the old one-minute skew.
	w.checkRefusals(t, []refusal{{
		name:       "the expired certificate logs in no more",
		config:     func(*testing.T) string { return config },
		args:       []string{"-N", "gatehouse"},
		wantClient: []string{"Permission denied (publickey)"},
		eventType:  "auth.failure", eventText: []string{"certificate expired at"},
	}})
}

// testCertsSSHDRefuses: certificates signed by the real CA key that
// OpenSSH's sshd would refuse are refused here too.
func testCertsSSHDRefuses(t *testing.T, w *world, alice profile) {
	userCA, err := ca.LoadKeyFile(filepath.Join(w.dataDir, "ca_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	crafted := func(edit func(*ssh.Certificate)) func(*testing.T) string {
		return func(t *testing.T) string { return w.craftedProfile(t, alice, userCA, edit) }
	}
	denied := "Permission denied (publickey)"
	w.checkRefusals(t, []refusal{
		{name: "no permit-port-forwarding",
			config:     crafted(func(c *ssh.Certificate) { delete(c.Extensions, "permit-port-forwarding") }),
			args:       []string{"-W", fmt.Sprintf("orders:%d", w.pg.Port), "gatehouse"},
			wantClient: []string{"administratively prohibited", "does not permit port forwarding"},
			eventType:  "channel.refused", eventText: []string{"permit-port-forwarding"}},
		{name: "an invalid source-address entry after a matching one",
			config: crafted(func(c *ssh.Certificate) {
				c.CriticalOptions = map[string]string{"source-address": "127.0.0.1/32,not-an-address"}
			}),
			args:       []string{"-N", "gatehouse"},
			wantClient: []string{denied},
			eventType:  "auth.failure", eventText: []string{"invalid source-address entry", "not-an-address"}},
		{name: "a certificate that never expires",
			config:     crafted(func(c *ssh.Certificate) { c.ValidBefore = ssh.CertTimeInfinity }),
			args:       []string{"-N", "gatehouse"},
			wantClient: []string{denied},
			eventType:  "auth.failure", eventText: []string{"never expires"}},
		{name: "a certificate for a year",
			config: crafted(func(c *ssh.Certificate) {
				c.ValidBefore = uint64(time.Now().Add(365 * 24 * time.Hour).Unix())
			}),
			args:       []string{"-N", "gatehouse"},
			wantClient: []string{denied},
			eventType:  "auth.failure", eventText: []string{"longer than ca.max_ttl"}},
	})
}

// passwordToken gets an ID token for user from the IdP with the password
// grant, as a client that skips `gatehouse login` would.
func (w *world) passwordToken(t *testing.T, user testenv.IdPUser) string {
	t.Helper()
	resp, err := http.PostForm(w.idp.Issuer+"/token", url.Values{
		"grant_type": {"password"}, "username": {user.Email}, "password": {user.Password},
		"client_id": {w.idp.ClientID}, "scope": {"openid email groups"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("password grant: status %d, %v", resp.StatusCode, err)
	}
	return tok.IDToken
}

// postJSON posts body to the CA's API and returns the status and answer.
func (w *world) postJSON(t *testing.T, path, token string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, w.apiURL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func newPubLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

// testClientSetApproval: with a real ID token, a client that names an
// approval (or a ticket) in POST /v1/certificates is refused, naming the
// field, and the refusal is recorded.
func testClientSetApproval(t *testing.T, w *world) {
	token := w.passwordToken(t, alice)
	for _, field := range []string{"request_id", "ticket_id"} {
		status, answer := w.postJSON(t, "/v1/certificates", token, map[string]string{"public_key": newPubLine(t), field: "req-00c0ffee00"})
		if status != http.StatusBadRequest || !strings.Contains(answer, field+" cannot be set") {
			t.Errorf("%s set by the client: %d %s, want 400 naming it", field, status, answer)
		}
		w.findCAEvent(t, "cert.refused", field+" cannot be set")
	}
	if status, answer := w.postJSON(t, "/v1/certificates", token, map[string]string{"public_key": newPubLine(t)}); status != http.StatusOK {
		t.Errorf("the same token without them: %d %s", status, answer)
	}
}

// testInvisibleIdentity: an identity that would rewrite what a reader of
// logs, the console or ssh sees does not become a certificate.
func testInvisibleIdentity(t *testing.T, w *world) {
	key := sshKeygen(t)
	for _, tc := range []struct{ identity, want string }{
		{"mallory\x1b[2K\ralice@example.com", "U+001B"},
		{"alice@example.com\u202e", "U+202E"},
		{"ali\u200bce@example.com", "U+200B"},
	} {
		out, err := exec.Command(w.bin, "ca", "sign", "--config", w.cfgPath, "--key", key+".pub",
			"--identity", tc.identity, "--grant", "orders:readonly", "--ttl", "1m").CombinedOutput()
		if err == nil {
			t.Errorf("ca sign --identity %q succeeded:\n%s", tc.identity, out)
			continue
		}
		mustContain(t, "ca sign output", string(out), "character "+tc.want)
		w.findCAEvent(t, "cert.refused", "character "+tc.want)
	}
	if _, err := os.Stat(key + "-cert.pub"); err == nil {
		t.Error("a certificate was written for an identity with invisible characters")
	}
}

// testAgentRequestReplay: an agent certificate request, signed by alice's
// key, is replayed after the certificate it minted was revoked by serial:
// the CA refuses it instead of minting the agent a new certificate.
func testAgentRequestReplay(t *testing.T, w *world, alice profile) {
	engCert := readCert(t, alice.cert())
	engKey := readSigner(t, alice.key())
	agentPub := newPubLine(t)
	claims, err := json.Marshal(caapi.AgentClaims{
		Agent: "replayed", PublicKey: agentPub, Grants: []string{"orders:readonly"},
		CertificateSerial: engCert.Serial, IssuedAt: time.Now().UTC(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sshsig.Sign(rand.Reader, engKey, caapi.AgentNamespace, claims)
	if err != nil {
		t.Fatal(err)
	}
	req := caapi.SignedRequest{
		Certificate: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(engCert))),
		Claims:      base64.StdEncoding.EncodeToString(claims),
		Signature:   base64.StdEncoding.EncodeToString(sig),
	}
	status, answer := w.postJSON(t, "/v1/agent-certificates", "", req)
	if status != http.StatusOK {
		t.Fatalf("the first request: %d %s", status, answer)
	}
	var first caapi.CertificateResponse
	if err := json.Unmarshal([]byte(answer), &first); err != nil {
		t.Fatal(err)
	}
	out := w.gatehouse("revoke", "--config", w.cfgPath, "--serial", fmt.Sprint(first.Serial), "--reason", "e2e: replay")
	// The agent's key goes with its certificate's serial.
	agentKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(agentPub))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "gatehouse revoke", out, fmt.Sprintf("revoked serial %d", first.Serial), "revoked key "+ssh.FingerprintSHA256(agentKey))

	status, answer = w.postJSON(t, "/v1/agent-certificates", "", req)
	if status != http.StatusBadRequest || !strings.Contains(answer, "used already") {
		t.Fatalf("the replayed request: %d %s, want 400 saying it was used", status, answer)
	}
	w.findCAEvent(t, "cert.refused", "used already")
}
