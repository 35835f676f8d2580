-- cmca RA store, version 3: CRL bodies live in files under HOME/crl (the
-- numbered history file ca-NNNNNN.crl or ca-delta-NNNNNN.crl), not in the
-- store (issue 6: a CRL of a million entries is 48 MB, and copying it into
-- SQLite and its WAL cost more than signing it). A row records the body's
-- SHA-256 (lower-case hex) and size in bytes, and the body is checked
-- against them whenever it is read.
--
-- Rows signed before this migration keep their body in der and an empty
-- der_sha256; new rows store an empty der (the column is NOT NULL).
ALTER TABLE crls ADD COLUMN der_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE crls ADD COLUMN der_size BIGINT NOT NULL DEFAULT 0;
