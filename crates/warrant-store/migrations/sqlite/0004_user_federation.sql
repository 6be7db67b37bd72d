-- warrant schema v4 (SQLite): user federation (3-legged OAuth).

-- Authorization sessions: one per authorization URL handed to an agent. `id` is the
-- SHA-256 (hex) of the session URI and `state_hash` that of the `state` sent to the
-- provider: the handles themselves are never stored. `state_hash` is cleared when the
-- callback consumes it (single use). `sealed` holds everything secret or sensitive
-- (PKCE verifier, the code once received, return URL, customState), sealed and bound to
-- the row. `status`: IN_PROGRESS, CALLBACK_RECEIVED, REDEEMING, COMPLETED, FAILED.
CREATE TABLE auth_sessions (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    state_hash   TEXT UNIQUE,
    callback_id  TEXT NOT NULL,
    workload     TEXT NOT NULL,
    user_key     TEXT NOT NULL,
    provider     TEXT NOT NULL,
    status       TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_at);

-- Who is refreshing a vault entry: one row per entry being refreshed, held until
-- `until` (a lease), so that several nodes never spend one refresh token together.
-- Kept apart from `vault_entries` so that taking a lease never rewrites the tokens.
CREATE TABLE vault_leases (
    account_id  TEXT NOT NULL,
    entry_key   TEXT NOT NULL,
    owner       TEXT NOT NULL,
    until       INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry_key)
) WITHOUT ROWID;
