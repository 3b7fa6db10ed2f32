//go:build race

package console

// exportedSessions is how many sessions TestIndexedExportHoldsNoList
// exports: the race detector makes each row cost about twenty times the
// CPU, so it exports a fifth of them with a bound scaled to match.
const exportedSessions, exportGrowthBound = 20_000, 6 << 20
