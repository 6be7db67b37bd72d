-- The audit trail: one hash chain per account (seq 1, 2, 3, ...), and signed checkpoints.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    time_ms     INTEGER NOT NULL,
    operation   TEXT    NOT NULL,
    workload    TEXT,
    user_key    TEXT,
    provider    TEXT,
    event       TEXT    NOT NULL,
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL,
    UNIQUE (account_id, seq)
);
CREATE INDEX audit_events_time ON audit_events (account_id, time_ms);

-- Each account's newest event: where the next append continues, read by primary key.
-- Not trusted by verification, which walks the events themselves.
CREATE TABLE audit_heads (
    account_id  TEXT    PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        BLOB    NOT NULL
);

CREATE TABLE audit_checkpoints (
    account_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    time_ms     INTEGER NOT NULL,
    kid         TEXT    NOT NULL,
    signature   BLOB    NOT NULL,
    PRIMARY KEY (account_id, seq)
);
