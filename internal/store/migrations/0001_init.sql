-- cmca RA store, version 1. Portable SQL where it costs nothing: times are
-- INTEGER Unix seconds (UTC), serials are lower-case hex TEXT, no SQLite-only
-- column types.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The lookup record of a person (seed 2.1 step 3: "query" first). Updated by
-- every application, so a returning applicant's data pre-fills the form.
CREATE TABLE applicants (
    id         INTEGER PRIMARY KEY,
    id_type    TEXT    NOT NULL,
    id_number  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    mobile     TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    address    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (id_type, id_number)
);

CREATE TABLE requests (
    id                INTEGER PRIMARY KEY,
    ref               TEXT    NOT NULL UNIQUE,
    kind              TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    applicant_id      INTEGER NOT NULL REFERENCES applicants (id),
    -- identity as applied for: the certificate is made from these, not from
    -- the lookup record, which later applications may change
    name              TEXT    NOT NULL,
    id_type           TEXT    NOT NULL,
    id_number         TEXT    NOT NULL,
    mobile            TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    address           TEXT    NOT NULL DEFAULT '',
    agent_name        TEXT    NOT NULL DEFAULT '',
    agent_id_type     TEXT    NOT NULL DEFAULT '',
    agent_id_number   TEXT    NOT NULL DEFAULT '',
    usage_type        TEXT    NOT NULL,
    acceptance_point  TEXT    NOT NULL,
    storage           TEXT    NOT NULL,
    agreement_version TEXT    NOT NULL DEFAULT '',
    target_serial     TEXT,
    reason            TEXT    NOT NULL DEFAULT '',
    comment           TEXT    NOT NULL DEFAULT '',
    decision_reason   TEXT    NOT NULL DEFAULT '',
    submitted_by      TEXT    NOT NULL,
    decided_by        TEXT    NOT NULL DEFAULT '',
    issued_by         TEXT    NOT NULL DEFAULT '',
    cert_serial       TEXT,
    passcode_hash     TEXT,
    passcode_expires  INTEGER,
    passcode_attempts INTEGER NOT NULL DEFAULT 0,
    passcode_used     INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX requests_state ON requests (state, id);
CREATE INDEX requests_applicant ON requests (applicant_id);
CREATE INDEX requests_target ON requests (target_serial);

CREATE TABLE certificates (
    serial            TEXT    PRIMARY KEY,
    request_id        INTEGER NOT NULL REFERENCES requests (id),
    applicant_id      INTEGER NOT NULL REFERENCES applicants (id),
    subject           TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    usage_type        TEXT    NOT NULL,
    storage           TEXT    NOT NULL,
    key_algo          TEXT    NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    spki_sha256       TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'valid',
    revoked_at        INTEGER,
    revocation_reason INTEGER,
    invalidity_date   INTEGER,
    der               BLOB    NOT NULL
);
CREATE INDEX certificates_spki ON certificates (spki_sha256);
CREATE INDEX certificates_request ON certificates (request_id);
CREATE INDEX certificates_revoked ON certificates (status, not_after);
CREATE INDEX certificates_revoked_at ON certificates (revoked_at);

-- Every CRL ever signed. The number is the primary key, so a number can be
-- used once only, even across crashes.
CREATE TABLE crls (
    number      INTEGER PRIMARY KEY,
    base_number INTEGER,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    entries     INTEGER NOT NULL,
    -- how many certificates were revoked in all when this CRL was signed:
    -- revocation never reverses, so a larger count means it is out of date
    revoked_total INTEGER NOT NULL DEFAULT 0,
    operator    TEXT    NOT NULL,
    der         BLOB    NOT NULL
);

-- Append-only audit log; each record's hash covers the previous record's
-- hash, so an edit, deletion or reordering breaks the chain.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    operator   TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    ref        TEXT    NOT NULL DEFAULT '',
    serial     TEXT    NOT NULL DEFAULT '',
    from_state TEXT    NOT NULL DEFAULT '',
    to_state   TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '',
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX audit_ref ON audit (ref);
CREATE INDEX audit_serial ON audit (serial);
