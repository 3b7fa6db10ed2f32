package login

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentTimeout bounds the whole conversation with ssh-agent.
const agentTimeout = 10 * time.Second

// addToAgent loads the key with its certificate into the ssh-agent at
// socket, for as long as the certificate is valid: the agent forgets the key
// when the certificate expires (the lifetime constraint of the agent
// protocol, draft-miller-ssh-agent §4.2.6.1).
func addToAgent(socket string, key ed25519.PrivateKey, cert *ssh.Certificate, now time.Time) error {
	lifetime, err := agentLifetime(cert, now)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("unix", socket, agentTimeout)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", socket, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(agentTimeout))
	return agent.NewClient(conn).Add(agent.AddedKey{
		PrivateKey:   key,
		Certificate:  cert,
		Comment:      cert.KeyId,
		LifetimeSecs: lifetime,
	})
}

// agentLifetime is the whole seconds from now until the certificate expires.
func agentLifetime(cert *ssh.Certificate, now time.Time) (uint32, error) {
	before := certTime(cert.ValidBefore)
	if before.IsZero() {
		return 0, nil // never expires: no constraint
	}
	secs := math.Floor(before.Sub(now).Seconds())
	if secs < 1 {
		return 0, errors.New("the certificate has already expired")
	}
	return uint32(min(secs, math.MaxUint32)), nil
}

// certTime converts a certificate time; the zero time stands for "forever"
// (ssh.CertTimeInfinity and anything past what time.Time can add to).
func certTime(t uint64) time.Time {
	if t > math.MaxInt64/2 {
		return time.Time{}
	}
	return time.Unix(int64(t), 0)
}
