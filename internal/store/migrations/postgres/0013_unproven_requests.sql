-- cmca RA store, version 13, PostgreSQL: the same as ../0013_unproven_requests.sql.
-- The revoke and reissue requests filed without proof of possession, one
-- row per request, counted for the per-certificate limit (policy
-- ratelimit.certificate) under the certificate's advisory lock.
CREATE TABLE unproven_requests (
    ref      TEXT   NOT NULL PRIMARY KEY REFERENCES requests (ref),
    serial   TEXT   NOT NULL,
    filed_at BIGINT NOT NULL
);
CREATE INDEX unproven_requests_serial ON unproven_requests (serial, filed_at);
