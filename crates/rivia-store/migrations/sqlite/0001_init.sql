-- Rivia schema, SQLite dialect. Timestamps are microseconds since the epoch (UTC).
-- Per-class object tables (c<class id>) are created at run time, named from integer ids.
CREATE TABLE admins (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    password TEXT,
    is_active INTEGER NOT NULL DEFAULT 0,
    is_staff INTEGER NOT NULL DEFAULT 0,
    account_key TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE TABLE admin_tokens (
    token TEXT PRIMARY KEY,
    admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    owner_id INTEGER NOT NULL REFERENCES admins(id),
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX instances_owner ON instances(owner_id);
CREATE TABLE instance_counters (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (instance_id, kind)
);
CREATE TABLE admin_roles (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    role INTEGER NOT NULL,
    PRIMARY KEY (instance_id, admin_id)
);
CREATE INDEX admin_roles_admin ON admin_roles(admin_id, instance_id);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    api_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    ignore_acl INTEGER NOT NULL DEFAULT 0,
    allow_user_create INTEGER NOT NULL DEFAULT 0,
    allow_group_create INTEGER NOT NULL DEFAULT 0,
    allow_anonymous_read INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_instance ON api_keys(instance_id, id);
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    role INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE,
    inviter_id INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    state INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX invitations_instance ON invitations(instance_id, id);
CREATE INDEX invitations_email ON invitations(email_lower, state);
CREATE TABLE users (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    user_key TEXT NOT NULL UNIQUE,
    profile_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id),
    UNIQUE (instance_id, username)
);
CREATE TABLE user_groups (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    name TEXT,
    label TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id),
    UNIQUE (instance_id, name)
);
CREATE TABLE memberships (
    instance_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, user_id, group_id),
    FOREIGN KEY (instance_id, user_id) REFERENCES users(instance_id, id) ON DELETE CASCADE,
    FOREIGN KEY (instance_id, group_id) REFERENCES user_groups(instance_id, id) ON DELETE CASCADE
);
CREATE INDEX memberships_group ON memberships(instance_id, group_id, user_id);
CREATE TABLE classes (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    schema TEXT NOT NULL DEFAULT '[]',
    revision INTEGER NOT NULL DEFAULT 1,
    group_id INTEGER,
    group_permissions INTEGER NOT NULL DEFAULT 2,
    other_permissions INTEGER NOT NULL DEFAULT 2,
    metadata TEXT NOT NULL DEFAULT '{}',
    objects_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type INTEGER NOT NULL DEFAULT 0,
    group_id INTEGER,
    group_permissions INTEGER NOT NULL DEFAULT 0,
    other_permissions INTEGER NOT NULL DEFAULT 0,
    custom_publish INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);
CREATE TABLE changes (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    room TEXT,
    action TEXT NOT NULL,
    author TEXT NOT NULL,
    metadata TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX changes_channel ON changes(channel_id, room, id);
