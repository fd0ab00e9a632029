//! Object ids and class object counts (spec-core §8.1, §9) on both backends. Ids are unique
//! and increasing per instance across all its classes and its user profiles (a counter row
//! on SQLite, a sequence per instance on PostgreSQL); a class's `objects_count` follows
//! creates and deletes on every class endpoint (a counter on SQLite, counted on read on
//! PostgreSQL).

use crate::both_backends;
use crate::helpers::{TestApp, plain_object_values, store_user};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

both_backends!(
    ids_increase_per_instance_across_classes_and_profiles,
    class_objects_count_follows_creates_and_deletes,
    concurrent_creates_in_two_classes_get_distinct_ids,
    rolled_back_creates_leave_no_object,
    a_deleted_instance_takes_its_id_sequence_along,
);

const INST: &str = "ids-inst";

fn classes(inst: &str) -> String {
    format!("/v1.1/instances/{inst}/classes/")
}
fn class_url(inst: &str, c: &str) -> String {
    format!("/v1.1/instances/{inst}/classes/{c}/")
}
fn objects(inst: &str, c: &str) -> String {
    format!("/v1.1/instances/{inst}/classes/{c}/objects/")
}

/// An app with an instance and classes `a` and `b` (`b` has a unique `code`): (app, admin key).
async fn setup(app: &TestApp) -> String {
    let key = app.admin_with_instance(INST).await;
    make_classes(app, &key, INST).await;
    key
}

async fn make_classes(app: &TestApp, key: &str, inst: &str) {
    let schemas = [
        json!({"name": "a", "schema": [{"name": "n", "type": "integer"}]}),
        json!({"name": "b", "schema": [{"name": "code", "type": "string", "unique": true}]}),
    ];
    for body in schemas {
        let r = app.as_key(key, "POST", &classes(inst), Some(body)).await;
        r.expect(StatusCode::CREATED);
    }
}

/// Creates an object through the API and returns its id.
async fn create(app: &TestApp, key: &str, inst: &str, class: &str, body: Value) -> i64 {
    let r = app
        .as_key(key, "POST", &objects(inst, class), Some(body))
        .await;
    r.expect(StatusCode::CREATED);
    r.body["id"].as_i64().expect("id")
}

/// The profile object id of a user made in the store.
async fn profile_of_new_user(app: &TestApp, inst: &str, name: &str) -> i64 {
    let (user_id, _) = store_user(app, inst, name).await;
    let instance = app.stored_instance(inst).await;
    app.store
        .user(instance.id, user_id)
        .await
        .expect("db")
        .expect("user")
        .profile_id
}

/// `objects_count` of one class, read from its detail endpoint.
async fn class_count(app: &TestApp, key: &str, class: &str) -> Value {
    let r = app.as_key(key, "GET", &class_url(INST, class), None).await;
    r.expect(StatusCode::OK);
    r.body["objects_count"].clone()
}

/// `objects_count` of every class, by name, from the list endpoint (all on one page).
async fn listed_counts(app: &TestApp, key: &str, query: &str) -> Vec<(String, Value)> {
    let r = app
        .as_key(key, "GET", &format!("{}?{query}", classes(INST)), None)
        .await;
    r.expect(StatusCode::OK);
    r.body["objects"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("name").to_string();
            (name, c["objects_count"].clone())
        })
        .collect()
}

async fn ids_increase_per_instance_across_classes_and_profiles(app: TestApp) {
    let key = setup(&app).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(create(&app, &key, INST, "a", json!({"n": i})).await);
        ids.push(create(&app, &key, INST, "b", json!({"code": format!("c{i}")})).await);
        ids.push(profile_of_new_user(&app, INST, &format!("user{i}")).await);
    }
    assert_eq!(ids[0], 1, "ids are counted per instance, from 1");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids increase in creation order across classes and profiles: {ids:?}"
    );
    // Another instance counts its own ids, whatever the first one handed out.
    let other = app.admin("other-owner@example.com").await;
    app.instance(&other, "ids-other").await;
    make_classes(&app, &other, "ids-other").await;
    assert_eq!(create(&app, &other, "ids-other", "a", json!({})).await, 1);
    assert_eq!(create(&app, &other, "ids-other", "b", json!({})).await, 2);
    let next = create(&app, &key, INST, "a", json!({})).await;
    assert!(next > ids[ids.len() - 1], "{next} after {ids:?}");
}

async fn class_objects_count_follows_creates_and_deletes(app: TestApp) {
    let key = setup(&app).await;
    let mut a_ids = Vec::new();
    for n in 0..5 {
        a_ids.push(create(&app, &key, INST, "a", json!({"n": n})).await);
    }
    create(&app, &key, INST, "b", json!({"code": "only"})).await;
    for id in &a_ids[..2] {
        let r = app
            .as_key(
                &key,
                "DELETE",
                &format!("{}{id}/", objects(INST, "a")),
                None,
            )
            .await;
        r.expect(StatusCode::NO_CONTENT);
    }
    // Deleting a missing object changes nothing.
    let r = app
        .as_key(
            &key,
            "DELETE",
            &format!("{}{}/", objects(INST, "a"), a_ids[0]),
            None,
        )
        .await;
    r.expect(StatusCode::NOT_FOUND);
    assert_eq!(class_count(&app, &key, "a").await, json!(3));
    assert_eq!(class_count(&app, &key, "b").await, json!(1));

    // Users' profiles count on `user_profile`, and leave it with the user.
    let (user_id, _) = store_user(&app, INST, "geralt").await;
    store_user(&app, INST, "ciri").await;
    assert_eq!(class_count(&app, &key, "user_profile").await, json!(2));
    let r = app
        .as_key(
            &key,
            "DELETE",
            &format!("/v1.1/instances/{INST}/users/{user_id}/"),
            None,
        )
        .await;
    r.expect(StatusCode::NO_CONTENT);
    assert_eq!(class_count(&app, &key, "user_profile").await, json!(1));

    // The list shows the same counts, in order, in both directions and across pages.
    let expected = vec![
        ("user_profile".to_string(), json!(1)),
        ("a".to_string(), json!(3)),
        ("b".to_string(), json!(1)),
    ];
    assert_eq!(listed_counts(&app, &key, "").await, expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(listed_counts(&app, &key, "ordering=desc").await, reversed);
    let first = app
        .as_key(&key, "GET", &format!("{}?page_size=2", classes(INST)), None)
        .await;
    let next = first.body["next"].as_str().expect("next").to_string();
    let second = app.as_key(&key, "GET", &next, None).await;
    let paged: Vec<(String, Value)> = [first, second]
        .iter()
        .flat_map(|r| r.body["objects"].as_array().expect("classes").clone())
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_string(),
                c["objects_count"].clone(),
            )
        })
        .collect();
    assert_eq!(paged, expected);

    // Saving a class answers with its current count; a new class starts at 0.
    let r = app
        .as_key(
            &key,
            "PATCH",
            &class_url(INST, "a"),
            Some(json!({"description": "renamed"})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["objects_count"], json!(3));
    let r = app
        .as_key(&key, "POST", &classes(INST), Some(json!({"name": "fresh"})))
        .await;
    assert_eq!(r.body["objects_count"], json!(0));
    assert_eq!(class_count(&app, &key, "fresh").await, json!(0));
}

async fn concurrent_creates_in_two_classes_get_distinct_ids(app: TestApp) {
    let key = setup(&app).await;
    const PER_CLASS: usize = 60;
    let requests = (0..2 * PER_CLASS).map(|i| {
        let (app, key) = (&app, &key);
        async move {
            let (class, body) = match i % 2 {
                0 => ("a", json!({"n": i})),
                _ => ("b", json!({"code": format!("c{i}")})),
            };
            let r = app
                .as_key(key, "POST", &objects(INST, class), Some(body))
                .await;
            (class, r)
        }
    });
    let profiles = (0..4).map(|i| {
        let app = &app;
        async move { profile_of_new_user(app, INST, &format!("racer{i}")).await }
    });
    let (results, profile_ids) = futures_util::future::join(
        futures_util::future::join_all(requests),
        futures_util::future::join_all(profiles),
    )
    .await;
    let mut ids = BTreeSet::new();
    let mut by_class: [BTreeSet<i64>; 2] = Default::default();
    for (class, r) in &results {
        r.expect(StatusCode::CREATED);
        let id = r.body["id"].as_i64().expect("id");
        assert!(ids.insert(id), "id {id} handed out twice");
        by_class[usize::from(*class == "b")].insert(id);
    }
    for id in &profile_ids {
        assert!(ids.insert(*id), "profile id {id} also given to an object");
    }
    // Every acknowledged object is stored in its class, and counted there.
    for (i, class) in ["a", "b"].iter().enumerate() {
        let r = app
            .as_key(
                &key,
                "GET",
                &format!("{}?page_size=500&include_count=1", objects(INST, class)),
                None,
            )
            .await;
        let listed: BTreeSet<i64> = r.body["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| o["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(listed, by_class[i], "class {class}");
        assert_eq!(r.body["objects_count"], json!(PER_CLASS));
        assert_eq!(class_count(&app, &key, class).await, json!(PER_CLASS));
    }
    assert_eq!(class_count(&app, &key, "user_profile").await, json!(4));
}

async fn rolled_back_creates_leave_no_object(app: TestApp) {
    let key = setup(&app).await;
    let kept = create(&app, &key, INST, "b", json!({"code": "taken"})).await;
    // Refused by the database inside its transaction: the unique index.
    let r = app
        .as_key(
            &key,
            "POST",
            &objects(INST, "b"),
            Some(json!({"code": "taken"})),
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    // Inserted, then the transaction ends without a commit.
    let instance = app.stored_instance(INST).await;
    let class = app
        .store
        .class_by_name(instance.id, "a")
        .await
        .expect("db")
        .expect("class");
    let mut unit = app.store.begin_write().await.expect("begin");
    let dropped = unit
        .insert_object(instance.id, class.id, &plain_object_values())
        .await
        .expect("insert");
    drop(unit);
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{}{}/", objects(INST, "a"), dropped.id),
            None,
        )
        .await;
    r.expect(StatusCode::NOT_FOUND);
    assert_eq!(class_count(&app, &key, "a").await, json!(0));
    assert_eq!(class_count(&app, &key, "b").await, json!(1));
    // Ids go on increasing (PostgreSQL's sequence skips the rolled-back ones).
    let next = create(&app, &key, INST, "a", json!({"n": 1})).await;
    assert!(
        next > kept && next >= dropped.id,
        "{next} after {kept}, {}",
        dropped.id
    );
    let r = app.as_key(&key, "GET", &objects(INST, "a"), None).await;
    let listed: Vec<i64> = r.body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(listed, vec![next]);
    assert_eq!(class_count(&app, &key, "a").await, json!(1));
}

async fn a_deleted_instance_takes_its_id_sequence_along(app: TestApp) {
    let key = setup(&app).await;
    create(&app, &key, INST, "a", json!({})).await;
    create(&app, &key, INST, "a", json!({})).await;
    let r = app
        .as_key(&key, "DELETE", &format!("/v1.1/instances/{INST}/"), None)
        .await;
    r.expect(StatusCode::NO_CONTENT);
    // That its PostgreSQL sequence is dropped with it is checked by the store tests
    // (ids::a_deleted_instance_takes_its_id_sequence_along).
    // The name can be used again; the new instance counts from 1.
    app.instance(&key, INST).await;
    make_classes(&app, &key, INST).await;
    assert_eq!(create(&app, &key, INST, "b", json!({})).await, 1);
}
