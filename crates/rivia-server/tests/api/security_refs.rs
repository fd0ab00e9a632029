//! Issue #13 §1: references and `_is` lookups reveal nothing of objects the caller may not
//! read (a reference to one is refused exactly as one to a missing id; `_is` never matches
//! one, so a secret cannot be guessed a character at a time).

use crate::both_backends;
use crate::helpers::{TestApp, store_user};
use crate::objects_common::{INST, create, ids, make_class, objects, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    reference_to_an_unreadable_object_is_refused_as_missing,
    relation_drops_unreadable_objects_as_missing,
    is_lookup_never_matches_an_unreadable_target,
    is_lookup_on_a_class_the_user_may_not_read_matches_nothing,
);

/// Class `secrets` (users may read and create), alice's private secret, class `refs`
/// (one reference and one relation to `secrets`, readable by anybody) and an admin-made
/// `refs` object pointing at the secret that everybody may read.
struct World {
    key: String,
    api_key: String,
    akey: String,
    bkey: String,
    secret: i64,
    shared_ref: i64,
}

async fn world(app: &TestApp, secrets_perms: &str) -> World {
    let key = setup(app).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let (alice, akey) = store_user(app, INST, "alice").await;
    let (_bob, bkey) = store_user(app, INST, "bob").await;
    make_class(
        app,
        &key,
        json!({"name": "secrets", "other_permissions": secrets_perms,
               "schema": [{"name": "title", "type": "string", "filter_index": true}]}),
    )
    .await;
    make_class(
        app,
        &key,
        json!({"name": "refs", "other_permissions": "create_objects", "schema": [
            {"name": "target", "type": "reference", "target": "secrets", "filter_index": true},
            {"name": "many", "type": "relation", "target": "secrets"}]}),
    )
    .await;
    let secret = create(app, &key, "secrets", json!({"title": "U1-TOPSECRET"})).await;
    let secret = secret["id"].as_i64().expect("id");
    // Alice owns it (full); nobody else may read it.
    app.as_key(
        &key,
        "PATCH",
        &format!("{}{secret}/", objects("secrets")),
        Some(json!({"owner": alice, "owner_permissions": "full"})),
    )
    .await
    .expect(StatusCode::OK);
    let shared = create(
        app,
        &key,
        "refs",
        json!({"target": secret, "other_permissions": "read"}),
    )
    .await;
    World {
        key,
        api_key,
        akey,
        bkey,
        secret,
        shared_ref: shared["id"].as_i64().expect("id"),
    }
}

async fn reference_to_an_unreadable_object_is_refused_as_missing(app: TestApp) {
    let w = world(&app, "create_objects").await;
    let post = |user: String, target: i64| {
        let (app, api_key) = (&app, w.api_key.clone());
        async move {
            app.as_user(
                &api_key,
                &user,
                "POST",
                &objects("refs"),
                Some(json!({"target": target})),
            )
            .await
        }
    };
    let missing = post(w.bkey.clone(), w.secret + 1000).await;
    let hidden = post(w.bkey.clone(), w.secret).await;
    hidden.expect(StatusCode::BAD_REQUEST);
    assert_eq!(hidden.body, missing.body, "same answer as for a missing id");
    assert_eq!(
        hidden.body,
        json!({"target": ["Target with specified id does not exist."]})
    );
    // Its owner may reference it.
    post(w.akey.clone(), w.secret)
        .await
        .expect(StatusCode::CREATED);
}

async fn relation_drops_unreadable_objects_as_missing(app: TestApp) {
    let w = world(&app, "create_objects").await;
    let r = app
        .as_user(
            &w.api_key,
            &w.bkey,
            "POST",
            &objects("refs"),
            Some(json!({"many": [w.secret, w.secret + 1000]})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(r["many"], Value::Null, "{r}");
    let r = app
        .as_user(
            &w.api_key,
            &w.akey,
            "POST",
            &objects("refs"),
            Some(json!({"many": [w.secret]})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(r["many"]["value"], json!([w.secret]), "{r}");
}

/// The guessing attack of the issue: the right guess must look like a wrong one.
async fn guess(app: &TestApp, w: &World, user_key: &str, prefix: &str) -> Vec<i64> {
    let q =
        json!({"id": {"_eq": w.shared_ref}, "target": {"_is": {"title": {"_startswith": prefix}}}});
    let url = format!(
        "{}?query={}",
        objects("refs"),
        rivia_core::page::encode_query_value(&q.to_string())
    );
    let r = app.as_user(&w.api_key, user_key, "GET", &url, None).await;
    r.expect(StatusCode::OK);
    ids(&r)
}

async fn is_lookup_never_matches_an_unreadable_target(app: TestApp) {
    let w = world(&app, "create_objects").await;
    assert_eq!(guess(&app, &w, &w.bkey, "U1-T").await, Vec::<i64>::new());
    assert_eq!(guess(&app, &w, &w.bkey, "X").await, Vec::<i64>::new());
    assert_eq!(guess(&app, &w, &w.akey, "U1-T").await, vec![w.shared_ref]);
    // Admins read everything.
    let q = json!({"target": {"_is": {"title": {"_startswith": "U1-T"}}}});
    let url = format!(
        "{}?query={}",
        objects("refs"),
        rivia_core::page::encode_query_value(&q.to_string())
    );
    let r = app.as_key(&w.key, "GET", &url, None).await;
    assert_eq!(ids(&r), vec![w.shared_ref]);
}

async fn is_lookup_on_a_class_the_user_may_not_read_matches_nothing(app: TestApp) {
    let w = world(&app, "none").await;
    // Even alice, the owner, may not read `secrets` now: the class gate refuses her.
    assert_eq!(guess(&app, &w, &w.akey, "U1-T").await, Vec::<i64>::new());
    assert_eq!(guess(&app, &w, &w.bkey, "U1-T").await, Vec::<i64>::new());
}
