package evidence

import (
	"strings"
	"testing"
	"time"
)

// hostileName is an identity a client chose: markup, an escape sequence
// and a bidirectional override.
const hostileName = "<script>alert(1)</script>\x1b[31m\u202emallet"

// TestReport: report.html lists the exceptions first, then each
// identity (those with exceptions first) with its certificates, the
// access each session ran under (just in time, with the approval), its
// verification and lock, and its exposure; it holds no script and
// fetches nothing; a hostile name is escaped, its controls shown.
func TestReport(t *testing.T) {
	f := newFixture(t)
	f.session(t, periodFrom.Add(13*time.Hour), true, auth(hostileName))
	html := string(fileData(t, unzip(t, f.build(t, f.opts)), ReportFile))
	bob, alice := strings.Index(html, "<h2>bob@example.com"), strings.Index(html, "<h2>alice@example.com")
	if ex := strings.Index(html, `id="exceptions"`); ex < 0 || bob < ex || alice < bob {
		t.Errorf("order: exceptions at %d, bob (an exception) at %d, alice at %d", ex, bob, alice)
	}
	for _, want := range []string{
		`content="default-src 'none'; style-src 'unsafe-inline'"`, // the CSP
		"just in time under request req-used (revoked, decided by bob@example.com",
		"alice@example.com via agent:bot (agent, vouched for by alice@example.com)",
		"<td>pii</td><td>redact</td><td>1</td><td>1</td>",
		"masking.deny_probing",
		"activity after revocation",
		"&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m\\u202emallet",
		"oidc", "grant_not_allowed",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "\x1b", "\u202e", "src=", "href=", "url(", "@import"} {
		if strings.Contains(html, banned) {
			t.Errorf("report.html holds %q", banned)
		}
	}
}
