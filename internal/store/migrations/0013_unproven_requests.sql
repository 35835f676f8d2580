-- cmca RA store, version 13: the revoke and reissue requests filed without
-- proof of possession (a lost or broken key; nobody proved they hold it),
-- one row per request, so the per-certificate limit (policy
-- ratelimit.certificate) is counted from the store by every process and
-- every `cmca serve` instance alike (service.checkCertLimit). Requests with
-- a proof, and those an operator files, are not recorded here.
CREATE TABLE unproven_requests (
    ref      TEXT    NOT NULL PRIMARY KEY REFERENCES requests (ref),
    serial   TEXT    NOT NULL,
    filed_at INTEGER NOT NULL
);
CREATE INDEX unproven_requests_serial ON unproven_requests (serial, filed_at);
