package event

import "time"

// Auditor is who used the console: the IdP's issuer and subject identify
// them (an e-mail alone could be anyone's); Email is shown for reading.
type Auditor struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
}

// ConsoleLogin is console.login: an auditor logged in to the console.
type ConsoleLogin struct {
	Auditor    Auditor  `json:"auditor"`
	Groups     []string `json:"groups"`      // the ID token's groups
	Session    string   `json:"session"`     // a hash of the console session, never its cookie
	ClientAddr string   `json:"client_addr"` // host:port of the browser's connection
}

// ConsoleLogout is console.logout: an auditor ended their console session.
type ConsoleLogout struct {
	Auditor Auditor `json:"auditor"`
	Session string  `json:"session"`
}

// ConsoleView is console.view: a page an auditor was shown, with the
// filters it applied and how many rows it held.
type ConsoleView struct {
	Auditor Auditor           `json:"auditor"`
	Path    string            `json:"path"`
	Filters map[string]string `json:"filters,omitempty"`
	Rows    int               `json:"rows"`  // rows on the page
	Total   int               `json:"total"` // rows the filters select
}

// ConsoleExport is console.export: rows an auditor downloaded.
type ConsoleExport struct {
	Auditor Auditor           `json:"auditor"`
	Path    string            `json:"path"`
	Format  string            `json:"format"` // csv or jsonl; zip for an evidence bundle
	Filters map[string]string `json:"filters,omitempty"`
	Rows    int               `json:"rows"`
	// SHA256 is, for an evidence bundle, the SHA-256 of its
	// manifest.json (which holds every other file's).
	SHA256 string `json:"sha256,omitempty"`
}

// ConsoleRefused is console.refused: a login the console refused (not a
// member of console.auditor_groups, no groups claim, a state or nonce
// that does not match, an error from the IdP) or a logout from another
// origin. Auditor is nil when no identity was established.
type ConsoleRefused struct {
	Auditor    *Auditor `json:"auditor"`
	Path       string   `json:"path"`
	Reason     string   `json:"reason"`
	ClientAddr string   `json:"client_addr"`
}

// ConsoleThrottled is console.throttled: logins and logouts of one source
// refused, without being recorded one by one, because it made too many
// that failed.
type ConsoleThrottled struct {
	ThrottleReport
	PerMinute int `json:"max_failed_attempts_per_minute"` // the limit in force
}

// ConsoleLinkMinted is console.link_minted: an operator minted a
// single-use console link for an external auditor (`gatehouse console
// link`). The token is never recorded; Link is a hash of it.
type ConsoleLinkMinted struct {
	By      string    `json:"by"`   // the local operator user who minted it
	For     string    `json:"for"`  // the identity the link is for
	Link    string    `json:"link"` // the first 16 bytes of the token's SHA-256, hex
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
	Targets []string  `json:"targets,omitempty"` // none: every target
	Expires time.Time `json:"expires"`
}

// ConsoleLinkUsed is console.link_used: a link was exchanged for a
// console session, limited to the link's period and targets.
type ConsoleLinkUsed struct {
	Auditor    Auditor   `json:"auditor"` // issuer "link:" + the link's hash, subject the identity
	Link       string    `json:"link"`
	From       time.Time `json:"from,omitzero"`
	To         time.Time `json:"to,omitzero"`
	Targets    []string  `json:"targets,omitempty"`
	Session    string    `json:"session"`
	ClientAddr string    `json:"client_addr"`
}
