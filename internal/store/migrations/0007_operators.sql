-- cmca RA store, version 7: the operators of `cmca serve` and the
-- certificates cmca issues for its own use (operator credentials, the
-- server's TLS certificate). They are not subscriber certificates (no
-- request, no applicant), but they are signed by the same CA, so they are
-- recorded, revoked and listed on the CRL like any other.

CREATE TABLE service_certificates (
    serial            TEXT    PRIMARY KEY,
    purpose           TEXT    NOT NULL,            -- operator | server
    subject           TEXT    NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    spki_sha256       TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'valid',
    revoked_at        INTEGER,
    revocation_reason INTEGER,
    der               BLOB    NOT NULL
);
CREATE INDEX service_certificates_revoked ON service_certificates (serial) WHERE status = 'revoked';

-- An operator: a name, the roles the store grants it (the certificate only
-- identifies), and the certificate it logs in with. A revoked operator
-- stays as history; the name may be added again with a new certificate.
CREATE TABLE operators (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    roles      TEXT    NOT NULL,                   -- comma-separated principal roles
    serial     TEXT    NOT NULL UNIQUE REFERENCES service_certificates (serial),
    status     TEXT    NOT NULL DEFAULT 'active',  -- active | revoked
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX operators_active_name ON operators (name) WHERE status = 'active';
