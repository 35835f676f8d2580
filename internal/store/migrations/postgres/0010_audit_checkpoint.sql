-- cmca RA store, version 10, PostgreSQL: the same as ../0010_audit_checkpoint.sql,
-- with BIGINT for INTEGER and BYTEA for BLOB. The newest signed audit
-- checkpoint, shared by every `cmca serve` instance on the database: one
-- row (id 1), replaced only by a checkpoint of a later record (seq).
CREATE TABLE audit_checkpoint (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    version   BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    hash      TEXT   NOT NULL,
    signed_at BIGINT NOT NULL,
    ca_sha256 TEXT   NOT NULL,
    signature BYTEA  NOT NULL
);
