//! Backups and restores (rest §10, issue #19) through the API: a restored copy answers
//! like the original, bad archives and non-empty targets fail without touching the
//! target, jobs cut off by a crash are marked failed, a backup is one point in time
//! while writes go on, and only owner/full admins reach any of it.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    a_restored_copy_answers_like_the_original,
    restore_into_an_instance_with_data_is_refused,
    bad_archives_fail_and_leave_the_target_as_it_was,
    backups_are_for_owner_and_full_admins_only,
    one_active_backup_per_account_and_active_backups_stay,
    jobs_cut_off_by_a_crash_are_marked_failed,
    a_backup_is_one_point_in_time_while_writes_go_on,
);

mod fixture;
pub use fixture::*;

async fn a_restored_copy_answers_like_the_original(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    let api_key = populate(&app, &key, SRC).await;
    let done = backup(&app, &key, SRC).await;
    assert_eq!(
        done["details"]["objects"], 7,
        "5 objects, 1 with a file, 1 user profile: {done}"
    );
    assert_eq!(done["details"]["files"], 1);
    assert!(done["size"].as_i64().unwrap_or(0) > 0);
    assert_eq!(done["author"]["email"], "owner-source-inst@example.com");
    assert_eq!(
        done["links"]["self"],
        format!("/v1.1/backups/full/{}/", done["id"])
    );
    // Listed per instance and per account.
    let listed = app
        .as_key(&key, "GET", &format!("{}/backups/full/", base(SRC)), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(listed["objects"][0]["id"], done["id"]);
    let account = app
        .as_key(&key, "GET", "/v1.1/backups/full/", None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(account["objects"][0]["id"], done["id"]);
    let links = app
        .as_key(&key, "GET", "/v1.1/backups/", None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(links, json!({"links": {"full": "/v1.1/backups/full/"}}));
    let links = app
        .as_key(&key, "GET", &format!("{}/backups/", base(SRC)), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        links["links"]["full"],
        format!("{}/backups/full/", base(SRC))
    );

    // Into an empty instance of the same account.
    app.instance(&key, "copy-inst").await;
    let restored = restore_from(&app, &key, "copy-inst", json!({"backup": done["id"]})).await;
    assert_eq!(restored["status"], "success", "{restored}");
    assert_eq!(restored["backup"], done["id"]);
    assert_eq!(
        visible_state(&app, &key, "copy-inst").await,
        visible_state(&app, &key, SRC).await
    );
    assert_eq!(
        file_bytes(&app, &key, "copy-inst").await,
        file_bytes(&app, &key, SRC).await
    );
    // The user's password hash came along: alice logs in to the copy. The copy's API key
    // is a new one (the original's is still in use in this database).
    let copy_key = app
        .as_key(
            &key,
            "GET",
            &format!("{}/api_keys/", base("copy-inst")),
            None,
        )
        .await
        .expect_json(StatusCode::OK)["objects"][0]["api_key"]
        .as_str()
        .expect("key")
        .to_string();
    assert_ne!(copy_key, api_key);
    app.as_key(
        &copy_key,
        "POST",
        &format!("{}/user/auth/", base("copy-inst")),
        Some(json!({"username": "alice", "password": "s3cret"})),
    )
    .await
    .expect(StatusCode::OK);
    // New objects continue after the restored ids, in both instances.
    let next = app
        .as_key(
            &key,
            "POST",
            &format!("{}/classes/docs/objects/", base("copy-inst")),
            Some(json!({"title": "after"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let max = visible_state(&app, &key, SRC).await["objects"]["objects"]
        .as_array()
        .and_then(|l| l.iter().filter_map(|o| o["id"].as_i64()).max())
        .expect("ids");
    assert!(next["id"].as_i64().expect("id") > max, "{next} after {max}");
    // An uploaded archive restores the same way.
    let archive = std::fs::read(archive_path(&app, &done).await).expect("archive");
    app.instance(&key, "upload-inst").await;
    let created = send_multipart(
        &app,
        &key,
        &format!("{}/restores/", base("upload-inst")),
        multipart("archive", "b.tar", &archive),
    )
    .await
    .expect_json(StatusCode::CREATED);
    let restored = finished(&app, &key, created["links"]["self"].as_str().expect("self")).await;
    assert_eq!(restored["status"], "success", "{restored}");
    assert_eq!(
        visible_state(&app, &key, "upload-inst").await,
        visible_state(&app, &key, SRC).await
    );
    // Deleting a finished backup removes its archive.
    let path = archive_path(&app, &done).await;
    app.as_key(
        &key,
        "DELETE",
        &format!("/v1.1/backups/full/{}/", done["id"]),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert!(!path.exists(), "{} is left", path.display());
    app.as_key(
        &key,
        "GET",
        &format!("{}/backups/full/{}/", base(SRC), done["id"]),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn restore_into_an_instance_with_data_is_refused(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    populate(&app, &key, SRC).await;
    let done = backup(&app, &key, SRC).await;
    app.instance(&key, "busy-inst").await;
    app.as_key(
        &key,
        "POST",
        &format!("{}/classes/", base("busy-inst")),
        Some(json!({"name": "mine"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let before = visible_classes(&app, &key, "busy-inst").await;
    let body = app
        .as_key(
            &key,
            "POST",
            &format!("{}/restores/", base("busy-inst")),
            Some(json!({"backup": done["id"]})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"detail": "Cannot restore to non empty target instance"})
    );
    // Restoring into the backed-up instance itself is the same case.
    app.as_key(
        &key,
        "POST",
        &format!("{}/restores/", base(SRC)),
        Some(json!({"backup": done["id"]})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    assert_eq!(visible_classes(&app, &key, "busy-inst").await, before);
    // Neither a backup nor an archive; a backup that is not the caller's.
    let body = app
        .as_key(
            &key,
            "POST",
            &format!("{}/restores/", base("busy-inst")),
            Some(json!({})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"non_field_errors": ["You have to provide either backup or archive."]})
    );
    let other = app.admin_with_instance("other-inst").await;
    let body = app
        .as_key(
            &other,
            "POST",
            &format!("{}/restores/", base("other-inst")),
            Some(json!({"backup": done["id"]})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body["backup"][0],
        format!("Invalid pk \"{}\" - object does not exist.", done["id"])
    );
}

async fn visible_classes(app: &TestApp, key: &str, inst: &str) -> Value {
    app.as_key(key, "GET", &format!("{}/classes/", base(inst)), None)
        .await
        .expect_json(StatusCode::OK)
}

async fn bad_archives_fail_and_leave_the_target_as_it_was(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    populate(&app, &key, SRC).await;
    let done = backup(&app, &key, SRC).await;
    let good = std::fs::read(archive_path(&app, &done).await).expect("archive");
    app.instance(&key, "target-inst").await;
    let before = visible_state_empty(&app, &key, "target-inst").await;

    let mut tampered = good.clone();
    let at = find(&tampered, "Docs ü".as_bytes()).expect("the class row");
    tampered[at + 1] = b'x';
    let mut newer = good.clone();
    let at = find(&newer, b"\"version\":1").expect("format version");
    newer[at + 10] = b'9';
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"definitely not a correct archive".to_vec(),
            "not a Rivia backup",
        ),
        ("truncated", good[..good.len() * 2 / 3].to_vec(), "damaged"),
        ("tampered", tampered, "does not match its checksum"),
        ("newer", newer, "format version 9"),
    ];
    for (what, bytes, expected) in cases {
        let created = send_multipart(
            &app,
            &key,
            &format!("{}/restores/", base("target-inst")),
            multipart("archive", "x.tar", &bytes),
        )
        .await
        .expect_json(StatusCode::CREATED);
        let ended = finished(&app, &key, created["links"]["self"].as_str().expect("self")).await;
        assert_eq!(ended["status"], "error", "{what}: {ended}");
        let info = ended["status_info"].as_str().unwrap_or_default();
        assert!(info.contains(expected), "{what}: {info}");
        assert_eq!(
            visible_state_empty(&app, &key, "target-inst").await,
            before,
            "{what} changed the target"
        );
    }
    // The uploaded archives are not kept once their restores ended.
    let left: Vec<_> = std::fs::read_dir(app.dir.0.join("restores"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What an empty instance shows (its built-in class and channels, nothing else).
async fn visible_state_empty(app: &TestApp, key: &str, inst: &str) -> Value {
    let b = base(inst);
    let mut out = serde_json::Map::new();
    for path in [
        "/classes/",
        "/classes/user_profile/objects/",
        "/users/",
        "/channels/",
        "/snippets/scripts/",
        "/api_keys/",
    ] {
        let body = app
            .as_key(key, "GET", &format!("{b}{path}"), None)
            .await
            .expect_json(StatusCode::OK);
        out.insert(path.into(), body);
    }
    Value::Object(out)
}

async fn backups_are_for_owner_and_full_admins_only(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    let api_key = app.api_key(&key, SRC, json!({"ignore_acl": true})).await;
    let list = format!("{}/backups/full/", base(SRC));
    app.as_key(&api_key, "GET", &list, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(
        &api_key,
        "POST",
        &format!("{}/restores/", base(SRC)),
        Some(json!({"backup": 1})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // A read-role admin of the instance.
    let reader = app.admin("reader@example.com").await;
    let reader_id = app
        .store
        .admin_by_key(&reader)
        .await
        .expect("db")
        .expect("admin")
        .id;
    let inst = app.stored_instance(SRC).await;
    app.store
        .grant_admin_role(inst.id, reader_id, rivia_core::perms::Role::Read)
        .await
        .expect("grant");
    app.as_key(&reader, "GET", &list, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&reader, "POST", &list, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    // Another account sees none of the owner's backups.
    let done = backup(&app, &key, SRC).await;
    let stranger = app.admin("stranger@example.com").await;
    app.as_key(
        &stranger,
        "GET",
        &format!("/v1.1/backups/full/{}/", done["id"]),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let theirs = app
        .as_key(&stranger, "GET", "/v1.1/backups/full/", None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(theirs["objects"], json!([]));
    app.call("GET", "/v1.1/backups/full/", &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn one_active_backup_per_account_and_active_backups_stay(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    let admin = app
        .store
        .admin_by_key(&key)
        .await
        .expect("db")
        .expect("admin");
    let inst = app.stored_instance(SRC).await;
    // A backup requested but not yet run (as if another request's job had not started).
    let pending = app
        .store
        .create_backup(
            &rivia_store::backup::jobs::NewBackup {
                owner_id: admin.id,
                instance_id: inst.id,
                description: "",
                label: "",
                metadata: "{}",
            },
            75,
        )
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("backup row");
    let body = app
        .as_key(&key, "POST", &format!("{}/backups/full/", base(SRC)), None)
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"detail": "You can have only one active backup running."})
    );
    // Running: cannot be deleted.
    assert!(
        app.store
            .claim_backup(pending.id, "elsewhere", i64::MAX)
            .await
            .expect("claim")
    );
    let body = app
        .as_key(
            &key,
            "DELETE",
            &format!("{}/backups/full/{}/", base(SRC), pending.id),
            None,
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Cannot delete active backup"}));
}

async fn jobs_cut_off_by_a_crash_are_marked_failed(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    let admin = app
        .store
        .admin_by_key(&key)
        .await
        .expect("db")
        .expect("admin");
    let inst = app.stored_instance(SRC).await;
    let row = app
        .store
        .create_backup(
            &rivia_store::backup::jobs::NewBackup {
                owner_id: admin.id,
                instance_id: inst.id,
                description: "",
                label: "",
                metadata: "{}",
            },
            75,
        )
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("backup row");
    let now = rivia_core::time::now_micros();
    // Claimed by a node that then died: its lease runs out.
    assert!(
        app.store
            .claim_backup(row.id, "dead-node", now + 1_000_000)
            .await
            .expect("claim")
    );
    let restore = app
        .store
        .create_restore(admin.id, inst.id, None, None)
        .await
        .expect("restore row");
    assert!(
        app.store
            .claim_restore(restore.id, "dead-node", now + 1_000_000)
            .await
            .expect("claim")
    );
    // Before the lease ends the jobs stand.
    let swept = app
        .store
        .sweep_jobs("this-node", now, false)
        .await
        .expect("sweep");
    assert_eq!(swept.interrupted, 0);
    let swept = app
        .store
        .sweep_jobs("this-node", now + 2_000_000, false)
        .await
        .expect("sweep");
    assert_eq!(swept.interrupted, 2);
    let b = app
        .as_key(
            &key,
            "GET",
            &format!("{}/backups/full/{}/", base(SRC), row.id),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(b["status"], "error");
    assert!(
        b["status_info"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Interrupted"),
        "{b}"
    );
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{}/restores/{}/", base(SRC), restore.id),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["status"], "error");
    // The account may back up again.
    backup(&app, &key, SRC).await;
}

async fn a_backup_is_one_point_in_time_while_writes_go_on(app: TestApp) {
    let key = app.admin_with_instance(SRC).await;
    let api_key = app
        .api_key(&key, SRC, json!({"allow_user_create": true}))
        .await;
    for i in 0..50 {
        app.as_key(
            &key,
            "POST",
            &format!("{}/users/", base(SRC)),
            Some(json!({"username": format!("u{i}"), "password": "p"})),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    // Users (each with its profile object, written in one transaction) keep being
    // created while the backup runs.
    let writer = {
        let (router, api_key) = (app.router.clone(), api_key.clone());
        tokio::spawn(async move {
            let mut made = 0;
            for i in 0..150 {
                let req = axum::http::Request::builder()
                    .method("POST")
                    .uri(format!("{}/users/", base(SRC)))
                    .header("x-api-key", &api_key)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(
                        json!({"username": format!("w{i}"), "password": "p"}).to_string(),
                    ))
                    .expect("request");
                let resp = tower::ServiceExt::oneshot(router.clone(), req)
                    .await
                    .expect("infallible");
                assert_eq!(resp.status(), StatusCode::CREATED);
                made += 1;
            }
            made
        })
    };
    let done = backup(&app, &key, SRC).await;
    assert_eq!(writer.await.expect("writer"), 150);
    let users = done["details"]["users"].as_i64().expect("users");
    assert!((50..=200).contains(&users), "{done}");
    // The same moment for both tables: one profile object per user, no more, no less.
    assert_eq!(done["details"]["objects"].as_i64(), Some(users), "{done}");
    app.instance(&key, "copy-inst").await;
    let restored = restore_from(&app, &key, "copy-inst", json!({"backup": done["id"]})).await;
    assert_eq!(restored["status"], "success", "{restored}");
    let listed = app
        .as_key(
            &key,
            "GET",
            &format!("{}/users/?page_size=500", base("copy-inst")),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        listed["objects"].as_array().map(Vec::len),
        Some(users as usize)
    );
}
