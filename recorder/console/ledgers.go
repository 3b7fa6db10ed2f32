package console

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// A recording without a manifest of its own looks, to the recorder's key
// alone, like one still open or cut short by a crash. Only the ledgers
// tell that it was closed and its manifest deleted since (or that it ends
// before a checkpoint that was durable): `gatehouse verify` reads them,
// and so must the console, or such a cut passes for a crash.

// needsLedgers says whether a verification without the ledgers can be
// wrong about rep: the stream has no manifest, or one recovery wrote.
func needsLedgers(rep *recorder.Report, err error) bool {
	return errors.Is(err, recorder.ErrIncomplete) || (err == nil && rep.Manifest != nil && rep.Manifest.Recovered != nil)
}

// verifyWithLedgers verifies session id against the ledgers, read first:
// a stream closed after they were read is then verified as the open
// stream they knew, not as a closed one that lost its manifest.
func (c *Console) verifyWithLedgers(ring *recorder.Keyring, id string) (*recorder.Report, error) {
	ledgers, err := ring.ReadLedgers(c.cfg.Sessions)
	if err != nil {
		return &recorder.Report{Stream: id}, fmt.Errorf("console: read the ledgers to verify %s: %w", id, err)
	}
	return ring.VerifyStoredWith(c.cfg.Sessions, ledgers, recorder.KindSession, id)
}

// failCut verifies against the ledgers each of sessions that verified
// incomplete, and records as its verification the failure of one the
// ledgers show was cut. It returns how many failed so.
func (c *Console) failCut(sessions []recorder.Listed) (int, error) {
	ring := c.keyring()
	if ring.Len() == 0 {
		return 0, nil
	}
	var ledgers *recorder.Ledgers
	n := 0
	for i, s := range sessions {
		if s.Unreadable != nil || !s.Verified || !errors.Is(s.Verification, recorder.ErrIncomplete) {
			continue
		}
		if ledgers == nil {
			var err error
			if ledgers, err = ring.ReadLedgers(c.cfg.Sessions); err != nil {
				return n, fmt.Errorf("console: read the ledgers: %w", err)
			}
		}
		_, err := ring.VerifyStoredWith(c.cfg.Sessions, ledgers, recorder.KindSession, s.ID)
		// Gone since it was listed: the missing sessions name it.
		if err != nil && !errors.Is(err, recorder.ErrIncomplete) && !errors.Is(err, fs.ErrNotExist) {
			sessions[i].Verification = err
			n++
		}
	}
	return n, nil
}
