// Package evidence builds and checks the SOC 2 evidence bundle of an audit
// period: a zip of populations (sessions, statements, denials,
// per-session verification results) as formula-safe CSV and JSON Lines,
// a manifest giving the source, the parameters, the producer and every
// file's row count and SHA-256, and an SSH signature (SSHSIG) of the
// manifest by the recorder key, which an auditor checks offline.
//
// It reads recordings through recorder (the same summaries and
// verification `gatehouse sessions` and `gatehouse verify` use) and
// decodes events with recorder/event; it never parses the format itself.
package evidence
