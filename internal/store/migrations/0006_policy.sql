-- Security policy belongs to the home, not to whoever runs cmca: one row per
-- policy key (passcode.max_attempts, renew.window, ...), values in their
-- canonical text form. `cmca init` seeds it from the configuration; a home
-- made before this migration has no rows and is seeded once, from the
-- configuration of the first cmca that opens it (audited as policy-seed).
-- Only `cmca policy set` changes a row afterwards (audited). New keys (e.g.
-- the rate limits of cmca serve) are new rows, not new columns.
CREATE TABLE policy (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- A passcode locked by wrong attempts stays locked whatever limit is in
-- force later; only issuing a new passcode (issue --resend) clears it.
ALTER TABLE requests ADD COLUMN passcode_locked INTEGER NOT NULL DEFAULT 0;
