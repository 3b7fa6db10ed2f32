package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// login sets the client's token from the configured source.
func (c *Client) login(ctx context.Context) error {
	switch {
	case c.cfg.Token != "":
		c.api.SetToken(c.cfg.Token)
		return nil
	case c.cfg.TokenFile != "":
		b, err := os.ReadFile(c.cfg.TokenFile)
		if err != nil {
			return fmt.Errorf("vault: read token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("vault: token_file %s is empty", c.cfg.TokenFile)
		}
		c.api.SetToken(tok)
		return nil
	case c.cfg.AppRole != nil:
		return c.loginAppRole(ctx)
	}
	return errors.New("vault: no token: set token_env, token_file or approle")
}

func (c *Client) loginAppRole(ctx context.Context) error {
	ar := c.cfg.AppRole
	roleID, err := ar.RoleID()
	if err != nil {
		return fmt.Errorf("vault: approle role_id: %w", err)
	}
	secretID, err := ar.SecretID()
	if err != nil {
		return fmt.Errorf("vault: approle secret_id: %w", err)
	}
	mount := ar.Mount
	if mount == "" {
		mount = "approle"
	}
	path := "auth/" + mount + "/login"
	s, err := c.api.Logical().WriteWithContext(ctx, path, map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil {
		return explain("log in with AppRole at "+path, c.cfg.Address, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("vault: AppRole login at %s returned no token", path)
	}
	c.api.SetToken(s.Auth.ClientToken)
	return nil
}

// KeepTokenAlive renews the token before it expires, and logs in again
// (AppRole, token_file) when it can no longer be renewed. It runs one
// goroutine that ends when ctx ends; the returned function cancels it and
// waits for it.
func (c *Client) KeepTokenAlive(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.renewLoop(ctx)
	}()
	return func() { cancel(); <-done }
}

func (c *Client) renewLoop(ctx context.Context) {
	for {
		ttl, err := c.refreshToken(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Error("vault token renewal failed; gatehouse will retry", "error", err)
		}
		wait := renewalDelay(ttl)
		if err != nil {
			wait = retryDelay
		}
		if ttl == 0 && err == nil {
			return // a token that never expires needs no renewal
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// retryDelay is how long after a failed renewal gatehouse tries again.
const retryDelay = 10 * time.Second

// renewalDelay renews at two thirds of a lifetime: early enough to survive
// one failed attempt, late enough not to load Vault.
func renewalDelay(ttl time.Duration) time.Duration {
	return ttl * 2 / 3
}

// refreshToken renews the token if it is renewable, else logs in again;
// it returns the token's remaining lifetime (0: it never expires).
func (c *Client) refreshToken(ctx context.Context) (time.Duration, error) {
	self, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return 0, explain("look up gatehouse's own token", c.cfg.Address, err)
	}
	ttl, err := self.TokenTTL()
	if err != nil {
		return 0, fmt.Errorf("vault: token ttl: %w", err)
	}
	if ttl == 0 {
		return 0, nil
	}
	if renewable, _ := self.TokenIsRenewable(); renewable {
		s, err := c.api.Auth().Token().RenewSelfWithContext(ctx, 0)
		if err == nil && s != nil && s.Auth != nil {
			return time.Duration(s.Auth.LeaseDuration) * time.Second, nil
		}
		if err != nil {
			c.log.Warn("vault token renewal refused; logging in again", "error", explain("renew gatehouse's token", c.cfg.Address, err))
		}
	}
	if c.cfg.Token != "" {
		return ttl, nil // nothing to log in again with: the operator must rotate it
	}
	if err := c.login(ctx); err != nil {
		return 0, err
	}
	return c.refreshTTL(ctx)
}

// refreshTTL is the new token's lifetime after a login.
func (c *Client) refreshTTL(ctx context.Context) (time.Duration, error) {
	self, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return 0, explain("look up gatehouse's new token", c.cfg.Address, err)
	}
	return self.TokenTTL()
}
