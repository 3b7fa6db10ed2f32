package evidence

import (
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// activityRow is one event of the console's streams (audit.ActivityOf):
// what an auditor looked at, exported, minted or was refused.
type activityRow struct {
	Time    string `json:"time"`
	Stream  string `json:"stream"` // console/ID
	Seq     uint64 `json:"seq"`
	Kind    string `json:"kind"` // login, logout, view, export, refused, throttled, link_minted, link_used
	Auditor string `json:"auditor"`
	What    string `json:"what"`
}

var activityHeader = []string{"time", "stream", "seq", "kind", "auditor", "what"}

func (r activityRow) cells() []string {
	return []string{r.Time, cell(r.Stream), strconv.FormatUint(r.Seq, 10), cell(r.Kind), cell(r.Auditor), cell(r.What)}
}

// addActivity adds the console events of the period, oldest first. The
// auditors' activity is the period's whatever --identity and --target
// say: they narrow what was audited, not who audited it. Within (a
// link's bundle) keeps its viewer's own, as the console's /activity does.
func (p *populations) addActivity(events []recorder.Event, scope Scope) {
	for _, ev := range events {
		if a, ok := audit.ActivityOf(ev); ok && scope.inPeriod(ev.Time) && (scope.Within == nil || a.By == scope.Within.Auditor) {
			p.activity = append(p.activity, activityRow{Time: utc(a.At), Stream: a.Stream, Seq: a.Seq, Kind: a.Kind,
				Auditor: a.Auditor, What: a.What})
		}
	}
	slices.SortStableFunc(p.activity, func(a, b activityRow) int { return inRecordOrder(a.Time, a.Stream, a.Seq, b.Time, b.Stream, b.Seq) })
}
