-- warrant schema v2 (SQLite): workload-access-token signing keys and the token vault.

-- Keys that sign workload access tokens. Service-wide (a WAT names its account in its
-- claims), so this table, like `meta` and `access_keys`, has no account column.
-- `slot` names the rotation window ("{period}:{index}"): every node computes the same
-- slot, and the primary key lets exactly one node's key win the race to create it.
-- `private_sealed` is the Ed25519 seed, sealed and bound to the slot.
CREATE TABLE signing_keys (
    slot           TEXT PRIMARY KEY,
    kid            TEXT NOT NULL UNIQUE,
    public_key     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    not_before     INTEGER NOT NULL,
    not_after      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- The token vault: sealed token sets, one per (account, entry key). `entry_key` is a
-- hash of everything the token was fetched for (workload, user, provider, scopes,
-- resources, audiences, parameters); `workload`, `user_key` and `provider` are kept
-- beside it so deleting a workload or a provider deletes its tokens.
CREATE TABLE vault_entries (
    account_id   TEXT NOT NULL,
    entry_key    TEXT NOT NULL,
    workload     TEXT NOT NULL,
    user_key     TEXT NOT NULL,
    provider     TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    expires_at   INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry_key)
) WITHOUT ROWID;

CREATE INDEX vault_entries_workload ON vault_entries (account_id, workload);
CREATE INDEX vault_entries_provider ON vault_entries (account_id, provider);
