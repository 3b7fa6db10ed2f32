package ca

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// DevTokenPrefix starts every dev login token, so the API can route them
// without trying them against the identity provider.
const DevTokenPrefix = "ghdev_"

// DevTokens is the login of `gatehouse dev`: one token at a time, each
// valid once, standing in for an identity provider. It is wired only by
// `gatehouse dev`; the API refuses dev tokens whenever it is absent.
type DevTokens struct {
	identity policy.Identity
	onNew    func(token string)

	mu      sync.Mutex
	current string
	// notify is taken before mu is released on rotation, so onNew calls
	// happen in the order the tokens were made and never hold mu (onNew
	// may call Current).
	notify sync.Mutex
}

// NewDevTokens makes the first token, returned by Current. Each time a
// token is used, a fresh one replaces it and is passed to onNew (which may
// be nil); onNew is not called for the first token.
func NewDevTokens(identity policy.Identity, onNew func(token string)) *DevTokens {
	return &DevTokens{identity: identity, onNew: onNew, current: newDevToken()}
}

// Current is the token that will be accepted next.
func (d *DevTokens) Current() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// Verify accepts the current token once and returns the dev identity.
func (d *DevTokens) Verify(_ context.Context, token string) (policy.Identity, error) {
	d.mu.Lock()
	if !strings.HasPrefix(token, DevTokenPrefix) || subtle.ConstantTimeCompare([]byte(token), []byte(d.current)) != 1 {
		d.mu.Unlock()
		return policy.Identity{}, refusal(caapi.CodeInvalidToken, "the dev login token is not valid (each works once); use the newest one `gatehouse dev` printed")
	}
	next := newDevToken()
	d.current = next
	d.notify.Lock()
	d.mu.Unlock()
	if d.onNew != nil {
		d.onNew(next)
	}
	d.notify.Unlock()
	id := d.identity
	id.Groups = append([]string(nil), id.Groups...)
	return id, nil
}

// newDevToken has 128 bits from crypto/rand (rand.Text: base32).
func newDevToken() string { return DevTokenPrefix + rand.Text() }
