// Package journal is the write-ahead log shared by every recording stream
// of a gatehouse process: each line a stream writes to its own file is
// also appended here, and one group commit (a single fdatasync of a
// preallocated segment) makes durable the lines of every stream appended
// since the last one, so that many sessions waiting for their decisions
// to be durable share one sync instead of each syncing its own file.
//
// Records are framed with their length and CRC-32C (frame.go), so that a
// record cut short by a crash is told from corruption, and cut off, never
// misread. A segment is removed once every stream with lines in it has
// made its own file durable past them (a Durable record says so); after a
// crash, Read gives what recovery needs to complete the stream files.
package journal
