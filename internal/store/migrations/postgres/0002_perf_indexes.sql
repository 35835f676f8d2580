-- cmca RA store, version 2: indexes that keep every per-request operation
-- flat as the store grows (issue 6).

-- Requests that produced a certificate: `cmca cert SERIAL`, and the open
-- request check of revoke/renew/reissue (target_serial = ? OR cert_serial = ?)
-- use one index per arm instead of scanning every request.
CREATE INDEX requests_cert_serial ON requests (cert_serial);

-- The CRL: every revoked certificate in serial order, with exactly the
-- columns an entry needs. A partial covering index, so `cmca crl` walks it
-- in order (no sort of a million rows in memory, no read of certificate
-- bodies) and valid certificates cost it nothing.
-- (status is a column too, so the index covers the query's WHERE clause and
-- the table is never read.)
CREATE INDEX certificates_crl ON certificates (serial, not_after, revoked_at, revocation_reason, invalidity_date, status)
    WHERE status = 'revoked';
