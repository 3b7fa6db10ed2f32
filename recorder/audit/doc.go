// Package audit derives what auditors ask about from the CA's and the
// console's recordings: the access requests and the certificates issued
// under them, the revocations, the masked columns a period exposed, and
// the console's activity. The console shows these and the evidence
// bundle lists them; both read them here, so that a page and a bundle of
// the same period cannot disagree.
//
// SessionWalk reads a session stream's statements, each with its
// channel's target, for the console's statement search and for its
// index alike: a search answered from either lists the same statements.
//
// It decodes events with recorder/event and reads nothing itself: the
// caller passes the events (to SessionWalk, the lines) of the streams
// it has read.
package audit
