package main

import (
	"runtime/debug"
	"strings"
)

// versionLine is what `gatehouse --version` prints: the module version
// (a tag for `go install ...@vX`, "(devel)" for a checkout), the commit
// it was built from, and the Go release, all from the build info the Go
// toolchain embeds.
func versionLine() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "gatehouse (no build information)"
	}
	return formatVersion(info)
}

func formatVersion(info *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	b.WriteString("gatehouse " + info.Main.Version)
	if rev := settings["vcs.revision"]; rev != "" {
		b.WriteString(" commit " + rev)
		if t := settings["vcs.time"]; t != "" {
			b.WriteString(" (" + t + ")")
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(" with uncommitted changes")
		}
	}
	b.WriteString(" " + info.GoVersion)
	return b.String()
}
