-- cmca RA store, version 12: OCSP answers for every certificate the CA
-- issued, also those cmca issued for its own use (service_certificates,
-- version 7: operator credentials, the server's TLS certificate). Their
-- pre-signed responses live in ocsp_responses too, so its serial no longer
-- refers to certificates alone. SQLite cannot drop a foreign key: the
-- table is made again without it, keeping its rows (a response is stored
-- only for a serial in either table: store.PutOCSPResponse checks).
-- From this version the delegated OCSP signer is recorded there too
-- (purpose 'ocsp-signer', next to 'operator' and 'server'); no schema
-- change is needed for that.
CREATE TABLE ocsp_responses_new (
    serial      TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der         BLOB    NOT NULL,
    PRIMARY KEY (serial, hash)
);
INSERT INTO ocsp_responses_new (serial, hash, status, this_update, next_update, der)
SELECT serial, hash, status, this_update, next_update, der FROM ocsp_responses;
DROP TABLE ocsp_responses;
ALTER TABLE ocsp_responses_new RENAME TO ocsp_responses;
CREATE INDEX ocsp_responses_next ON ocsp_responses (next_update);
