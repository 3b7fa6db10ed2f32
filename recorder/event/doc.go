// Package event is gatehouse's recording format: the name of every event
// type and one Go type per payload, with the JSON each encodes to
// (docs/recording-format.md describes the same, field by field). Writers
// (bastion, ca, recorder's own checkpoints and ledger) emit these types and
// readers (describe, summaries, the manifest, `gatehouse sessions`,
// `replay`, `revoke`) decode them, so that a field renamed here is renamed
// for both, and the compiler finds every use.
//
// The encoded bytes are the format: every line of a recording is
// hash-chained and signed, and recordings written by earlier versions must
// still read back. A field's name, JSON tag, type, order and omitempty are
// therefore fixed once released; format_test.go holds them to what the
// producers wrote before this package existed. The package imports nothing
// of gatehouse, so that any reader (an auditor's console) can use it alone.
package event
