-- The CA's shared state (ca/state.go): what replicas must agree on.
-- Applied by goose (ca/pgstate/migrate.go) under its advisory lock.

-- +goose Up

-- The revocation list: entries only ever added. entry is ca.Revocation as
-- JSON; digest (SHA-256 of that JSON) makes `gatehouse state import` and
-- a repeated append idempotent.
CREATE TABLE gatehouse_revocations (
    id       bigserial PRIMARY KEY,
    entry    jsonb NOT NULL,
    digest   text NOT NULL UNIQUE,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- Access requests and their decisions. request is ca.AccessRequest as
-- JSON; the columns beside it are what queries select on.
CREATE TABLE gatehouse_access_requests (
    id         text PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    subject    text NOT NULL,
    issuer     text NOT NULL,
    filed_at   timestamptz NOT NULL,
    decided_at timestamptz,
    expires_at timestamptz,
    request    jsonb NOT NULL
);
CREATE INDEX gatehouse_access_requests_approved
    ON gatehouse_access_requests (subject, issuer, expires_at) WHERE state = 'approved';

-- The certificates the CA issued (ca.IssuedEvent as JSON), for revocation
-- by identity and of an engineer's agents. serial is the certificate's
-- uint64 serial stored as the bigint with the same bits.
CREATE TABLE gatehouse_issued_certificates (
    serial       bigint PRIMARY KEY,
    key_id       text NOT NULL,
    valid_before timestamptz NOT NULL,
    event        jsonb NOT NULL
);
CREATE INDEX gatehouse_issued_certificates_valid_before ON gatehouse_issued_certificates (valid_before);

-- +goose Down
DROP TABLE gatehouse_issued_certificates;
DROP TABLE gatehouse_access_requests;
DROP TABLE gatehouse_revocations;
