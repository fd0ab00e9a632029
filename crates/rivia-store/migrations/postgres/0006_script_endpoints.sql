-- Script endpoints (rest §4, scripts §3, §4, §6, §7): a named, optionally public URL that
-- runs a script with the HTTP request. `id` is internal (per instance): endpoint traces
-- name it as their parent, so a new endpoint reusing a deleted one's name starts with no
-- traces. Deleting the script deletes its endpoints, as on the platform.
CREATE TABLE script_endpoints (
    instance_id BIGINT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    script_id BIGINT NOT NULL,
    public_link TEXT NOT NULL,
    public BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, id),
    UNIQUE (instance_id, name),
    FOREIGN KEY (instance_id, script_id) REFERENCES scripts(instance_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX script_endpoints_public_link ON script_endpoints(public_link);
CREATE INDEX script_endpoints_script ON script_endpoints(instance_id, script_id);
-- Endpoint traces also keep the request (`meta` = META.request) and the unmerged
-- `{"POST", "GET"}` arguments; `args_len` is the length the list cut-off measures.
ALTER TABLE traces ADD COLUMN meta TEXT;
ALTER TABLE traces ADD COLUMN args TEXT;
ALTER TABLE traces ADD COLUMN args_len BIGINT NOT NULL DEFAULT 2;
