package evidence

import "strings"

// readme is README.txt: how to check the bundle offline.
const readme = `gatehouse evidence bundle
=========================

This zip holds populations for an audit period, extracted from gatehouse's
hash-chained, signed recordings by ` + "`gatehouse evidence`" + `:

  sessions.csv/.jsonl      every session begun in the period (as ` + "`gatehouse sessions`" + ` lists them)
  statements.csv/.jsonl    every SQL statement of those sessions: text, kinds, decision, rule, rows, masked columns, outcome
  denials.csv/.jsonl       denied statements, refused channels, failed authentications, refused certificates
  verification.csv/.jsonl  each session's verification: hash chain, signatures, completeness, and its
                           objects' Object Lock mode and retain-until date as read from the bucket
                           when the bundle was made ("none" for a directory store)
  issuances.csv/.jsonl     every certificate the CA issued or refused in the period: identity, login
                           method, principals, serial, key, validity, the human vouching for an agent,
                           the access request; a refusal's code and reason
  requests.csv/.jsonl      every access request filed in the period: requester, justification, grant,
                           who decided and when, its state at the period's end, used or never used and
                           the sessions opened under it
  revocations.csv/.jsonl   every revocation in the period: who revoked what and when, the certificates it
                           matched, the sessions it ended (when, why) and any begun after it
  exceptions.csv/.jsonl    what to look at first: sessions begun after a revocation of their certificate,
                           sessions whose verification failed
  exposure.csv/.jsonl      each masked column with the statements and values (rows) masked, then every
                           statement a masking rule refused (probes under deny_probing, ...)
  activity.csv/.jsonl      what auditors did in the console in the period: logins, pages viewed, exports,
                           links minted and used, refusals
  completeness.csv/.jsonl  the period's sessions counted by the store, their manifests, the ledgers and
                           this bundle; every session that makes them differ is in exceptions.csv
  report.html              per human and agent, exceptions first: who and how authenticated, standing
                           or just-in-time access with its approval, where each session's record is
                           and whether it verified and is locked, masked columns and refused probes;
                           self-contained (no script, nothing fetched)
  objectlock.json          the bucket's Object Lock configuration as read when the bundle was made
  manifest.json            the source, the parameters as given, who produced the bundle and when, and for
                           every other file its row count and SHA-256
  manifest.sig             an SSH signature (SSHSIG, namespace gatehouse-evidence) of manifest.json by the
                           gatehouse recorder key, the key that signs the recordings themselves

CSV cells that a spreadsheet would take for a formula start with an apostrophe, and control
characters are shown escaped; the JSON Lines files hold the text exactly as recorded.

How to check it offline
-----------------------

1. Get the recorder public key (recorder.pub) from the operator (gatehouse recorder
   pubkey), or from GET /v1/recorder-keys of the gatehouse CA API. Its fingerprint
   (ssh-keygen -lf recorder.pub) must be the one you were given and manifest.json's
   "signed_by".

2. With gatehouse:

     gatehouse verify --bundle BUNDLE.zip --pubkey recorder.pub

   checks the signature, then every file's SHA-256 and row count, and fails naming any
   file that differs, is missing, or was added.

3. Without gatehouse (OpenSSH 8.1 or later, sha256sum, jq), with recorder.pub next to
   BUNDLE.zip; each line starting with $ is one command, run in the directory that holds
   BUNDLE.zip, and each must succeed:

     $ unzip -q BUNDLE.zip -d bundle
     $ echo "gatehouse-recorder $(cut -d' ' -f1,2 recorder.pub)" > allowed_signers
     $ ssh-keygen -Y verify -f allowed_signers -I gatehouse-recorder -n gatehouse-evidence -s bundle/manifest.sig < bundle/manifest.json
     $ cd bundle && jq -r '.files[] | .sha256 + "  " + .name' manifest.json | sha256sum --strict -c
     $ cd bundle && test "$(ls | sort)" = "$( (jq -r '.files[].name' manifest.json; echo manifest.json; echo manifest.sig) | sort)"

   The first checks that manifest.json is signed by the recorder key for this purpose (the
   namespace gatehouse-evidence), the second that every file is the one the manifest lists,
   the third that the bundle holds no other file.

Where to start
--------------

exceptions.csv lists what to look at first; report.html answers, per human and agent, who
they were and how they authenticated, what they could reach and who approved it, where each
session's record is and whether it verified, and what masked data they touched. Pick samples
from the populations and ask the operator for their recordings: gatehouse verify SESSION and
gatehouse replay SESSION show each in full.

Two bundles made with the same parameters from the same recordings have byte-identical
data files; only manifest.json's producer and produced_at differ.
`

// ReadmeCommands are the shell commands README.txt gives for checking a
// bundle without gatehouse, in order: its lines starting with "$ ".
func ReadmeCommands(text string) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "$ "); ok {
			out = append(out, cmd)
		}
	}
	return out
}
