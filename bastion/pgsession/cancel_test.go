package pgsession

import (
	"crypto/ed25519"
	"log/slog"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestCancelRecordedOnBothSides: a CancelRequest is recorded in the
// stream of the channel that carried it (db.cancel, naming the session it
// stops) and in that session's own stream (db.cancelled, naming who sent
// it); one whose key names nothing is recorded as an unmatched probe.
func TestCancelRecordedOnBothSides(t *testing.T) {
	store := recorder.FileStore{Dir: t.TempDir()}
	_, key, _ := ed25519.GenerateKey(nil)
	rec := &recorder.Recorder{Store: store, Signer: key}
	session := func(channel int, email string) *pgSession {
		st, err := rec.Open(recorder.KindSession)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return &pgSession{conn: streamConn{st}, stream: st, sessionID: st.ID, log: slog.New(slog.DiscardHandler), channel: channel,
			identity: policy.Identity{Email: email}}
	}
	sender, target := session(3, "mallory@example.com"), session(1, "alice@example.com")
	if err := sender.onCancel(pgwire.CancelAttempt{ProcessID: 42, Matched: true, Target: target}); err != nil {
		t.Fatal(err)
	}
	if err := sender.onCancel(pgwire.CancelAttempt{ProcessID: 7}); err != nil {
		t.Fatal(err)
	}
	var sent []event.DBCancel
	for _, ev := range events(t, store, sender.sessionID, event.TypeDBCancel) {
		var c event.DBCancel
		ev.DecodeData(&c)
		sent = append(sent, c)
	}
	want := []event.DBCancel{
		{Channel: 3, ProcessID: 42, Matched: true, TargetSession: target.sessionID, TargetChannel: 1, TargetIdentity: "alice@example.com"},
		{Channel: 3, ProcessID: 7},
	}
	if len(sent) != 2 || sent[0] != want[0] || sent[1] != want[1] {
		t.Fatalf("the sender's stream records %+v, want %+v", sent, want)
	}
	got := events(t, store, target.sessionID, event.TypeDBCancelled)
	var by event.DBCancelled
	if len(got) != 1 || got[0].DecodeData(&by) != nil ||
		by != (event.DBCancelled{Channel: 1, BySession: sender.sessionID, ByChannel: 3, ByIdentity: "mallory@example.com"}) {
		t.Fatalf("the target's stream records %+v (%+v)", got, by)
	}
}

// events are the events of a type in a stored session stream.
func events(t *testing.T, store recorder.FileStore, id string, typ event.Type) []recorder.Event {
	t.Helper()
	lines, err := store.Lines(recorder.KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	all, err := recorder.VerifyChain(lines)
	if err != nil {
		t.Fatal(err)
	}
	var out []recorder.Event
	for _, ev := range all {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}
