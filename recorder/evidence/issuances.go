package evidence

import (
	"strconv"
	"strings"
)

// issuanceRow is one certificate the CA issued (cert.issued) or refused
// (cert.refused), with how the requester logged in and, for an agent,
// the human who vouched for it.
type issuanceRow struct {
	Time            string   `json:"time"`
	Stream          string   `json:"stream"` // ca/ID
	Seq             uint64   `json:"seq"`
	Outcome         string   `json:"outcome"`  // issued or refused
	Identity        string   `json:"identity"` // the certificate's KeyId; for a refusal, as far as it was established
	Issuer          string   `json:"issuer"`
	Subject         string   `json:"subject"`
	Email           string   `json:"email"`
	LoginMethod     string   `json:"login_method"` // oidc, dev, operator or agent: what vouched for the request
	Principals      []string `json:"principals"`   // granted; for a refusal, asked for
	Serial          uint64   `json:"serial"`
	KeyFingerprint  string   `json:"key_fingerprint"`
	ValidAfter      string   `json:"valid_after"`
	ValidBefore     string   `json:"valid_before"`
	Agent           string   `json:"agent"`
	VouchedBy       string   `json:"vouched_by"` // the human behind an agent
	VouchedBySerial uint64   `json:"vouched_by_serial"`
	Request         string   `json:"request"` // the access request(s) it was issued under
	Code            string   `json:"code"`    // a refusal's code
	Reason          string   `json:"reason"`  // a refusal's message
}

var issuanceHeader = []string{"time", "stream", "seq", "outcome", "identity", "issuer", "subject", "email", "login_method",
	"principals", "serial", "key_fingerprint", "valid_after", "valid_before", "agent", "vouched_by", "vouched_by_serial",
	"request", "code", "reason"}

func (r issuanceRow) cells() []string {
	return []string{r.Time, cell(r.Stream), strconv.FormatUint(r.Seq, 10), r.Outcome, cell(r.Identity), cell(r.Issuer),
		cell(r.Subject), cell(r.Email), cell(r.LoginMethod), cell(strings.Join(r.Principals, " ")), serialCell(r.Serial),
		cell(r.KeyFingerprint), r.ValidAfter, r.ValidBefore, cell(r.Agent), cell(r.VouchedBy), serialCell(r.VouchedBySerial),
		cell(r.Request), cell(r.Code), cell(r.Reason)}
}

// serialCell is a certificate serial, empty for none.
func serialCell(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}
