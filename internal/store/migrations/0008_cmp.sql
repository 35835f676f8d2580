-- CMP (RFC 4210/9483) at /.well-known/cmp.

-- Every senderNonce a CMP request carried, so a replayed message is
-- refused. Kept a day: a message older than the allowed clock skew is
-- refused for its messageTime anyway.
CREATE TABLE cmp_nonces (
    nonce   BLOB    PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
CREATE INDEX cmp_nonces_seen ON cmp_nonces (seen_at);

-- Every CMP transaction (ir/cr/p10cr, kur, rr): a transactionID is used
-- once. state: failed, waiting (for certConf), confirmed, rejected,
-- unconfirmed (no certConf came in time), done (rr).
CREATE TABLE cmp_transactions (
    transaction_id BLOB    PRIMARY KEY,
    kind           TEXT    NOT NULL,
    ref            TEXT    NOT NULL DEFAULT '',
    serial         TEXT    NOT NULL DEFAULT '',
    signer_serial  TEXT    NOT NULL DEFAULT '',
    state          TEXT    NOT NULL,
    -- the encrypted passcode, kept only while a MAC-protected enrolment
    -- waits for its certConf (which is protected with the same passcode)
    passcode_box   BLOB,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX cmp_transactions_waiting ON cmp_transactions (state, created_at);

-- The download passcode encrypted under the key-encryption key held
-- outside the store (HOME/ca/passcode.kek), so the CMP server can check a
-- password-based MAC. Deleted when the passcode is consumed, replaced, or
-- has expired or been locked.
CREATE TABLE passcode_boxes (
    ref TEXT PRIMARY KEY REFERENCES requests (ref),
    box BLOB NOT NULL
);
