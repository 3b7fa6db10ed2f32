//go:build !race

package console

// exportedSessions is how many sessions TestIndexedExportHoldsNoList
// exports, and exportGrowthBound the heap growth it allows: holding the
// list grew the heap by about 0.7 KiB a session.
const exportedSessions, exportGrowthBound = 100_000, 24 << 20
