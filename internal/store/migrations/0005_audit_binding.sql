-- cmca RA store, version 5: every audit record binds the content the next
-- step relies on (issue 11). req_digest holds one SHA-256 per field group of
-- the request the record names (identity, usage, storage, passcode, state),
-- cert_digest one per field group of the certificate it names (certificate,
-- revocation), as "group=hex;group=hex". Both are covered by the record's
-- hash, so they are part of the chain. Empty for records written before this
-- version; the migration then writes one "baseline" record per request and
-- per certificate (in Go, internal/store/binding.go), which binds the rows
-- as they were found at upgrade time.
ALTER TABLE audit ADD COLUMN req_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN cert_digest TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_ref_bound ON audit (ref, seq) WHERE req_digest != '';
CREATE INDEX audit_serial_bound ON audit (serial, seq) WHERE cert_digest != '';
