package bastion

import (
	"errors"
	"fmt"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// factsOf identifies the key or certificate a client presented, for the
// events that name it.
func factsOf(key gossh.PublicKey) event.KeyFacts {
	cert, ok := key.(*gossh.Certificate)
	if !ok {
		return event.KeyFacts{KeyType: key.Type(), KeyFingerprint: gossh.FingerprintSHA256(key)}
	}
	return event.KeyFacts{
		KeyType:        cert.Type(),
		KeyFingerprint: gossh.FingerprintSHA256(cert.Key),
		KeyID:          clip.Name(cert.KeyId), // any client can make a certificate
		Serial:         cert.Serial,
		CAFingerprint:  gossh.FingerprintSHA256(cert.SignatureKey),
	}
}

// authState follows one connection's authentication. x/crypto calls every
// authentication callback on the connection's handshake goroutine, one
// after another, so it needs no lock.
type authState struct {
	preAuth  gossh.ServerPreAuthConn
	noneSeen bool
	// onlyNone holds the first "none" attempt until another attempt
	// follows: it is recorded only if the client tried nothing else, as
	// a client that wants a password does when publickey is all it is
	// offered.
	onlyNone *event.AuthFailure
	// offered is the key publicKeyCallback judged last, until
	// AuthLogCallback, which is not told the key, reports the attempt.
	offered *keyOffer
	// cred is set by VerifiedPublicKeyCallback, once the client has proved
	// it holds the key of an accepted certificate.
	cred    *credential
	banners map[string]bool
}

type keyOffer struct {
	key gossh.PublicKey
	err error
}

// offerRefused is publicKeyCallback's refusal of a key. x/crypto caches
// it with the key and answers it again, without asking, when the key is
// offered again.
type offerRefused struct{ err error }

func (e offerRefused) Error() string { return e.err.Error() }
func (e offerRefused) Unwrap() error { return e.err }

// errOfferedAgain is what auth.failure records for a key refused once and
// offered again: the words recordings have carried since gliderlabs'
// PublicKeyHandler answered such attempts with them.
var errOfferedAgain = errors.New("permission denied")

// serverConfig is gliderlabs' ServerConfigCallback. Authentication is set
// here, on x/crypto's own callbacks, rather than through gliderlabs'
// handlers, so that a refusal keeps its reason and the client sees it.
// Only public keys are offered as a method: no password or
// keyboard-interactive callback is set, so clients are never invited to
// try them, and "none" is always refused (NoClientAuthCallback), whatever
// gliderlabs makes of a server with no handler of its own.
func (s *Server) serverConfig(ctx gliderssh.Context) *gossh.ServerConfig {
	cs := stateFrom(ctx)
	if cs == nil {
		// connCallback always stores the state; refuse everything if not.
		missing := errors.New("gatehouse: connection state missing")
		return &gossh.ServerConfig{
			NoClientAuth:         true,
			NoClientAuthCallback: func(gossh.ConnMetadata) (*gossh.Permissions, error) { return nil, missing },
			PublicKeyCallback:    func(gossh.ConnMetadata, gossh.PublicKey) (*gossh.Permissions, error) { return nil, missing },
		}
	}
	return &gossh.ServerConfig{
		Config:       gossh.Config{Ciphers: sshCiphers},
		MaxAuthTries: maxAuthTries,
		NoClientAuth: true,
		// ErrNoAuth is what x/crypto says of "none" when it is not allowed.
		NoClientAuthCallback:      func(gossh.ConnMetadata) (*gossh.Permissions, error) { return nil, gossh.ErrNoAuth },
		PreAuthConnCallback:       cs.preAuth,
		PublicKeyCallback:         func(_ gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) { return cs.offer(ctx, key) },
		VerifiedPublicKeyCallback: cs.verifiedKey,
		AuthLogCallback:           cs.authLog,
	}
}

// sshCiphers are the only ciphers the bastion offers: AES-GCM, whose Go
// implementation uses the CPU's AES and carry-less multiply instructions
// and costs a fraction of ChaCha20-Poly1305 per byte, which matters for
// every result row the bastion relays. OpenSSH's client prefers ChaCha20
// when it is offered, so it is not; every OpenSSH since 6.2 speaks GCM.
var sshCiphers = []string{gossh.CipherAES128GCM, gossh.CipherAES256GCM}

// offer is x/crypto's PublicKeyCallback. x/crypto calls it once per key
// offered (it caches the answer), before the client proves it holds the
// key. The permissions are gliderlabs' for the connection, as its own
// public key handler would have returned.
func (cs *connState) offer(ctx gliderssh.Context, key gossh.PublicKey) (*gossh.Permissions, error) {
	_, err := cs.srv.certs.check(key, cs.conn.RemoteAddr(), cs.srv.cfg.Clock())
	cs.auth.offered = &keyOffer{key: key, err: err}
	if err != nil {
		return nil, offerRefused{err}
	}
	return ctx.Permissions().Permissions, nil
}

// preAuth runs once the version exchange and key exchange are done.
func (cs *connState) preAuth(c gossh.ServerPreAuthConn) {
	cs.auth.preAuth = c
	cs.start(string(c.ClientVersion()))
}

// verifiedKey runs after the client signed with a key publicKeyHandler
// accepted. The certificate is checked again because time has passed
// since the offer; the verified credential is what auth.success records.
func (cs *connState) verifiedKey(_ gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions, _ string) (*gossh.Permissions, error) {
	cred, err := cs.srv.certs.check(key, cs.conn.RemoteAddr(), cs.srv.cfg.Clock())
	if err != nil {
		return nil, err
	}
	cs.auth.cred = cred
	return perms, nil
}

// authLog is x/crypto's AuthLogCallback: it sees every authentication
// attempt and its outcome.
func (cs *connState) authLog(md gossh.ConnMetadata, method string, err error) {
	a := &cs.auth
	a.onlyNone = nil
	if err == nil {
		cs.authenticated(md, method)
		return
	}
	// The user name, the method and the key are the client's to choose.
	ev := event.AuthFailure{Method: clip.Name(method), User: clip.Name(md.User())}
	if method == "none" && !a.noneSeen {
		// Every client starts with "none" to learn the methods offered.
		a.noneSeen = true
		ev.Reason = "the client tried no method gatehouse accepts (only publickey, with a gatehouse certificate)"
		a.onlyNone = &ev
		return
	}
	r := a.explain(method, err, &ev.KeyFacts)
	ev.Reason = clip.Detail(r.reason)
	if cs.record(event.TypeAuthFailure, ev) != nil {
		return
	}
	cs.banner(r.message)
}

// explain finds why an attempt failed and fills in the key's facts.
func (a *authState) explain(method string, err error, facts *event.KeyFacts) *refusal {
	var r *refusal
	switch method {
	case "publickey":
		offer := a.offered
		a.offered = nil
		if offer != nil {
			*facts = factsOf(offer.key)
		}
		var refused offerRefused
		switch {
		case errors.As(err, &refused) && offer != nil && errors.As(offer.err, &r):
		case errors.As(err, &refused):
			// Answered from x/crypto's cache: the key was refused before.
			r = publicKeyRefused(errOfferedAgain)
		case errors.As(err, &r): // from verifiedKey
		default:
			// x/crypto refused the attempt itself (an algorithm it does
			// not accept, a signature over another algorithm).
			r = publicKeyRefused(err)
		}
		return r
	case "password", "keyboard-interactive":
		return &refusal{
			reason:  method + " authentication is not accepted",
			message: "gatehouse: " + method + " authentication is not accepted; " + hintLogin + " and connect with the certificate it issues",
		}
	default:
		return &refusal{
			reason:  fmt.Sprintf("%s authentication is not accepted: %v", method, err),
			message: "gatehouse: " + method + " authentication is not accepted; " + hintLogin,
		}
	}
}

func publicKeyRefused(err error) *refusal {
	return &refusal{reason: err.Error(), message: "gatehouse: public key refused: " + err.Error() + "; " + hintLogin}
}

// endAuth records a "none" attempt that nothing followed. It runs once
// the handshake is over.
func (cs *connState) endAuth() {
	if ev := cs.auth.onlyNone; ev != nil {
		cs.auth.onlyNone = nil
		_ = cs.record(event.TypeAuthFailure, *ev)
	}
}

// authenticated records the successful authentication and makes the
// credential available to channel handlers.
func (cs *connState) authenticated(md gossh.ConnMetadata, method string) {
	cred := cs.auth.cred
	if cred == nil {
		// Only public keys are accepted and each goes through verifiedKey;
		// anything else is a bug that must not open a session.
		cs.log.Error("authentication succeeded without a verified certificate", "method", method)
		cs.conn.closeWith(errors.New("authenticated without a verified certificate"))
		return
	}
	cert := cred.cert
	ev := event.AuthSuccess{
		Method:     method,
		User:       clip.Name(md.User()),
		Name:       cred.identity.Name(),
		Identity:   event.Identity(cred.identity),
		Principals: cert.ValidPrincipals,
		ValidAfter: time.Unix(int64(cert.ValidAfter), 0).UTC(),
		KeyFacts:   factsOf(cert),
	}
	if until, ok := validBefore(cert); ok {
		ev.ValidBefore = &until
	}
	if cs.record(event.TypeAuthSuccess, ev) != nil {
		return
	}
	cs.conn.authenticated()
	cs.gctx.SetValue(credentialKey{}, cred)
	cs.watchExpiry(cred)
	// The revocation list may have changed since verifiedKey, and
	// EnforceRevocation only sees sessions whose credential is set: one
	// of the two checks sees any revocation.
	if cs.srv.cfg.IsRevoked(cert) {
		cs.revoke()
	}
}

// banner shows a message to the client during authentication (RFC 4252
// §5.4); OpenSSH prints it on stderr. Each distinct message is sent once.
func (cs *connState) banner(msg string) {
	a := &cs.auth
	if a.preAuth == nil || msg == "" || a.banners[msg] {
		return
	}
	a.banners[msg] = true
	if err := a.preAuth.SendAuthBanner(msg + "\r\n"); err != nil {
		cs.log.Debug("sending authentication banner", "error", err)
	}
}
