-- Backups and restores (rest §10). Rows record each job's state so that a job cut off by
-- a crash is found after a restart: `node` names the process running it and, on
-- PostgreSQL, `lease_until` (µs) is renewed while it runs (see backups/jobs.rs).
-- Status codes are the platform's: -2 aborted, -1 error, 0 scheduled, 1 running,
-- 2 uploading, 3 success.
CREATE TABLE backups (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    instance_id INTEGER REFERENCES instances(id) ON DELETE SET NULL,
    status INTEGER NOT NULL DEFAULT 0,
    status_info TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    details TEXT NOT NULL DEFAULT '{}',
    size INTEGER,
    archive TEXT,
    node TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX backups_owner ON backups(owner_id, id);
CREATE INDEX backups_instance ON backups(instance_id, id);
CREATE INDEX backups_status ON backups(status);
CREATE TABLE restores (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    backup_id INTEGER REFERENCES backups(id) ON DELETE SET NULL,
    archive TEXT,
    status INTEGER NOT NULL DEFAULT 0,
    status_info TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    node TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX restores_instance ON restores(instance_id, id);
CREATE INDEX restores_status ON restores(status);
