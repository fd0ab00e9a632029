-- Data endpoints (rest §5): a saved objects list of one class. Deleting the class deletes
-- its endpoints with it (the platform's foreign key cascades the same way). The stored
-- list parameters are NULL when unset; `query` is the JSON text of an object.
CREATE TABLE data_endpoints (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    query TEXT NOT NULL DEFAULT '{}',
    excluded_fields TEXT,
    order_by TEXT,
    page_size INTEGER,
    expand TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);
CREATE INDEX data_endpoints_class ON data_endpoints(class_id);
