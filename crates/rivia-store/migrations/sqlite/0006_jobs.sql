-- Triggers, schedules (rest §2, §3) and the durable jobs table that runs them.
-- A trigger names its class by name, as the platform's event did: deleting the class
-- leaves the trigger, and a class created again under that name fires it again.
CREATE TABLE triggers (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- `create`, `update` or `delete` (the API shows `post_<signal>`).
    signal TEXT NOT NULL,
    class_name TEXT NOT NULL,
    script_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id),
    FOREIGN KEY (instance_id, script_id) REFERENCES scripts(instance_id, id) ON DELETE CASCADE
);
CREATE INDEX triggers_match ON triggers(instance_id, class_name, signal);
CREATE INDEX triggers_script ON triggers(instance_id, script_id);
CREATE TABLE schedules (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    script_id INTEGER NOT NULL,
    interval_sec INTEGER,
    crontab TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    -- µs; the scheduler dispatches rows whose time has come.
    scheduled_next INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id),
    FOREIGN KEY (instance_id, script_id) REFERENCES scripts(instance_id, id) ON DELETE CASCADE
);
CREATE INDEX schedules_due ON schedules(scheduled_next);
CREATE INDEX schedules_script ON schedules(instance_id, script_id);
-- Durable background work. A row is written in the same transaction as its cause (an
-- object write for a trigger, a due schedule), claimed by a worker with a lease
-- (`lease_until`, µs; `attempts` is bumped by every claim and identifies it), and deleted
-- in the same transaction as its result. A worker that dies leaves a lease that expires,
-- and the job is claimed again.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    parent TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    due_at INTEGER NOT NULL,
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs(due_at, id);
CREATE INDEX jobs_parent ON jobs(instance_id, kind, parent);
