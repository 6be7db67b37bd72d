-- warrant schema v1 (SQLite). Applied migrations are never edited; add a new file.
-- Every table carries the account id, and every query filters on it.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- SigV4 access keys. The secret is sealed (envelope-encrypted), bound to this row.
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    policy        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Named resources of every kind (workload identities, OAuth2 and API-key credential
-- providers, token vaults). `body` is the kind's non-secret configuration as JSON;
-- `secret_sealed` its one secret, if any; `lookup_id` a second unique handle (the
-- OAuth2 callback id).
CREATE TABLE resources (
    account_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    arn           TEXT NOT NULL,
    body          TEXT NOT NULL,
    secret_sealed BLOB,
    lookup_id     TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, name)
) WITHOUT ROWID;

CREATE UNIQUE INDEX resources_lookup_id ON resources (lookup_id) WHERE lookup_id IS NOT NULL;

CREATE TABLE tags (
    account_id   TEXT NOT NULL,
    resource_arn TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (account_id, resource_arn, key)
) WITHOUT ROWID;
