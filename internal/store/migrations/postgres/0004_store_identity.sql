-- cmca RA store, version 4, PostgreSQL: the store knows which CA and which
-- home it belongs to (issue 11). The same table as ../0004_store_identity.sql
-- (see there); the row never changes, kept so by a trigger. PostgreSQL has
-- no file header to mark: the schema version is schema_migrations' alone.
CREATE TABLE store_identity (
    id             BIGINT  PRIMARY KEY CHECK (id = 1),
    store_id       TEXT    NOT NULL,
    ca_cert_sha256 TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL
);

CREATE FUNCTION store_identity_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the store identity never changes';
END;
$$;

CREATE TRIGGER store_identity_fixed BEFORE UPDATE OR DELETE ON store_identity
    FOR EACH ROW EXECUTE FUNCTION store_identity_fixed();
