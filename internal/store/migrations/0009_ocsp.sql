-- cmca RA store, version 9: pre-signed OCSP responses (issue 13; cfssl's
-- design). One row per certificate and CertID hash algorithm (sha1,
-- sha256, ...), signed ahead by the delegated OCSP signer, so that
-- answering a request costs no signature. Every `cmca serve` sharing the
-- store answers from these rows (with a cache in memory in front).
--
-- status is the certificate's status the response states (good, revoked):
-- a row whose status differs from the certificate's is stale and is signed
-- again on read. Revoking a certificate deletes its rows in the same
-- transaction and counts the revision up, so every responder drops what it
-- cached at once.
CREATE TABLE ocsp_responses (
    serial      TEXT    NOT NULL REFERENCES certificates (serial),
    hash        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der         BLOB    NOT NULL,
    PRIMARY KEY (serial, hash)
);
CREATE INDEX ocsp_responses_next ON ocsp_responses (next_update);

-- The revision of revocation state: one row, counted up by every
-- revocation. A responder compares it with the revision its cache was
-- filled at before it answers.
CREATE TABLE ocsp_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO ocsp_revision (id, revision) VALUES (1, 0);
