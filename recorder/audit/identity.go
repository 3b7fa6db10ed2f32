package audit

import "github.com/gatehouse-dev/gatehouse/recorder/event"

// IdentityName is a certificate's KeyId as the CA writes it
// (policy.Identity.Name): the e-mail or subject, and for an agent
// "HUMAN via agent:AGENT".
func IdentityName(id event.Identity) string {
	who := id.Email
	if who == "" {
		who = id.Subject
	}
	if id.Agent == "" {
		return who
	}
	if id.DelegatedBy != "" {
		who = id.DelegatedBy
	}
	return who + " via agent:" + id.Agent
}

// RequesterName is a requester as a reader knows them: the e-mail, or
// the subject at the issuer.
func RequesterName(id event.Identity) string {
	if id.Email != "" {
		return id.Email
	}
	return id.Subject + " at " + id.Issuer
}
