// Package console is the auditor's read-only web console: auditors log in
// with OpenID Connect (authorization code with PKCE, members of the
// configured auditor groups only), see an overview of a period (its
// exceptions first, then counts and verification), list the recorded sessions with the
// filters of `gatehouse sessions`, export them as CSV or JSON Lines, and
// open one session's page (who, its statements, its verification and
// Object Lock, a replay at its recorded pace, its raw
// recording), search statements across sessions (/statements), and read
// every access request from the CA's recordings with the sessions opened
// under it (/requests), each human with the agents they vouched for
// (/identities), and what masking hid and refused (/exposure). External auditors without an IdP account come with a
// single-use link (LinkStore) whose session sees only the link's period
// and targets.
// Every view, export and refused login is itself recorded, through an
// Activity stream (a *recorder.Stream of kind console), and listed on
// /activity.
//
// Everything a recording holds was chosen by a client, so pages are
// rendered with html/template from text only, control and invisible
// characters shown as escapes (recorder.Printable), under a strict
// Content-Security-Policy; only GET routes exist besides POST /logout.
// The console holds no CA key and nothing that could alter a recording:
// it reads the store and appends to its own stream.
package console
