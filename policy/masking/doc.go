// Package masking holds the mask functions that replace a sensitive column's
// values before results leave gatehouse, and the content detectors that find
// sensitive values in columns nobody listed. It is pure: functions of bytes,
// no I/O except for the hash key file, and no knowledge of the proxy that
// calls it.
//
// # Mask functions
//
// A masking policy names a function per column (masking.NAME.columns). A
// Masker applies it to each non-NULL field value: Masker.Text to text-format
// values, Masker.Binary to binary-format ones. A SQL NULL is never passed in
// and stays NULL: it says only that there is no value.
//
//   - redact: "****", whatever the value (its length is not kept).
//   - email: the first character of the local part, "***", '@' and the domain
//     as it was: "alice.smith@example.com" becomes "a***@example.com". The
//     value must be an email address: after trailing spaces (char(n) padding)
//     are dropped, exactly one '@'; a local part of 1 to 64 bytes of valid
//     UTF-8 with no space or control character; a domain of at least two
//     dot-separated labels, each 1 to 63 bytes of letters, digits and inner
//     hyphens (Unicode letters allowed), at most 253 bytes, ending in a
//     top-level domain of at least two letters or an "xn--" A-label. Anything
//     else (an IP literal, "user@localhost", a list of addresses) is redacted
//     as by redact, so that no part of it leaks. A one-character local part
//     is shown whole; that is the format's price.
//   - last4: every character but the last four replaced by '*', keeping the
//     number of characters: "4242424242424242" becomes "************4242".
//     Separators (space, '-', '.', '/', '(', ')', '+') stay where they are and
//     are not counted, so "4242 4242 4242 4242" becomes "**** **** **** 4242"
//     and "123-45-6789" becomes "***-**-6789". A value of fewer than eight
//     counted characters is masked whole ("555-0100" becomes "***-****"), so
//     that at least as much stays hidden as is shown. Characters are UTF-8
//     runes; a byte that is not valid UTF-8 counts as one character.
//   - hash: "h:" and the HMAC-SHA256 (RFC 2104) of the value's bytes under the
//     Masker's key, in unpadded base64url (RFC 4648 §5): 45 characters
//     (HashLen), like "h:3q2-7wX…". Equal values hash equally under one key,
//     so joins and GROUP BY on the hashed column still work, across sessions
//     and restarts while the key (LoadOrCreateHashKey) stays the same; without
//     the key the values cannot be recovered by hashing guesses. The bytes
//     hashed are exactly the field's: no case folding or trimming.
//   - null: the field becomes NULL.
//
// Text's result is text and may not parse as the column's type ("****" in an
// integer column). A caller sending it for a column of another type should
// describe the column as text, or use null for that column.
//
// # Binary format
//
// Binary must return a correct binary value of the column's type, or NULL.
// For text, varchar, bpchar (char(n)), name and unknown, the binary form is
// the text bytes, and Binary returns what Text would (so hashes agree across
// formats). Every other type becomes NULL whatever the function, because no
// masked value of that type exists: integers, numeric, floats, bool, dates,
// times and timestamps, intervals, uuid, bytea, json (whose binary form is
// text, but "****" is not JSON), jsonb, "char", arrays, composite, range,
// network and geometric types, and any type created by an extension (citext:
// its OID differs per database). BinaryIsText reports which types keep a
// value.
//
// # Content detectors
//
// A masking policy may enable detectors (masking.NAME.detectors); Detect
// finds their values in text and Redact replaces them: an email address with
// the email mask, any other find with "****". Each detector validates what
// it matches, so that ordinary data is not flagged: order and invoice
// numbers, timestamps, UUIDs, phone numbers, version strings and the like.
// Only ASCII letters and digits (and '_') count as word characters: a find
// must not be joined to one, while punctuation, spaces and non-ASCII
// characters border it.
//
//   - email: a local part of letters, digits and "._%+-" (at most 64 bytes,
//     with a letter or digit, cut after its last ".." and without leading
//     dots), '@', and an ASCII domain as for the email mask, without trailing
//     hyphens or dots. File names such as "logo@2x.png" are not flagged (a
//     domain ending in png, jpg, svg, css, js, json, html, pdf and similar
//     file extensions), nor are version pins like "pkg@1.2.3" (no letters in
//     the last label). '*' is not a local-part character, so an address
//     masked by email is not found again.
//   - credit_card: 13 to 19 digits, either unbroken or grouped by one kind of
//     separator (single spaces or single dashes) in a printed layout: fours
//     with a last group of one to four (4-4-4-4, 4-4-4-4-3), 4-6-5 (American
//     Express), 4-6-4 (Diners Club), 4-3-3-3 or 4-4-5. The number must pass
//     the Luhn check and start with an issuer prefix that has numbers of its
//     length: Visa 4 (13, 16, 19 digits), Mastercard 51–55 and 2221–2720
//     (16), Mir 2200–2204, American Express 34 and 37 (15), Diners Club
//     300–305, 36, 38–39, JCB 3528–3589, Discover 6011, 644–649 and 65,
//     UnionPay 62, Maestro 50, 56–58, 63 and 67. Numbers are found in digit
//     runs (digits joined by single spaces or dashes): a run is judged whole,
//     then word by word between spaces, then the words between finds
//     together. A run must not touch a letter, digit or '_', nor be joined to
//     more digits by '.', ',', ':', '/' or '-' ("3.4111…", "12:30").
//   - us_ssn: AAA-GG-SSSS with dashes, in digit runs as for credit_card,
//     excluding the numbers the Social Security Administration never issues:
//     area 000, 666 and 900–999, group 00, serial 0000. Nine unbroken digits
//     and space-separated groups are not flagged: too many other numbers look
//     like them.
//   - iban: the country code of a country in the SWIFT IBAN registry (AD AE
//     AL AT AZ BA BE BG BH BR BY CH CR CY CZ DE DK DO EE EG ES FI FO FR GB GE
//     GI GL GR GT HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV MC MD ME MK
//     MR MT MU NL NO PK PL PS PT QA RO RS SA SC SE SI SK SM ST SV TL TN TR UA
//     VA VG XK), two check digits other than 00, 01 and 99, and upper-case
//     letters and digits to the exact length of that country's IBANs, either
//     unbroken or in
//     groups of four separated by single spaces ("DE89 3704 0044 0532 0130
//     00"), passing the MOD 97-10 check of ISO 13616. Lower-case IBANs are not
//     flagged.
//   - aws_access_key: an AWS access key ID: "AKIA" (long-term) or "ASIA"
//     (temporary) and 16 characters of the base32 alphabet (A–Z, 2–7), at
//     least one of them a digit, 20 characters in all, standing alone
//     ("MAKIAVELLI" and "ASIAPACIFICDIVISIONS" are not flagged; neither are
//     the about 4% of real keys with no digit).
//   - jwt: a JSON Web Token in compact form: a JWS (RFC 7515 §7.1,
//     header.payload.signature; the signature may be empty, as in an
//     unsecured JWT) or a JWE (RFC 7516 §7.1, five segments, the second may
//     be empty). Segments are unpadded base64url; the header must decode to a
//     JSON object with a string "alg" (and "enc" for a JWE); the token must
//     not be joined to a base64url character or a dot. A full stop right
//     after a token is not part of it.
//
// Where finds of different detectors overlap, Detect keeps the one starting
// first (the longer at the same start), and Redact replaces the overlapping
// finds together by one "****". Redact scans its own output again, since
// replacing a value can make its surroundings into one (a local part that was
// too long before), and returns "****" for the whole text if finds remain
// after a few passes.
//
// # Hash key
//
// LoadOrCreateHashKey keeps the hash key in a file in data_dir, made on
// first use (32 random bytes, mode 0600) and refused if group or others can
// read it. Bastion replicas that must hash alike need the same key file;
// replacing the key changes every hashed value.
package masking
