package metrics

import "strings"

// endReasons are the classes of session.end reasons
// (docs/recording-format.md, session.end): a reason is reduced to the
// class it starts with, after the prefix the bastion gives sessions it
// ends itself, so that "handshake failed: EOF" and "certificate expired
// at …" do not each make a time series.
var endReasons = []string{
	"client disconnected during handshake",
	"client disconnected",
	"closed before authentication",
	"authentication failed",
	"handshake failed",
	"handshake timeout",
	"idle timeout",
	"server shutdown",
	"recording failed",
	"certificate revoked",
	"certificate expired",
	"server draining",
	"connections refused before authentication",
}

// EndReasonClass is the label a session.end reason is counted under:
// one of endReasons, or "other".
func EndReasonClass(reason string) string {
	r := strings.TrimPrefix(reason, "gatehouse: session ended: ")
	for _, c := range endReasons {
		if r == c || strings.HasPrefix(r, c+":") || strings.HasPrefix(r, c+" ") {
			return c
		}
	}
	return "other"
}
