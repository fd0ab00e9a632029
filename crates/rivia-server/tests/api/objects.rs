//! Data objects (spec-core §9): create and typed values, read, update operators and
//! revisions, delete, permissions of users and keys, bad input, concurrent writes.
//! Queries, ordering and counts are in `objects_query.rs`; file fields in `files.rs`.

use crate::both_backends;
use crate::helpers::{TestApp, store_group, store_user};
use crate::objects_common::{
    INST, class_url, classes, count_objects, create, ids, make_class, object, objects, pub_class,
    setup,
};
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
    owner_is_forced_to_the_creating_user,
    users_may_only_use_their_own_groups,
    users_see_only_objects_they_may_read,
    group_write_permits_edits_with_capped_permissions,
    only_the_owner_may_change_the_owner_or_delete,
    others_read_what_other_permissions_allow_and_the_owner_deletes,
    read_only_class_forbids_creating,
    user_profiles_cannot_be_created_deleted_or_given_away,
    plain_api_key_cannot_list_objects,
    anonymous_read_key_lists_objects_others_may_read,
    anonymous_key_cannot_create_objects,
    ignore_acl_key_reads_and_creates_everything,
    request_without_a_key_is_forbidden,
    unknown_class_is_reported_without_a_key,
    nul_bytes_in_values_are_refused,
    hostile_list_parameters_are_a_clean_4xx,
    class_schema_that_is_not_json_is_refused,
    schema_changes_racing_writes_stay_consistent,
    concurrent_creates_commit_together_and_fail_alone,
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

/// Users alice, bob (both in group `team`) and carol, class `notes`, alice's private
/// note and her team note (group write).
struct Notes {
    key: String,
    api_key: String,
    bob: i64,
    akey: String,
    bkey: String,
    ckey: String,
    team: i64,
    private: Value,
    shared: Value,
}

async fn notes(app: &TestApp) -> Notes {
    let key = setup(app).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let (alice, akey) = store_user(app, INST, "alice").await;
    let (bob, bkey) = store_user(app, INST, "bob").await;
    let (_carol, ckey) = store_user(app, INST, "carol").await;
    let team = store_group(app, INST, &[alice, bob]).await;
    make_class(
        app,
        &key,
        json!({"name": "notes", "schema": [{"name": "text", "type": "string"}]}),
    )
    .await;
    let private = app
        .as_user(
            &api_key,
            &akey,
            "POST",
            &objects("notes"),
            Some(json!({"text": "mine", "owner": bob})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(private["owner"], alice, "owner forced to the caller");
    let shared = app
        .as_user(
            &api_key,
            &akey,
            "POST",
            &objects("notes"),
            Some(json!({"text": "team", "group": team, "group_permissions": "write"})),
        )
        .await
        .json();
    Notes {
        key,
        api_key,
        bob,
        akey,
        bkey,
        ckey,
        team,
        private: private["id"].clone(),
        shared: shared["id"].clone(),
    }
}

/// Bob edits the team note and tries to open it to everybody (capped to write).
async fn bob_edits_the_team_note(app: &TestApp, n: &Notes) -> Value {
    app.as_user(
        &n.api_key,
        &n.bkey,
        "PATCH",
        &object("notes", &n.shared),
        Some(json!({"text": "edited", "other_permissions": "full"})),
    )
    .await
    .expect_json(StatusCode::OK)
}

async fn owner_is_forced_to_the_creating_user(app: TestApp) {
    // `notes` asserts it: alice's note names bob as owner and gets alice.
    notes(&app).await;
}

async fn users_may_only_use_their_own_groups(app: TestApp) {
    let n = notes(&app).await;
    let bad_group = app
        .as_user(
            &n.api_key,
            &n.ckey,
            "POST",
            &objects("notes"),
            Some(json!({"group": n.team})),
        )
        .await;
    assert_eq!(
        bad_group.body,
        json!({"group": ["Invalid group specified."]})
    );
}

/// Bob sees the group object only; carol sees nothing.
async fn users_see_only_objects_they_may_read(app: TestApp) {
    let n = notes(&app).await;
    let bob_list = app
        .as_user(&n.api_key, &n.bkey, "GET", &objects("notes"), None)
        .await;
    assert_eq!(ids(&bob_list), vec![n.shared.as_i64().expect("id")]);
    let carol_list = app
        .as_user(&n.api_key, &n.ckey, "GET", &objects("notes"), None)
        .await;
    assert_eq!(ids(&carol_list), Vec::<i64>::new());
    app.as_user(
        &n.api_key,
        &n.bkey,
        "GET",
        &object("notes", &n.private),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn group_write_permits_edits_with_capped_permissions(app: TestApp) {
    let n = notes(&app).await;
    let r = bob_edits_the_team_note(&app, &n).await;
    assert_eq!(r["other_permissions"], "write");
}

async fn only_the_owner_may_change_the_owner_or_delete(app: TestApp) {
    let n = notes(&app).await;
    let url = object("notes", &n.shared);
    let owner_change = app
        .as_user(
            &n.api_key,
            &n.bkey,
            "PATCH",
            &url,
            Some(json!({"owner": n.bob})),
        )
        .await;
    assert_eq!(
        owner_change.body,
        json!({"owner": ["Cannot change owner of Data Object."]})
    );
    app.as_user(&n.api_key, &n.bkey, "DELETE", &url, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

/// With other=write everybody can read it: carol reads, alice (the owner) deletes.
async fn others_read_what_other_permissions_allow_and_the_owner_deletes(app: TestApp) {
    let n = notes(&app).await;
    bob_edits_the_team_note(&app, &n).await;
    let url = object("notes", &n.shared);
    app.as_user(&n.api_key, &n.ckey, "GET", &url, None)
        .await
        .expect(StatusCode::OK);
    app.as_user(&n.api_key, &n.akey, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
}

async fn read_only_class_forbids_creating(app: TestApp) {
    let n = notes(&app).await;
    app.as_key(
        &n.key,
        "PATCH",
        &class_url("notes"),
        Some(json!({"other_permissions": "read"})),
    )
    .await
    .expect(StatusCode::OK);
    app.as_user(
        &n.api_key,
        &n.ckey,
        "POST",
        &objects("notes"),
        Some(json!({})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

/// Profiles: not creatable or deletable, owner unchangeable (alice's profile cannot go
/// to bob).
async fn user_profiles_cannot_be_created_deleted_or_given_away(app: TestApp) {
    let key = setup(&app).await;
    store_user(&app, INST, "alice").await;
    let (bob, _) = store_user(&app, INST, "bob").await;
    app.as_key(&key, "POST", &objects("user_profile"), Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
    let profiles = app
        .as_key(&key, "GET", &objects("user_profile"), None)
        .await;
    let pid = profiles.body["objects"][0]["id"].clone();
    let profile_owner = app
        .as_key(
            &key,
            "PATCH",
            &object("user_profile", &pid),
            Some(json!({"owner": bob})),
        )
        .await;
    assert_eq!(
        profile_owner.body,
        json!({"owner": ["Cannot change owner of User Profile object."]})
    );
    app.as_key(&key, "DELETE", &object("user_profile", &pid), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn plain_api_key_cannot_list_objects(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let plain = app.api_key(&key, INST, json!({})).await;
    app.as_key(&plain, "GET", &objects("pub"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn anonymous_read_key_lists_objects_others_may_read(app: TestApp) {
    let key = setup(&app).await;
    let open = pub_class(&app, &key).await;
    let anon = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    let r = app.as_key(&anon, "GET", &objects("pub"), None).await;
    assert_eq!(ids(&r), vec![open]);
}

async fn anonymous_key_cannot_create_objects(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let anon = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    app.as_key(&anon, "POST", &objects("pub"), Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn ignore_acl_key_reads_and_creates_everything(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let acl = app.api_key(&key, INST, json!({"ignore_acl": true})).await;
    let r = app.as_key(&acl, "GET", &objects("pub"), None).await;
    assert_eq!(ids(&r).len(), 2);
    app.as_key(&acl, "POST", &objects("pub"), Some(json!({})))
        .await
        .expect(StatusCode::CREATED);
}

async fn request_without_a_key_is_forbidden(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    app.call("GET", &objects("pub"), &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn unknown_class_is_reported_without_a_key(app: TestApp) {
    setup(&app).await;
    let unknown_class = app.call("GET", &objects("nope"), &[], None).await;
    assert_eq!(
        unknown_class.body,
        json!({"detail": "Class was not found."})
    );
}

/// Class `bad` (an indexed, ordered string, an object, an indexed array) with one object.
async fn bad(app: &TestApp) -> String {
    let key = setup(app).await;
    make_class(
        app,
        &key,
        json!({"name": "bad", "schema": [{"name": "s", "type": "string", "filter_index": true, "order_index": true},
                                          {"name": "o", "type": "object"}, {"name": "a", "type": "array", "filter_index": true}]}),
    )
    .await;
    create(app, &key, "bad", json!({"s": "x"})).await;
    key
}

async fn nul_bytes_in_values_are_refused(app: TestApp) {
    let key = bad(&app).await;
    app.as_key(
        &key,
        "POST",
        &objects("bad"),
        Some(json!({"s": "a\u{0}b", "o": {"k\u{0}": 1}, "channel_room": "\u{0}"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

fn with_query(q: &str) -> String {
    format!(
        "{}?query={}",
        objects("bad"),
        rivia_core::page::encode_query_value(q)
    )
}

async fn hostile_list_parameters_are_a_clean_4xx(app: TestApp) {
    let key = bad(&app).await;
    let deep = (0..200).fold(json!(1), |acc, _| json!({"_is": acc}));
    let urls = vec![
        with_query(&json!({"s": {"_eq": "a\u{0}"}}).to_string()),
        with_query(&json!({"a": {"_contains": ["\u{0}"]}}).to_string()),
        with_query(&json!({"s": deep}).to_string()),
        with_query(&"x".repeat(20000)),
        format!(
            "{}?query=%7B%22s%22%3A%7B%22_like%22%3A%22a%5C%5C%22%7D%7D",
            objects("bad")
        ),
        format!(
            "{}?order_by=s&direction=1&last_pk=99999999999",
            objects("bad")
        ),
        format!("{}?order_by=s&direction=2&last_pk=1", objects("bad")),
        format!("{}?order_by=-", objects("bad")),
        format!("{}1.5/", objects("bad")),
        format!("{}99999999999/", objects("bad")),
    ];
    for url in urls {
        let r = app.as_key(&key, "GET", &url, None).await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::OK,
            "{url}: {:?} {:?}",
            r.status,
            r.body
        );
    }
    let huge = format!(
        "{}?page_size=100000&order_by=s&direction=1&last_pk=1&last_value=%27%20OR%201%3D1",
        objects("bad")
    );
    app.as_key(&key, "GET", &huge, None)
        .await
        .expect(StatusCode::OK);
}

async fn class_schema_that_is_not_json_is_refused(app: TestApp) {
    let key = setup(&app).await;
    let class_bad = app
        .as_key(
            &key,
            "POST",
            &classes(),
            Some(json!({"name": "zz", "schema": "not json"})),
        )
        .await;
    assert_eq!(
        class_bad.body,
        json!({"schema": ["Not a valid JSON string."]})
    );
}

/// Creates 20 `race` objects, each answered 201 or (mid schema change) 400; returns the
/// ids of the created ones.
async fn race_writer(app: &TestApp, key: &str, n: i64) -> Vec<Value> {
    let mut created = Vec::new();
    for i in 0..20 {
        let body = json!({"v": n * 100 + i, "w": format!("w{n}-{i}")});
        let r = app.as_key(key, "POST", &objects("race"), Some(body)).await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::BAD_REQUEST,
            "create during schema change: {} {:?}",
            r.status,
            r.body
        );
        if r.status == StatusCode::CREATED {
            created.push(r.body["id"].clone());
        }
    }
    created
}

/// Ten schema changes of `race`, cycling through three schemas from `first`.
async fn race_schema_changer(app: &TestApp, key: &str, schemas: &[Value; 3], first: usize) {
    for round in first..first + 10 {
        let schema = schemas[round % 3].clone();
        let r = app
            .as_key(
                key,
                "PATCH",
                &class_url("race"),
                Some(json!({"schema": schema})),
            )
            .await;
        r.expect(StatusCode::OK);
    }
}

async fn schema_changes_racing_writes_stay_consistent(app: TestApp) {
    let key = setup(&app).await;
    let integer_v = json!([{"name": "v", "type": "integer"}, {"name": "w", "type": "string", "filter_index": true}]);
    let string_v = json!([{"name": "v", "type": "string"}, {"name": "w", "type": "string"}]);
    let schemas = [
        string_v,
        json!([{"name": "v", "type": "integer"}]),
        integer_v.clone(),
    ];
    make_class(&app, &key, json!({"name": "race", "schema": integer_v})).await;
    let (a, b2, c, (), ()) = tokio::join!(
        race_writer(&app, &key, 1),
        race_writer(&app, &key, 2),
        race_writer(&app, &key, 3),
        race_schema_changer(&app, &key, &schemas, 0),
        race_schema_changer(&app, &key, &schemas, 1)
    );
    app.as_key(
        &key,
        "PATCH",
        &class_url("race"),
        Some(json!({"schema": integer_v})),
    )
    .await
    .expect(StatusCode::OK);
    let created: Vec<Value> = a.into_iter().chain(b2).chain(c).collect();
    assert!(!created.is_empty());
    // Every acknowledged object is there, and its fields follow the final schema
    // (an integer `v` or none, a string `w` or none).
    for id in &created {
        let r = app.as_key(&key, "GET", &object("race", id), None).await;
        let body = r.expect_json(StatusCode::OK);
        assert!(body["v"].is_i64() || body["v"].is_null(), "{body:?}");
        assert!(body["w"].is_string() || body["w"].is_null(), "{body:?}");
    }
    assert_eq!(
        count_objects(&app, &key, "race").await,
        json!(created.len())
    );
    // The final schema's index serves filters.
    let q = rivia_core::page::encode_query_value(r#"{"w": {"_eq": "nobody"}}"#);
    app.as_key(&key, "GET", &format!("{}?query={q}", objects("race")), None)
        .await
        .expect(StatusCode::OK);
}

async fn concurrent_creates_commit_together_and_fail_alone(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "crowd", "schema": [{"name": "code", "type": "string", "unique": true}]}),
    )
    .await;
    create(&app, &key, "crowd", json!({"code": "taken"})).await;
    // 48 creates at once (they share commits on SQLite); every fourth repeats a taken code.
    let attempts = (0..48).map(|i| {
        let code = if i % 4 == 0 {
            "taken".to_string()
        } else {
            format!("c{i}")
        };
        let (app, key) = (&app, &key);
        async move {
            let r = app
                .as_key(key, "POST", &objects("crowd"), Some(json!({"code": code})))
                .await;
            (code, r)
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut ids = Vec::new();
    for (code, r) in &results {
        if code == "taken" {
            r.expect(StatusCode::BAD_REQUEST);
            assert_eq!(r.body, json!({"code": ["This field must be unique."]}));
        } else {
            r.expect(StatusCode::CREATED);
            assert_eq!(r.body["code"], json!(code));
            ids.push(r.body["id"].as_i64().expect("id"));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 36, "distinct ids for every created object");
    // Each acknowledged object is stored, and nothing of the refused ones.
    for (code, r) in results.iter().filter(|(c, _)| c != "taken") {
        let got = app
            .as_key(&key, "GET", &object("crowd", &r.body["id"]), None)
            .await;
        assert_eq!(got.body["code"], json!(code));
    }
    assert_eq!(count_objects(&app, &key, "crowd").await, json!(37));
    let class = app.as_key(&key, "GET", &class_url("crowd"), None).await;
    assert_eq!(class.body["objects_count"], json!(37));
}
