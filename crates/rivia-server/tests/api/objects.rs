//! Data objects (spec-core §9): create and typed values, read, update operators and
//! revisions, delete. Permissions are in `objects_permissions.rs`; bad input and concurrent
//! writes in `objects_stress.rs`; queries, ordering and counts in `objects_query.rs`; file
//! fields in `files.rs`.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::objects_common::{INST, class_url, create, make_class, object, objects, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    object_create_answers_its_fields_in_order,
    values_are_coerced_to_their_field_types,
    invalid_values_are_reported_per_field,
    reference_target_must_exist,
    object_channel_must_exist,
    separate_rooms_channel_needs_a_room,
    object_in_a_channel_room_links_its_channel,
    object_get_answers_what_create_answered,
    object_put_is_not_allowed,
    deleted_object_is_gone_and_no_longer_counted,
    fields_and_excluded_fields_select_keys_of_an_object,
    update_operators_apply_to_numbers_and_arrays,
    permission_only_and_no_op_changes_keep_the_revision,
    operator_of_the_wrong_kind_is_refused,
    stale_expected_revision_is_refused,
    full_update_by_post_resets_absent_fields_and_permissions,
    object_size_is_limited,
    update_operators_are_refused_on_create,
    retyped_field_starts_empty,
);

/// Creates class `things` with a field of every type; returns the admin key.
async fn things(app: &TestApp) -> String {
    let key = setup(app).await;
    make_class(
        app,
        &key,
        json!({"name": "things", "schema": [
            {"name": "s", "type": "string"}, {"name": "t", "type": "text"},
            {"name": "i", "type": "integer"}, {"name": "f", "type": "float"},
            {"name": "bo", "type": "boolean"}, {"name": "dt", "type": "datetime"},
            {"name": "ref", "type": "reference", "target": "self"},
            {"name": "rel", "type": "relation", "target": "self"},
            {"name": "arr", "type": "array"}, {"name": "obj", "type": "object"},
            {"name": "geo", "type": "geopoint"}]}),
    )
    .await;
    key
}

/// A `things` object with every field set from loosely typed input, referring to object
/// `id1`; returns its JSON.
async fn full_thing(app: &TestApp, key: &str, id1: &Value) -> Value {
    create(
        app,
        key,
        "things",
        json!({"s": 12, "t": "long", "i": "7", "f": 1.5, "bo": "yes",
               "dt": "2015-01-01T12:00:00.5Z", "ref": id1, "rel": [id1, 9999, id1],
               "arr": [1, "a", true], "obj": {"k": [1]}, "geo": {"longitude": 10, "latitude": -5.5},
               "unknown": 1}),
    )
    .await
}

/// `things` with a first object `{"s": "one"}` and a full one: (key, first, full).
async fn two_things(app: &TestApp) -> (String, Value, Value) {
    let key = things(app).await;
    let first = create(app, &key, "things", json!({"s": "one"})).await;
    let full = full_thing(app, &key, &first["id"]).await;
    (key, first, full)
}

async fn create_error(app: &TestApp, key: &str, body: Value) -> Value {
    app.as_key(key, "POST", &objects("things"), Some(body))
        .await
        .json()
}

async fn object_create_answers_its_fields_in_order(app: TestApp) {
    let key = things(&app).await;
    let first = create(&app, &key, "things", json!({"s": "one"})).await;
    let keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "created_at",
            "updated_at",
            "revision",
            "owner",
            "owner_permissions",
            "group",
            "group_permissions",
            "other_permissions",
            "channel",
            "channel_room",
            "s",
            "t",
            "i",
            "f",
            "bo",
            "dt",
            "ref",
            "rel",
            "arr",
            "obj",
            "geo",
            "links"
        ]
    );
    assert_eq!(
        (
            first["owner_permissions"].clone(),
            first["other_permissions"].clone(),
            first["revision"].clone()
        ),
        (json!("full"), json!("none"), json!(1))
    );
    assert_eq!(
        first["links"],
        json!({"self": object("things", &first["id"])})
    );
}

async fn values_are_coerced_to_their_field_types(app: TestApp) {
    let (_, first, full) = two_things(&app).await;
    let id1 = &first["id"];
    assert_eq!(full["s"], "12");
    assert_eq!(full["i"], 7);
    assert_eq!(full["bo"], true);
    assert_eq!(
        full["dt"],
        json!({"type": "datetime", "value": "2015-01-01T12:00:00.500000Z"})
    );
    assert_eq!(
        full["ref"],
        json!({"type": "reference", "target": "self", "value": id1})
    );
    assert_eq!(
        full["rel"],
        json!({"type": "relation", "target": "self", "value": [id1]})
    );
    assert_eq!(
        full["geo"],
        json!({"type": "geopoint", "longitude": 10.0, "latitude": -5.5})
    );
    assert_eq!(full["obj"], json!({"k": [1]}));
}

async fn invalid_values_are_reported_per_field(app: TestApp) {
    let key = things(&app).await;
    let bad = app
        .as_key(
            &key,
            "POST",
            &objects("things"),
            Some(json!({"i": "x", "arr": {"a": 1}, "ref": 9999, "dt": "2015-01-01", "owner_permissions": "furry"})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(bad["i"], json!(["A valid integer is required."]));
    assert_eq!(bad["arr"], json!(["Not a valid array."]));
    assert_eq!(
        bad["owner_permissions"],
        json!(["\"furry\" is not a valid choice."])
    );
    assert_eq!(
        bad["dt"],
        json!([
            "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm:ss.uuuuuuZ."
        ])
    );
}

async fn reference_target_must_exist(app: TestApp) {
    let key = things(&app).await;
    assert_eq!(
        create_error(&app, &key, json!({"ref": 9999})).await,
        json!({"ref": ["Target with specified id does not exist."]})
    );
}

async fn object_channel_must_exist(app: TestApp) {
    let key = things(&app).await;
    assert_eq!(
        create_error(&app, &key, json!({"channel": "nope"})).await,
        json!({"channel": ["Object with name=nope does not exist."]})
    );
}

async fn separate_rooms_channel_needs_a_room(app: TestApp) {
    let key = things(&app).await;
    assert_eq!(
        create_error(&app, &key, json!({"channel": "default"})).await,
        json!({"non_field_errors": ["Channel room field is required for channels with separate rooms."]})
    );
}

async fn object_in_a_channel_room_links_its_channel(app: TestApp) {
    let key = things(&app).await;
    let in_room = create(
        &app,
        &key,
        "things",
        json!({"channel": "default", "channel_room": "r1"}),
    )
    .await;
    assert_eq!(
        in_room["links"]["channel"],
        format!("/v1.1/instances/{INST}/channels/default/")
    );
}

async fn object_get_answers_what_create_answered(app: TestApp) {
    let (key, _, full) = two_things(&app).await;
    let got = app
        .as_key(&key, "GET", &object("things", &full["id"]), None)
        .await;
    assert_eq!(got.body, full);
}

async fn object_put_is_not_allowed(app: TestApp) {
    let (key, first, _) = two_things(&app).await;
    let put = app
        .as_key(
            &key,
            "PUT",
            &object("things", &first["id"]),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        put.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        json!({"detail": "Method \"PUT\" not allowed."})
    );
}

async fn deleted_object_is_gone_and_no_longer_counted(app: TestApp) {
    let (key, first, _) = two_things(&app).await;
    create(&app, &key, "things", json!({})).await;
    let url = object("things", &first["id"]);
    app.as_key(&key, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let again = app.as_key(&key, "GET", &url, None).await;
    assert_eq!(
        again.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let class = app.as_key(&key, "GET", &class_url("things"), None).await;
    assert_eq!(class.body["objects_count"], 2);
}

async fn fields_and_excluded_fields_select_keys_of_an_object(app: TestApp) {
    let (key, _, full) = two_things(&app).await;
    let url = format!(
        "{}?fields=id,s&excluded_fields=id",
        object("things", &full["id"])
    );
    let fields = app.as_key(&key, "GET", &url, None).await;
    assert_eq!(fields.body, json!({"s": "12"}));
}

/// Class `ops` and an object `{"n": 1, "tags": ["a"], "note": "keep"}` in it:
/// (admin key, the object's URL).
async fn ops(app: &TestApp) -> (String, String) {
    let key = setup(app).await;
    make_class(
        app,
        &key,
        json!({"name": "ops", "schema": [
            {"name": "n", "type": "integer"}, {"name": "x", "type": "float"},
            {"name": "tags", "type": "array"}, {"name": "note", "type": "text"},
            {"name": "note2", "type": "text"}]}),
    )
    .await;
    let o = create(
        app,
        &key,
        "ops",
        json!({"n": 1, "tags": ["a"], "note": "keep"}),
    )
    .await;
    (key, object("ops", &o["id"]))
}

async fn patch(app: &TestApp, key: &str, url: &str, body: Value) -> Value {
    app.as_key(key, "PATCH", url, Some(body)).await.json()
}

async fn update_operators_apply_to_numbers_and_arrays(app: TestApp) {
    let (key, url) = ops(&app).await;
    let r = app
        .as_key(
            &key,
            "PATCH",
            &url,
            Some(json!({"n": {"_increment": 4}, "x": {"_increment": 0.5},
                        "tags": {"_add": ["b", "a"], "_addunique": ["c", "a"], "_remove": "a"}})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (r["n"].clone(), r["x"].clone(), r["tags"].clone()),
        (json!(5), json!(0.5), json!(["b", "c"]))
    );
    assert_eq!(r["revision"], 2);
}

async fn permission_only_and_no_op_changes_keep_the_revision(app: TestApp) {
    let (key, url) = ops(&app).await;
    let r = patch(
        &app,
        &key,
        &url,
        json!({"other_permissions": "read", "n": 1}),
    )
    .await;
    assert_eq!(
        (r["revision"].clone(), r["other_permissions"].clone()),
        (json!(1), json!("read"))
    );
}

async fn operator_of_the_wrong_kind_is_refused(app: TestApp) {
    let (key, url) = ops(&app).await;
    let bad_op = patch(&app, &key, &url, json!({"n": {"_add": 1}})).await;
    assert_eq!(bad_op, json!({"n": ["A valid integer is required."]}));
}

async fn stale_expected_revision_is_refused(app: TestApp) {
    let (key, url) = ops(&app).await;
    let r = patch(&app, &key, &url, json!({"n": {"_increment": 4}})).await;
    assert_eq!(r["revision"], 2);
    let stale = patch(&app, &key, &url, json!({"n": 1, "expected_revision": 1})).await;
    assert_eq!(
        stale,
        json!({"expected_revision": "Revision mismatch. Expected 1, got 2."})
    );
}

async fn full_update_by_post_resets_absent_fields_and_permissions(app: TestApp) {
    let (key, url) = ops(&app).await;
    patch(&app, &key, &url, json!({"other_permissions": "read"})).await;
    let r = app
        .as_key(&key, "POST", &url, Some(json!({"n": 9})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            r["n"].clone(),
            r["tags"].clone(),
            r["note"].clone(),
            r["other_permissions"].clone()
        ),
        (json!(9), Value::Null, Value::Null, json!("none"))
    );
}

async fn object_size_is_limited(app: TestApp) {
    let (key, url) = ops(&app).await;
    let one = "x".repeat(31000);
    app.as_key(&key, "PATCH", &url, Some(json!({"note": one})))
        .await
        .expect(StatusCode::OK);
    let too_big = patch(&app, &key, &url, json!({"note2": one})).await;
    assert_eq!(
        too_big,
        json!({"non_field_errors": ["Object maximum size exceeded."]})
    );
}

async fn update_operators_are_refused_on_create(app: TestApp) {
    let (key, _) = ops(&app).await;
    let on_create = app
        .as_key(
            &key,
            "POST",
            &objects("ops"),
            Some(json!({"n": {"_increment": 1}})),
        )
        .await;
    assert_eq!(
        on_create.body,
        json!({"n": ["A valid integer is required."]})
    );
}

async fn retyped_field_starts_empty(app: TestApp) {
    let key = setup(&app).await;
    make_class(&app, &key, json!({"name": "re", "schema": [{"name": "v", "type": "integer"}, {"name": "w", "type": "string"}]})).await;
    let o = create(&app, &key, "re", json!({"v": 3, "w": "kept"})).await;
    let schema = |s: Value| json!({"schema": s});
    patch(
        &app,
        &key,
        &class_url("re"),
        schema(json!([{"name": "v", "type": "string"}, {"name": "w", "type": "string", "filter_index": true}])),
    )
    .await;
    let r = app.as_key(&key, "GET", &object("re", &o["id"]), None).await;
    assert_eq!(
        (r.body["v"].clone(), r.body["w"].clone()),
        (Value::Null, json!("kept"))
    );
    // Removing and re-adding a field also starts it empty.
    patch(&app, &key, &class_url("re"), schema(json!([]))).await;
    let w = json!([{"name": "w", "type": "string"}]);
    patch(&app, &key, &class_url("re"), schema(w)).await;
    let r = app.as_key(&key, "GET", &object("re", &o["id"]), None).await;
    assert_eq!(r.body["w"], Value::Null);
}
