-- Named queries of the config table (typed key/value settings). Scoped by account_id.

-- name: upsert_config_value(account_id, key, value, value_type, updated_at)^
-- Set one key (insert, or replace value and type and touch updated_at) and return it.
INSERT INTO config (account_id, key, value, value_type, created_at, updated_at)
VALUES (:account_id, :key, :value, :value_type, :updated_at, :updated_at)
ON CONFLICT (account_id, key) DO UPDATE
    SET
        value = excluded.value,
        value_type = excluded.value_type,
        updated_at = excluded.updated_at
RETURNING account_id, key, value, value_type, created_at, updated_at;

-- name: find_config_value(account_id, key)^
-- One setting by key, or nothing.
-- Index: pk_config
SELECT account_id, key, value, value_type, created_at, updated_at
FROM config
WHERE account_id = :account_id
    AND key = :key;

-- name: list_config(account_id)
-- Every setting of the account, by key.
-- Index: pk_config
SELECT account_id, key, value, value_type, created_at, updated_at
FROM config
WHERE account_id = :account_id
ORDER BY key;

-- name: delete_config_value(account_id, key)!
-- Delete one setting; returns the number of rows deleted (0 or 1).
-- Index: pk_config
DELETE FROM config
WHERE account_id = :account_id
    AND key = :key;
