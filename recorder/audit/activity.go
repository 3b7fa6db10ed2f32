package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Activity is one event of a console stream, for reading.
type Activity struct {
	At      time.Time
	Stream  string
	Seq     uint64
	Kind    string // the event type without "console."
	Auditor string // who, for reading
	What    string // the page, export, link or reason
	// By is whose event it is, to keep a link's session to its own.
	By event.Auditor
}

// ActivityOf is a console event for reading; ok is false for any other
// event (the stream's own start and end).
func ActivityOf(ev recorder.Event) (a Activity, ok bool) {
	kind, ok := strings.CutPrefix(string(ev.Type), "console.")
	if !ok {
		return a, false
	}
	a = Activity{At: ev.Time, Stream: ev.Stream, Seq: ev.Seq, Kind: kind}
	var d struct {
		event.ConsoleView
		Format     string    `json:"format"`
		Reason     string    `json:"reason"`
		ClientAddr string    `json:"client_addr"`
		By         string    `json:"by"`
		For        string    `json:"for"`
		Link       string    `json:"link"`
		Targets    []string  `json:"targets"`
		Expires    time.Time `json:"expires"`
		Source     string    `json:"source"`
		OverRate   int       `json:"over_rate"`
	}
	if ev.DecodeData(&d) != nil {
		a.What = "undecodable " + string(ev.Type)
		return a, true
	}
	a.By, a.Auditor = d.Auditor, AuditorName(d.Auditor)
	switch ev.Type {
	case event.TypeConsoleView, event.TypeConsoleExport:
		a.What = d.Path + " " + filtersText(d.Filters) + "; " + strconv.Itoa(d.Rows) + " rows"
		if d.Format != "" {
			a.What = d.Format + " of " + a.What
		}
	case event.TypeConsoleLinkMinted:
		a.Auditor = d.By
		a.What = fmt.Sprintf("link %s for %s, targets %s, expires %s", d.Link, d.For, targetsText(d.Targets), rfc3339(d.Expires))
	case event.TypeConsoleLinkUsed:
		a.What = "link " + d.Link + " from " + d.ClientAddr
	case event.TypeConsoleRefused:
		a.What = d.Path + ": " + d.Reason + " (from " + d.ClientAddr + ")"
	case event.TypeConsoleThrottled:
		a.What = strconv.Itoa(d.OverRate) + " refused logins and logouts from " + d.Source + " not recorded one by one"
	case event.TypeConsoleLogin:
		a.What = "from " + d.ClientAddr
	}
	return a, true
}

// AuditorName is an auditor for reading: the e-mail, then the subject at
// the issuer; empty when no one was established.
func AuditorName(a event.Auditor) string {
	switch {
	case a.Subject == "":
		return ""
	case a.Email != "":
		return a.Email + " (" + a.Subject + " at " + a.Issuer + ")"
	}
	return a.Subject + " at " + a.Issuer
}

// filtersText is recorded filters as sorted name=value pairs (quoted).
func filtersText(m map[string]string) string {
	var parts []string
	for name, v := range m {
		parts = append(parts, name+"="+strconv.Quote(v))
	}
	if len(parts) == 0 {
		return "(no filters)"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func targetsText(targets []string) string {
	if len(targets) == 0 {
		return "all"
	}
	return strings.Join(targets, ",")
}

// rfc3339 is t in UTC, RFC 3339 ending in Z; empty for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
