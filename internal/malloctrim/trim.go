//go:build linux && cgo

// Package malloctrim gives the free memory of the C heap back to the
// operating system. gatehouse's C heap is PostgreSQL's parser (pg_query,
// through cgo): every OS thread that parsed a statement has its own glibc
// malloc arena, and glibc keeps what a parse freed there for the next
// one, so after a peak of sessions that memory stays resident though
// nothing uses it.
package malloctrim

/*
#include <malloc.h>
*/
import "C"

// Trim returns the free memory of every glibc malloc arena to the
// operating system (malloc_trim(3) with no padding: the free top of each
// heap, and since glibc 2.8 the whole free pages inside them). It reports
// whether any memory was released. It takes the arenas' locks, so a
// parse waits for it: call it when the process is quiet.
func Trim() bool { return C.malloc_trim(0) == 1 }
