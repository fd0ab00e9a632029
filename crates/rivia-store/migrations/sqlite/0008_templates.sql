-- Response templates (rest §7). `id` orders the list as the platform did; names are
-- stored lowercase and unique per instance. Existing instances receive the two predefined
-- templates in the same transaction (see `migrate.rs`, `templates::seed_every_instance`).
CREATE TABLE response_templates (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    content_type TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '{}',
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);
