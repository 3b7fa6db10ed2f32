package recorder

// Discard is a Store that keeps nothing, for benchmarks only: it measures
// what a recording store costs by being one that costs nothing. Events are
// still encoded, hash-chained and signed (the Stream does that, whatever
// the store), but no line is written or made durable, so a statement's
// decision goes ahead without waiting for an fsync. Its Appender is not a
// groupCommitter, so Stream.Emit returns as soon as the line is handed
// over.
//
// A server that discards recordings breaks gatehouse's promise that every
// session is recorded: it is reachable only through recording.store:
// discard, which policy validation accepts only with the acknowledgement
// in the environment (policy.DiscardRecordingsEnv).
type Discard struct{}

// Create implements Store.
func (Discard) Create(kind, id string) (Appender, error) { return discardAppender{}, nil }

type discardAppender struct{}

func (discardAppender) Append([]byte) error { return nil }
func (discardAppender) Finish([]byte) error { return nil }
