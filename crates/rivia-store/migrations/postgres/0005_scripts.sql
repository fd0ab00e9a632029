-- Scripts (rest §1, §8; scripts §6): the instance config, scripts and their run traces.
-- The instance config lives in its own row so that instance reads (every request
-- authenticates against instances) never carry up to 256 KB of script configuration.
CREATE TABLE instance_configs (
    instance_id BIGINT PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
    config TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE scripts (
    instance_id BIGINT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    runtime_name TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT '{}',
    label TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX scripts_label ON scripts(instance_id, label);
-- Traces of every kind of run (`kind` = 'script' now; schedules, triggers and script
-- endpoints later), ids counted per instance and kind as the platform did. `parent` is the
-- script id (or a later kind's key) as text. `result_len` is the length of the result as
-- the platform measured it for the list cut-off, so lists need not read big results.
CREATE TABLE traces (
    instance_id BIGINT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    id BIGINT NOT NULL,
    parent TEXT NOT NULL,
    status TEXT NOT NULL,
    executed_at BIGINT,
    duration BIGINT,
    result TEXT NOT NULL DEFAULT '{}',
    result_len BIGINT NOT NULL DEFAULT 2,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, kind, id)
);
CREATE INDEX traces_parent ON traces(instance_id, kind, parent, id);
CREATE INDEX traces_updated ON traces(updated_at);
