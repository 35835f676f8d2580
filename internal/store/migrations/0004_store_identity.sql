-- cmca RA store, version 4: the store knows which CA and which home it
-- belongs to (issue 11). One row, written by `cmca init` (or, for a store
-- made before this version, by the first cmca that opens it with the home's
-- CA certificate at hand and finds the store's init record naming that CA):
--   store_id        random 128-bit identifier (32 lower-case hex), copied
--                   by a backup, new for every `cmca init`
--   ca_cert_sha256  SHA-256 (lower-case hex) of the DER of HOME/ca/ca.crt
--   created_at      Unix seconds
-- Every open but init compares ca_cert_sha256 with the home's CA
-- certificate and refuses a store of another CA. The row never changes.
--
-- The SQLite header marks the file too: PRAGMA application_id = 0x434D4341
-- ("CMCA") and PRAGMA user_version = the schema version, set by the
-- migration code in the transaction of every migration, so that a cmca of
-- any version can tell a store of a newer schema without reading a table.
CREATE TABLE store_identity (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    store_id       TEXT    NOT NULL,
    ca_cert_sha256 TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TRIGGER store_identity_fixed BEFORE UPDATE ON store_identity
BEGIN
    SELECT RAISE(ABORT, 'the store identity never changes');
END;

CREATE TRIGGER store_identity_kept BEFORE DELETE ON store_identity
BEGIN
    SELECT RAISE(ABORT, 'the store identity never changes');
END;
