package event

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
	Format  string            `json:"format"` // csv or jsonl
	Filters map[string]string `json:"filters,omitempty"`
	Rows    int               `json:"rows"`
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
