-- cmca RA store, version 10: the newest signed audit checkpoint, in the
-- store (issue 14). Several `cmca serve` instances on one PostgreSQL
-- database have a home each, so the published file
-- HOME/crl/audit-checkpoint.json of one home does not see what another
-- instance signed; the row does, and `cmca audit verify` and `cmca doctor`
-- on every instance check it besides their home's file. One row (id 1),
-- replaced only by a checkpoint of a later record (seq), never moved back.
-- The fields are those of the file: the signature covers version, seq,
-- hash, signed_at (Unix seconds) and ca_sha256 (docs/security.md).
-- SQLite stores leave it empty: their file sits beside ra.db.
CREATE TABLE audit_checkpoint (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    version   INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    signed_at INTEGER NOT NULL,
    ca_sha256 TEXT    NOT NULL,
    signature BLOB    NOT NULL
);
