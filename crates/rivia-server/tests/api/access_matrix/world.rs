//! The access matrix's fixture: a [`World`] of one instance with every kind of caller, the
//! ids that fill the routes' parameters, and the markers that must not leak.

use super::Caller::{self, *};
use crate::helpers::{TestApp, store_user};
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything the cells need: the instance, the callers' credentials, the ids that fill
/// the routes' parameters, and the markers that must not leak.
pub(super) struct World {
    pub(super) instance: String,
    /// Account keys of owner, full, write, read, stranger.
    pub(super) admin_keys: [String; 5],
    /// Keys: flagless, ignore_acl, allow_user_create, allow_group_create,
    /// allow_anonymous_read; then the spare one the api_keys routes act on.
    pub(super) api_keys: [String; 6],
    pub(super) alice_key: String,
    pub(super) bob_key: String,
    pub(super) alice: i64,
    pub(super) group: i64,
    pub(super) object: i64,
    pub(super) write_admin: i64,
    pub(super) spare_key: i64,
    pub(super) invitation: i64,
    pub(super) invitation_key: String,
    pub(super) change: i64,
    pub(super) script: i64,
    pub(super) trace: i64,
    pub(super) trigger: i64,
    pub(super) backup: i64,
    pub(super) restore: i64,
    pub(super) trigger_trace: i64,
    pub(super) schedule: i64,
    pub(super) schedule_trace: i64,
    pub(super) endpoint_trace: i64,
    pub(super) public_link: String,
    pub(super) media_path: String,
    /// The private object's title and the private channel message's payload.
    pub(super) private: String,
    /// A title stored in the stranger's instance.
    pub(super) elsewhere: String,
}

static WORLDS: AtomicUsize = AtomicUsize::new(0);

/// A password hash computed once (hashing is slow on purpose).
fn hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| rivia_core::password::hash("matrix-password").expect("hash"))
}

async fn store_admin(app: &TestApp, email: &str) -> (i64, String) {
    let key = rivia_core::keys::new_account_key();
    let admin = app
        .store
        .create_admin(rivia_store::admins::NewAdmin {
            email,
            password: Some(hash()),
            first_name: "",
            last_name: "",
            account_key: &key,
            is_active: true,
        })
        .await
        .expect("admin");
    (admin.id, key)
}

async fn ok(app: &TestApp, key: &str, method: &str, path: &str, body: Value) -> Value {
    let r = app.as_key(key, method, path, Some(body)).await;
    assert!(
        r.status.is_success(),
        "fixture: {} → {} {}",
        r.request,
        r.status,
        r.body
    );
    r.body
}

/// Builds a fresh world in a new instance, with new accounts.
pub(super) async fn build_world(app: &TestApp) -> World {
    let n = WORLDS.fetch_add(1, Ordering::Relaxed);
    let instance = format!("matrix-{n}");
    let private = format!("PRIVATE-{n}-7f3a");
    let elsewhere = format!("ELSEWHERE-{n}-9c1d");
    let (_, owner) = store_admin(app, &format!("owner-{n}@matrix.test")).await;
    app.instance(&owner, &instance).await;
    let inst = app.stored_instance(&instance).await;
    let mut admin_keys = vec![owner.clone()];
    let mut write_admin = 0;
    for role in [Role::Full, Role::Write, Role::Read] {
        let (id, key) = store_admin(app, &format!("{}-{n}@matrix.test", role.name())).await;
        app.store
            .grant_admin_role(inst.id, id, role)
            .await
            .expect("role");
        if role == Role::Write {
            write_admin = id;
        }
        admin_keys.push(key);
    }
    let stranger_email = format!("stranger-{n}@matrix.test");
    let (_, stranger) = store_admin(app, &stranger_email).await;
    let other_instance = format!("elsewhere-{n}");
    app.instance(&stranger, &other_instance).await;
    let base = format!("/v1.1/instances/{other_instance}");
    ok(
        app,
        &stranger,
        "POST",
        &format!("{base}/classes/"),
        json!({"name": "notes", "schema": [{"name": "title", "type": "string"}]}),
    )
    .await;
    ok(
        app,
        &stranger,
        "POST",
        &format!("{base}/classes/notes/objects/"),
        json!({"title": elsewhere}),
    )
    .await;
    admin_keys.push(stranger);

    let base = format!("/v1.1/instances/{instance}");
    let mut api_keys = Vec::new();
    let mut spare_key = 0;
    for flags in [
        json!({}),
        json!({"ignore_acl": true}),
        json!({"allow_user_create": true}),
        json!({"allow_group_create": true}),
        json!({"allow_anonymous_read": true}),
        json!({"description": "spare"}),
    ] {
        let k = ok(app, &owner, "POST", &format!("{base}/api_keys/"), flags).await;
        spare_key = k["id"].as_i64().expect("id");
        api_keys.push(k["api_key"].as_str().expect("key").to_string());
    }
    let (alice, alice_key) = store_user(app, &instance, "alice").await;
    let (_, bob_key) = store_user(app, &instance, "bob").await;
    let group = crate::helpers::store_group(app, &instance, &[alice]).await;

    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/classes/"),
        json!({
            "name": "notes",
            "schema": [{"name": "title", "type": "string"}, {"name": "file", "type": "file"}],
            "other_permissions": "read", "group_permissions": "create_objects", "group": group,
        }),
    )
    .await;
    // Alice's private object, created as alice, with a file.
    let object = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/classes/notes/objects/"),
        json!({
            "title": private, "owner": alice, "owner_permissions": "full",
            "other_permissions": "none", "group_permissions": "none",
        }),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let media_path = upload(
        app,
        &owner,
        &format!("{base}/classes/notes/objects/{object}/"),
    )
    .await;
    // A public object, so that lists have something others may read.
    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/classes/notes/objects/"),
        json!({"title": "public", "other_permissions": "read"}),
    )
    .await;

    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/channels/"),
        json!({
            "name": "secret", "custom_publish": true, "group": group,
            "group_permissions": "publish", "other_permissions": "none",
        }),
    )
    .await;
    let change = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/channels/secret/publish/"),
        json!({"payload": {"m": private}}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let inv = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/invitations/"),
        json!({"email": stranger_email, "role": "read"}),
    )
    .await;
    let script = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/snippets/scripts/"),
        json!({"label": "s", "runtime_name": "python3", "source": "print(1)"}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let trace = app
        .store
        .create_trace(inst.id, "script", &script.to_string())
        .await
        .expect("trace")
        .id;
    let endpoint = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/endpoints/scripts/"),
        json!({"name": "ep", "script": script, "public": true}),
    )
    .await;
    let endpoint_id = app
        .store
        .script_endpoint(inst.id, "ep")
        .await
        .expect("db")
        .expect("endpoint")
        .id;
    let endpoint_trace = app
        .store
        .create_endpoint_trace(inst.id, endpoint_id, "{}", "{}", 2)
        .await
        .expect("trace")
        .id;
    let trigger = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/triggers/"),
        json!({"label": "t", "signal": "post_update", "class": "notes", "script": script}),
    )
    .await["id"]
        .as_i64()
        .expect("trigger id");
    let trigger_trace = app
        .store
        .create_trace(inst.id, "trigger", &trigger.to_string())
        .await
        .expect("trace")
        .id;
    let schedule = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/schedules/"),
        json!({"label": "s", "interval_sec": 86400, "script": script}),
    )
    .await["id"]
        .as_i64()
        .expect("schedule id");
    let schedule_trace = app
        .store
        .create_trace(inst.id, "schedule", &schedule.to_string())
        .await
        .expect("trace")
        .id;
    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/endpoints/data/"),
        json!({"name": "de", "class": "notes"}),
    )
    .await;
    // A finished backup and a failed restore, written as rows (a real backup job would
    // run in the background of every rebuilt world).
    let now = rivia_core::time::now_micros();
    let raw = app.store.raw();
    raw.write(vec![(
        "INSERT INTO backups (owner_id, instance_id, status, created_at, updated_at) VALUES ($1, $2, 3, $3, $3)".into(),
        vec![inst.owner_id.into(), inst.id.into(), now.into()],
    )])
    .await
    .expect("backup row");
    let last = |table: &'static str| {
        let raw = &raw;
        let id = inst.id;
        async move {
            raw.query(
                &format!("SELECT MAX(id) FROM {table} WHERE instance_id = $1"),
                vec![id.into()],
            )
            .await
            .expect("id")[0]
                .i64(0)
        }
    };
    let backup = last("backups").await;
    raw.write(vec![(
        "INSERT INTO restores (owner_id, instance_id, backup_id, status, created_at, updated_at) VALUES ($1, $2, $3, 4, $4, $4)".into(),
        vec![inst.owner_id.into(), inst.id.into(), backup.into(), now.into()],
    )])
    .await
    .expect("restore row");
    let restore = last("restores").await;
    World {
        instance,
        admin_keys: admin_keys.try_into().expect("five admins"),
        api_keys: api_keys.try_into().expect("six keys"),
        alice_key,
        bob_key,
        alice,
        group,
        object,
        write_admin,
        spare_key,
        invitation: inv["id"].as_i64().expect("id"),
        invitation_key: inv["key"].as_str().expect("key").to_string(),
        change,
        script,
        trace,
        trigger,
        backup,
        restore,
        trigger_trace,
        schedule,
        schedule_trace,
        endpoint_trace,
        public_link: endpoint["public_link"]
            .as_str()
            .expect("public_link")
            .to_string(),
        media_path,
        private,
        elsewhere,
    }
}

/// PATCHes a small file into the object's `file` field; its `/media/…` path.
async fn upload(app: &TestApp, key: &str, url: &str) -> String {
    let boundary = "MaTrIx";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nfile body\r\n--{boundary}--\r\n"
    );
    let req = axum::http::Request::builder()
        .method("PATCH")
        .uri(url)
        .header("x-api-key", key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "upload: {}", r.body);
    let url = r.body["file"]["value"].as_str().expect("file url");
    url[url.find("/media/").expect("media")..].to_string()
}

impl World {
    /// The credentials a caller sends.
    pub(super) fn headers(&self, caller: Caller) -> Vec<(&'static str, String)> {
        let key = |k: &String| vec![("x-api-key", k.clone())];
        match caller {
            Owner => key(&self.admin_keys[0]),
            Full => key(&self.admin_keys[1]),
            Write => key(&self.admin_keys[2]),
            Read => key(&self.admin_keys[3]),
            Stranger => key(&self.admin_keys[4]),
            NoKey => vec![],
            Key => key(&self.api_keys[0]),
            IgnoreAcl => key(&self.api_keys[1]),
            UserCreate => key(&self.api_keys[2]),
            GroupCreate => key(&self.api_keys[3]),
            AnonRead => key(&self.api_keys[4]),
            User => vec![
                ("x-api-key", self.api_keys[0].clone()),
                ("x-user-key", self.alice_key.clone()),
            ],
            OtherUser => vec![
                ("x-api-key", self.api_keys[0].clone()),
                ("x-user-key", self.bob_key.clone()),
            ],
        }
    }

    /// The value of a path parameter; `noun` is the segment before it.
    pub(super) fn param(&self, name: &str, noun: &str, route: &str) -> String {
        match (name, noun) {
            ("instance", _) => self.instance.clone(),
            ("class", _) => "notes".into(),
            ("name", "channels") => "secret".into(),
            ("group", _) => self.group.to_string(),
            ("user", _) => self.alice.to_string(),
            ("trace_id", _) if route.contains("/endpoints/") => self.endpoint_trace.to_string(),
            ("trace_id", _) if route.contains("/triggers/") => self.trigger_trace.to_string(),
            ("trace_id", _) if route.contains("/schedules/") => self.schedule_trace.to_string(),
            ("name", _) if route.contains("/endpoints/data/") => "de".into(),
            ("name", _) if route.contains("/snippets/templates/") => "objects_csv".into(),
            ("id", "triggers") => self.trigger.to_string(),
            ("id", "full") => self.backup.to_string(),
            ("id", "restores") => self.restore.to_string(),
            ("id", "schedules") => self.schedule.to_string(),
            ("trace_id", _) => self.trace.to_string(),
            ("name", _) if route.contains("/endpoints/scripts/") => "ep".into(),
            ("public_link", _) => self.public_link.clone(),
            ("backend", _) => "facebook".into(),
            ("id", "admins") => self.write_admin.to_string(),
            ("id", "api_keys") => self.spare_key.to_string(),
            ("id", "history") => self.change.to_string(),
            ("id", "invitations") => self.invitation.to_string(),
            ("id", "users") => self.alice.to_string(),
            ("id", "groups") => self.group.to_string(),
            ("id", "objects") => self.object.to_string(),
            ("id", "scripts") => self.script.to_string(),
            _ => panic!(
                "{route}: the access matrix does not know what {{{name}}} after `{noun}` is; \
                 teach World::param and build_world"
            ),
        }
    }

    /// The route with its parameters filled in.
    pub(super) fn path(&self, route: &str) -> String {
        if route.starts_with("/media/") {
            return self.media_path.clone();
        }
        let segments: Vec<&str> = route.split('/').collect();
        segments
            .iter()
            .enumerate()
            .map(
                |(i, seg)| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => self.param(name, segments[i.saturating_sub(1)], route),
                    None => seg.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every marker with the callers that may see it in an answer.
    pub(super) fn markers(&self) -> Vec<(&str, &'static str, Vec<Caller>)> {
        let admins = vec![Owner, Full, Write, Read];
        let readers_of_private = [admins.clone(), vec![IgnoreAcl, User]].concat();
        let mut out = vec![
            (
                self.private.as_str(),
                "alice's private object and message",
                readers_of_private,
            ),
            (self.elsewhere.as_str(), "another instance's object", vec![]),
            (
                self.invitation_key.as_str(),
                "the invitation key",
                vec![Owner, Full, Stranger],
            ),
            (
                self.alice_key.as_str(),
                "alice's user key",
                [admins.clone(), vec![IgnoreAcl, User]].concat(),
            ),
            (
                self.bob_key.as_str(),
                "bob's user key",
                [admins.clone(), vec![IgnoreAcl, OtherUser]].concat(),
            ),
        ];
        let admin_callers = [Owner, Full, Write, Read, Stranger];
        for (key, caller) in self.admin_keys.iter().zip(admin_callers) {
            out.push((key.as_str(), "an account key", vec![caller]));
        }
        let key_callers: [&[Caller]; 6] = [
            &[Key, User, OtherUser],
            &[IgnoreAcl],
            &[UserCreate],
            &[GroupCreate],
            &[AnonRead],
            &[],
        ];
        for (key, own) in self.api_keys.iter().zip(key_callers) {
            out.push((
                key.as_str(),
                "an API key",
                [vec![Owner, Full], own.to_vec()].concat(),
            ));
        }
        out
    }
}
