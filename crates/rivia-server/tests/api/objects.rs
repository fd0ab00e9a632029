//! Classes and data objects (spec-core §8, §9) on both backends.

use crate::both_backends;
use crate::helpers::{Backend, Response, TestApp};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    classes_crud_and_schema_rules,
    indexes_follow_the_schema,
    objects_crud_and_typed_values,
    update_operators_revisions_and_limits,
    retyped_field_starts_empty,
    query_language_filters_and_errors,
    nested_is_queries,
    ordering_with_cursors,
    include_count_and_paging,
    user_permissions,
    anonymous_read_and_key_flags,
    file_fields_upload_serve_and_cleanup,
    statement_timeout_cancels_reads,
    bad_input_is_a_clean_4xx,
    filters_use_the_expression_index,
    large_counts_are_estimates_and_selective_filters_page_in_order,
    schema_changes_racing_writes_stay_consistent,
    cancelled_reads_leave_no_open_transaction,
    failed_reads_report_the_first_error_and_leave_no_open_transaction,
    concurrent_creates_commit_together_and_fail_alone,
);
both_backends!(settings(|s| s.class_limit = 3), class_visibility_and_limits);

const INST: &str = "objects-inst";

fn classes() -> String {
    format!("/v1.1/instances/{INST}/classes/")
}
fn class_url(c: &str) -> String {
    format!("/v1.1/instances/{INST}/classes/{c}/")
}
fn objects(c: &str) -> String {
    format!("/v1.1/instances/{INST}/classes/{c}/objects/")
}
fn object(c: &str, id: &Value) -> String {
    format!("/v1.1/instances/{INST}/classes/{c}/objects/{id}/")
}

/// The admin key of the test instance, created on `app`.
async fn setup(app: &TestApp) -> String {
    app.admin_with_instance(INST).await
}

/// Creates a class; returns its JSON.
async fn make_class(app: &TestApp, key: &str, body: Value) -> Value {
    app.as_key(key, "POST", &classes(), Some(body))
        .await
        .expect_json(StatusCode::CREATED)
}

async fn create(app: &TestApp, key: &str, class: &str, body: Value) -> Value {
    let r = app.as_key(key, "POST", &objects(class), Some(body)).await;
    r.expect(StatusCode::CREATED);
    r.body
}

/// The class's `objects_count` as a `page_size=0&include_count=1` list reports it.
async fn count_objects(app: &TestApp, key: &str, class: &str) -> Value {
    let url = format!("{}?page_size=0&include_count=1", objects(class));
    let r = app.as_key(key, "GET", &url, None).await;
    r.expect(StatusCode::OK);
    r.body["objects_count"].clone()
}

fn ids(r: &Response) -> Vec<i64> {
    r.body["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("list expected: {:?}", r.body))
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect()
}

async fn classes_crud_and_schema_rules(app: TestApp) {
    let key = setup(&app).await;
    let r = make_class(
        &app,
        &key,
        json!({"name": "Books", "description": "d", "metadata": {"m": 1},
               "schema": [{"name": "title", "type": "STRING", "filter_index": true, "order_index": false},
                          {"name": "pages", "type": "integer", "unique": true}]}),
    )
    .await;
    assert_eq!(r["name"], "books");
    assert_eq!(
        r["schema"],
        json!([{"name": "title", "type": "string", "filter_index": true},
               {"name": "pages", "type": "integer", "unique": true, "filter_index": true}])
    );
    assert_eq!(
        (
            r["status"].clone(),
            r["revision"].clone(),
            r["objects_count"].clone()
        ),
        (json!("ready"), json!(1), json!(0))
    );
    assert_eq!(r["group_permissions"], "create_objects");
    assert_eq!(
        r["links"],
        json!({"self": class_url("books"), "objects": objects("books")})
    );
    let dup = app
        .as_key(&key, "POST", &classes(), Some(json!({"name": "books"})))
        .await;
    assert_eq!(dup.body, json!({"name": ["This field must be unique."]}));
    let reserved = app
        .as_key(&key, "POST", &classes(), Some(json!({"name": "users"})))
        .await;
    assert_eq!(
        reserved.body,
        json!({"name": ["Unable to use that value. Please choose a different one."]})
    );
    let bad = app
        .as_key(
            &key,
            "POST",
            &classes(),
            Some(json!({"name": "x1", "schema": [{"name": "owner", "type": "string"}]})),
        )
        .await;
    assert_eq!(
        bad.expect_json(StatusCode::BAD_REQUEST),
        json!({"schema": ["Error processing field definition \"owner\" #0: Field name \"owner\" is reserved."]})
    );
    // PATCH keeps the schema; a schema change bumps the revision.
    let r = app
        .as_key(
            &key,
            "PATCH",
            &class_url("books"),
            Some(json!({"description": "new"})),
        )
        .await;
    assert_eq!(
        (r.body["revision"].clone(), r.body["description"].clone()),
        (json!(1), json!("new"))
    );
    let r = app
        .as_key(
            &key,
            "PATCH",
            &class_url("books"),
            Some(json!({"schema": [{"name": "title", "type": "string"}], "expected_revision": 1})),
        )
        .await;
    assert_eq!(r.body["revision"], 2, "{:?}", r.body);
    let stale = app
        .as_key(
            &key,
            "PATCH",
            &class_url("books"),
            Some(json!({"description": "x", "expected_revision": 1})),
        )
        .await;
    assert_eq!(
        stale.body,
        json!({"expected_revision": "Revision mismatch. Expected 1, got 2."})
    );
    // PUT without schema/metadata/permissions resets them (spec-core §1.10).
    let r = app
        .as_key(
            &key,
            "PUT",
            &class_url("books"),
            Some(json!({"other_permissions": "read", "name": "ignored"})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(
        (
            r.body["schema"].clone(),
            r.body["metadata"].clone(),
            r.body["revision"].clone()
        ),
        (json!([]), json!({}), json!(3))
    );
    assert_eq!(r.body["name"], "books");
    assert_eq!(r.body["description"], "new");
    assert_eq!(r.body["other_permissions"], "read");
    let list = app
        .as_key(
            &key,
            "GET",
            &format!("{}?name__startswith=BO", classes()),
            None,
        )
        .await;
    assert_eq!(list.body["objects"].as_array().map(Vec::len), Some(1));
    let profile = app
        .as_key(&key, "DELETE", &class_url("user_profile"), None)
        .await;
    profile.expect(StatusCode::FORBIDDEN);
    let del = app.as_key(&key, "DELETE", &class_url("books"), None).await;
    del.expect(StatusCode::NO_CONTENT);
    let gone = app.as_key(&key, "GET", &class_url("books"), None).await;
    assert_eq!(
        gone.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let missing = app.as_key(&key, "GET", &objects("books"), None).await;
    assert_eq!(missing.body, json!({"detail": "Class was not found."}));
}

async fn class_visibility_and_limits(app: TestApp) {
    let key = app.admin_with_instance(INST).await;
    make_class(&app, &key, json!({"name": "open"})).await;
    make_class(
        &app,
        &key,
        json!({"name": "hidden", "other_permissions": "none", "group_permissions": "read"}),
    )
    .await;
    let over = app
        .as_key(&key, "POST", &classes(), Some(json!({"name": "third"})))
        .await;
    assert_eq!(over.body, json!({"detail": "Class count exceeded (3)."}));
    let api_key = app.api_key(&key, INST, json!({})).await;
    let names = |r: &Response| -> Vec<String> {
        r.body["objects"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_string())
            .collect()
    };
    let r = app.as_key(&api_key, "GET", &classes(), None).await;
    assert_eq!(names(&r), vec!["user_profile", "open"]);
    let hidden = app
        .as_key(&api_key, "GET", &class_url("hidden"), None)
        .await;
    hidden.expect(StatusCode::NOT_FOUND);
    let (uid, ukey) = crate::helpers::store_user(&app, INST, "member").await;
    let g = crate::helpers::store_group(&app, INST, &[uid]).await;
    app.as_key(
        &key,
        "PATCH",
        &class_url("hidden"),
        Some(json!({"group": g})),
    )
    .await
    .expect(StatusCode::OK);
    let r = app.as_user(&api_key, &ukey, "GET", &classes(), None).await;
    assert_eq!(names(&r), vec!["user_profile", "open", "hidden"]);
    let write = app
        .as_key(&api_key, "POST", &classes(), Some(json!({"name": "nope"})))
        .await;
    write.expect(StatusCode::FORBIDDEN);
    let bad_group = app
        .as_key(
            &key,
            "PATCH",
            &class_url("open"),
            Some(json!({"group": 999})),
        )
        .await;
    assert_eq!(
        bad_group.body,
        json!({"group": ["Invalid pk \"999\" - object does not exist."]})
    );
}

/// Names of the real database indexes on a class table.
async fn index_names(app: &TestApp, class: &str) -> Vec<String> {
    let inst = app.stored_instance(INST).await;
    let c = app
        .store
        .class_by_name(inst.id, class)
        .await
        .expect("db")
        .expect("class");
    let table = format!("c{}", c.id);
    let sql = match app.backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND name LIKE '%\\_x%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname LIKE '%\\_x%' ORDER BY indexname"
        }
    };
    app.store
        .db
        .query(sql, rivia_store::params![table])
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.str(0).to_string())
        .collect()
}

async fn indexes_follow_the_schema(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "idx", "schema": [
            {"name": "a", "type": "integer", "filter_index": true},
            {"name": "b", "type": "string", "order_index": true},
            {"name": "c", "type": "array", "filter_index": true},
            {"name": "d", "type": "text"}]}),
    )
    .await;
    assert_eq!(index_names(&app, "idx").await.len(), 3);
    app.as_key(
        &key,
        "PATCH",
        &class_url("idx"),
        Some(json!({"schema": [{"name": "a", "type": "integer"}, {"name": "b", "type": "string", "order_index": true}]})),
    )
    .await
        .expect(StatusCode::OK);
    assert_eq!(index_names(&app, "idx").await.len(), 1);
    // The unique index is enforced with the spec's message.
    make_class(
        &app,
        &key,
        json!({"name": "uniq", "schema": [{"name": "code", "type": "string", "unique": true}]}),
    )
    .await;
    create(&app, &key, "uniq", json!({"code": "x"})).await;
    let dup = app
        .as_key(&key, "POST", &objects("uniq"), Some(json!({"code": "x"})))
        .await;
    assert_eq!(dup.body, json!({"code": ["This field must be unique."]}));
}

async fn objects_crud_and_typed_values(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
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
    let first = create(&app, &key, "things", json!({"s": "one"})).await;
    let id1 = first["id"].clone();
    let keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
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
    assert_eq!(first["links"], json!({"self": object("things", &id1)}));
    let full = create(
        &app,
        &key,
        "things",
        json!({"s": 12, "t": "long", "i": "7", "f": 1.5, "bo": "yes",
               "dt": "2015-01-01T12:00:00.5Z", "ref": id1, "rel": [id1, 9999, id1],
               "arr": [1, "a", true], "obj": {"k": [1]}, "geo": {"longitude": 10, "latitude": -5.5},
               "unknown": 1}),
    )
    .await;
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
    let bad = app
        .as_key(
            &key,
            "POST",
            &objects("things"),
            Some(json!({"i": "x", "arr": {"a": 1}, "ref": 9999, "dt": "2015-01-01", "owner_permissions": "furry"})),
        )
        .await;
    bad.expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["i"], json!(["A valid integer is required."]));
    assert_eq!(bad.body["arr"], json!(["Not a valid array."]));
    assert_eq!(
        bad.body["owner_permissions"],
        json!(["\"furry\" is not a valid choice."])
    );
    assert_eq!(
        bad.body["dt"],
        json!([
            "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm:ss.uuuuuuZ."
        ])
    );
    let bad_ref = app
        .as_key(&key, "POST", &objects("things"), Some(json!({"ref": 9999})))
        .await;
    assert_eq!(
        bad_ref.body,
        json!({"ref": ["Target with specified id does not exist."]})
    );
    let no_channel = app
        .as_key(
            &key,
            "POST",
            &objects("things"),
            Some(json!({"channel": "nope"})),
        )
        .await;
    assert_eq!(
        no_channel.body,
        json!({"channel": ["Object with name=nope does not exist."]})
    );
    let no_room = app
        .as_key(
            &key,
            "POST",
            &objects("things"),
            Some(json!({"channel": "default"})),
        )
        .await;
    assert_eq!(
        no_room.body,
        json!({"non_field_errors": ["Channel room field is required for channels with separate rooms."]})
    );
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
    let got = app
        .as_key(&key, "GET", &object("things", &full["id"]), None)
        .await;
    assert_eq!(got.body, full);
    let put = app
        .as_key(&key, "PUT", &object("things", &id1), Some(json!({})))
        .await;
    assert_eq!(
        put.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        json!({"detail": "Method \"PUT\" not allowed."})
    );
    let del = app
        .as_key(&key, "DELETE", &object("things", &id1), None)
        .await;
    del.expect(StatusCode::NO_CONTENT);
    let again = app.as_key(&key, "GET", &object("things", &id1), None).await;
    assert_eq!(
        again.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let class = app.as_key(&key, "GET", &class_url("things"), None).await;
    assert_eq!(class.body["objects_count"], 2);
    let fields = app
        .as_key(
            &key,
            "GET",
            &format!(
                "{}?fields=id,s&excluded_fields=id",
                object("things", &full["id"])
            ),
            None,
        )
        .await;
    assert_eq!(fields.body, json!({"s": "12"}));
}

async fn update_operators_revisions_and_limits(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "ops", "schema": [
            {"name": "n", "type": "integer"}, {"name": "x", "type": "float"},
            {"name": "tags", "type": "array"}, {"name": "note", "type": "text"},
            {"name": "note2", "type": "text"}]}),
    )
    .await;
    let o = create(
        &app,
        &key,
        "ops",
        json!({"n": 1, "tags": ["a"], "note": "keep"}),
    )
    .await;
    let url = object("ops", &o["id"]);
    let r = app
        .as_key(
            &key,
            "PATCH",
            &url,
            Some(json!({"n": {"_increment": 4}, "x": {"_increment": 0.5},
                        "tags": {"_add": ["b", "a"], "_addunique": ["c", "a"], "_remove": "a"}})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(
        (
            r.body["n"].clone(),
            r.body["x"].clone(),
            r.body["tags"].clone()
        ),
        (json!(5), json!(0.5), json!(["b", "c"]))
    );
    assert_eq!(r.body["revision"], 2);
    // Permission-only and no-op changes keep the revision.
    let r = app
        .as_key(
            &key,
            "PATCH",
            &url,
            Some(json!({"other_permissions": "read", "n": 5})),
        )
        .await;
    assert_eq!(
        (
            r.body["revision"].clone(),
            r.body["other_permissions"].clone()
        ),
        (json!(2), json!("read"))
    );
    let bad_op = app
        .as_key(&key, "PATCH", &url, Some(json!({"n": {"_add": 1}})))
        .await;
    assert_eq!(bad_op.body, json!({"n": ["A valid integer is required."]}));
    let stale = app
        .as_key(
            &key,
            "PATCH",
            &url,
            Some(json!({"n": 1, "expected_revision": 1})),
        )
        .await;
    assert_eq!(
        stale.body,
        json!({"expected_revision": "Revision mismatch. Expected 1, got 2."})
    );
    // Full update by POST resets absent fields and permissions.
    let r = app.as_key(&key, "POST", &url, Some(json!({"n": 9}))).await;
    r.expect(StatusCode::OK);
    assert_eq!(
        (
            r.body["n"].clone(),
            r.body["tags"].clone(),
            r.body["note"].clone(),
            r.body["other_permissions"].clone()
        ),
        (json!(9), Value::Null, Value::Null, json!("none"))
    );
    let one = "x".repeat(31000);
    let ok = app
        .as_key(&key, "PATCH", &url, Some(json!({"note": one})))
        .await;
    ok.expect(StatusCode::OK);
    let too_big = app
        .as_key(&key, "PATCH", &url, Some(json!({"note2": one})))
        .await;
    assert_eq!(
        too_big.body,
        json!({"non_field_errors": ["Object maximum size exceeded."]})
    );
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
    app.as_key(
        &key,
        "PATCH",
        &class_url("re"),
        Some(json!({"schema": [{"name": "v", "type": "string"}, {"name": "w", "type": "string", "filter_index": true}]})),
    )
    .await
        .expect(StatusCode::OK);
    let r = app.as_key(&key, "GET", &object("re", &o["id"]), None).await;
    assert_eq!(
        (r.body["v"].clone(), r.body["w"].clone()),
        (Value::Null, json!("kept"))
    );
    // Removing and re-adding a field also starts it empty.
    app.as_key(&key, "PATCH", &class_url("re"), Some(json!({"schema": []})))
        .await
        .expect(StatusCode::OK);
    app.as_key(
        &key,
        "PATCH",
        &class_url("re"),
        Some(json!({"schema": [{"name": "w", "type": "string"}]})),
    )
    .await
    .expect(StatusCode::OK);
    let r = app.as_key(&key, "GET", &object("re", &o["id"]), None).await;
    assert_eq!(r.body["w"], Value::Null);
}

async fn list_q(app: &TestApp, key: &str, class: &str, q: Value) -> Response {
    let url = format!(
        "{}?query={}",
        objects(class),
        rivia_core::page::encode_query_value(&q.to_string())
    );
    app.as_key(key, "GET", &url, None).await
}

async fn query_language_filters_and_errors(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "q", "schema": [
            {"name": "name", "type": "string", "filter_index": true},
            {"name": "n", "type": "integer", "filter_index": true},
            {"name": "f", "type": "float", "filter_index": true},
            {"name": "ok", "type": "boolean", "filter_index": true},
            {"name": "when", "type": "datetime", "filter_index": true},
            {"name": "tags", "type": "array", "filter_index": true},
            {"name": "geo", "type": "geopoint", "filter_index": true},
            {"name": "plain", "type": "integer"}]}),
    )
    .await;
    let a = create(&app, &key, "q", json!({"name": "Alpha%_x", "n": 1, "f": 1.5, "ok": true,
        "when": "2020-01-01T00:00:00.000000Z", "tags": ["a", 1], "geo": {"longitude": 21.0, "latitude": 52.2}})).await["id"].as_i64().expect("id");
    let b2 = create(&app, &key, "q", json!({"name": "beta", "n": 2, "f": 2.5, "ok": false,
        "when": "2021-01-01T00:00:00.000000Z", "tags": ["b"], "geo": {"longitude": 2.35, "latitude": 48.85}})).await["id"].as_i64().expect("id");
    let c = create(&app, &key, "q", json!({})).await["id"]
        .as_i64()
        .expect("id");
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (json!({"n": {"_eq": 1}}), vec![a]),
        (json!({"n": {"_neq": 1}}), vec![b2, c]),
        (json!({"n": {"_gt": 1}}), vec![b2]),
        (json!({"n": {"_gte": "1", "_lt": 3}}), vec![a, b2]),
        (json!({"n": {"_in": [2, 5]}}), vec![b2]),
        (json!({"n": {"_nin": [2]}}), vec![a, c]),
        (json!({"n": {"_in": []}}), vec![]),
        (json!({"n": {"_exists": false}}), vec![c]),
        (json!({"f": {"_lte": 1.5}}), vec![a]),
        (json!({"ok": {"_eq": false}}), vec![b2]),
        (json!({"when": {"_gt": "2020-06-01"}}), vec![b2]),
        (json!({"name": {"_startswith": "Al"}}), vec![a]),
        (json!({"name": {"_istartswith": "al"}}), vec![a]),
        (json!({"name": {"_contains": "%_"}}), vec![a]),
        (json!({"name": {"_icontains": "ET"}}), vec![b2]),
        (json!({"name": {"_endswith": "ta"}}), vec![b2]),
        (json!({"name": {"_iendswith": "TA"}}), vec![b2]),
        (json!({"name": {"_ieq": "BETA"}}), vec![b2]),
        (json!({"name": {"_like": "Alpha\\%\\_%"}}), vec![a]),
        (json!({"name": {"_like": "alpha%"}}), vec![]),
        (json!({"name": {"_ilike": "ALPHA%"}}), vec![a]),
        (json!({"name": {"_eq": "x' OR 1=1 --"}}), vec![]),
        (json!({"tags": {"_contains": ["a", 1]}}), vec![a]),
        (json!({"tags": {"_contains": ["1"]}}), vec![]),
        (
            json!({"geo": {"_near": {"longitude": 21.01, "latitude": 52.23, "distance_in_kilometers": 10}}}),
            vec![a],
        ),
        (
            json!({"geo": {"_near": {"longitude": 21.0, "latitude": 52.2}}}),
            vec![a],
        ),
        (json!({"id": {"_gte": b2}}), vec![b2, c]),
        (
            json!({"created_at": {"_gt": "2000-01-01T00:00"}}),
            vec![a, b2, c],
        ),
        (json!({"channel": {"_exists": true}}), vec![]),
    ];
    for (q, want) in cases {
        let r = list_q(&app, &key, "q", q.clone()).await;
        r.expect(StatusCode::OK);
        assert_eq!(ids(&r), want, "{q}");
    }
    // Several query params are ANDed.
    let url = format!(
        "{}?query={}&query={}",
        objects("q"),
        rivia_core::page::encode_query_value(r#"{"n":{"_gte":1}}"#),
        rivia_core::page::encode_query_value(r#"{"n":{"_lte":1}}"#)
    );
    assert_eq!(ids(&app.as_key(&key, "GET", &url, None).await), vec![a]);
    let errors: Vec<(Value, Value)> = vec![
        (
            json!({"plain": {"_eq": 1}}),
            json!({"query": "Field \"plain\" cannot be used in a query as it is not indexed."}),
        ),
        (
            json!({"nope": {"_eq": 1}}),
            json!({"query": "Invalid field name defined: \"nope\"."}),
        ),
        (
            json!({"n": {"_like": "a"}}),
            json!({"query": "Invalid lookup \"_like\" defined for field \"n\"."}),
        ),
        (
            json!({"n": {"_gt": "abc"}}),
            json!({"query": "Validation of value provided for \"gt\" lookup of field \"n\" failed: 'abc' value must be an integer."}),
        ),
        (
            json!({"n": {"_exists": 1}}),
            json!({"query": "Invalid value type provided for \"exists\" lookup of field \"n\"."}),
        ),
        (
            json!({"channel_room": {"_startswith": "a"}}),
            json!({"query": "startswith is not supported on this field type."}),
        ),
        (json!([1]), json!(["Query passed in invalid format."])),
    ];
    for (q, want) in errors {
        let r = list_q(&app, &key, "q", q.clone()).await;
        assert_eq!((r.status, r.body), (StatusCode::BAD_REQUEST, want), "{q}");
    }
    let r = app
        .as_key(&key, "GET", &format!("{}?query=%7Bnot", objects("q")), None)
        .await;
    assert_eq!(r.body, json!({"query": "Not a valid JSON string."}));
}

async fn nested_is_queries(app: TestApp) {
    let key = setup(&app).await;
    make_class(&app, &key, json!({"name": "authors", "schema": [{"name": "country", "type": "string", "filter_index": true}]})).await;
    make_class(
        &app,
        &key,
        json!({"name": "books", "schema": [
            {"name": "author", "type": "reference", "target": "authors", "filter_index": true},
            {"name": "editors", "type": "relation", "target": "authors", "filter_index": true},
            {"name": "buyer", "type": "reference", "target": "user", "filter_index": true}]}),
    )
    .await;
    let pl = create(&app, &key, "authors", json!({"country": "pl"})).await["id"].clone();
    let fr = create(&app, &key, "authors", json!({"country": "fr"})).await["id"].clone();
    let (uid, _) = crate::helpers::store_user(&app, INST, "buyer").await;
    let b1 = create(
        &app,
        &key,
        "books",
        json!({"author": pl, "editors": [fr], "buyer": uid}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let b2 = create(
        &app,
        &key,
        "books",
        json!({"author": fr, "editors": [pl, fr]}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (
            json!({"author": {"_is": {"country": {"_eq": "pl"}}}}),
            vec![b1],
        ),
        (
            json!({"editors": {"_is": {"country": {"_eq": "pl"}}}}),
            vec![b2],
        ),
        (json!({"editors": {"_contains": [fr, pl]}}), vec![b2]),
        (
            json!({"buyer": {"_is": {"username": {"_eq": "buyer"}}}}),
            vec![b1],
        ),
        (json!({"buyer": {"_is": {"id": {"_eq": uid}}}}), vec![b1]),
    ];
    for (q, want) in cases {
        let r = list_q(&app, &key, "books", q.clone()).await;
        r.expect(StatusCode::OK);
        assert_eq!(ids(&r), want, "{q}");
    }
    let double = list_q(
        &app,
        &key,
        "books",
        json!({"author": {"_is": {"x": {"_is": {}}}}}),
    )
    .await;
    assert_eq!(
        double.body,
        json!(["Double nested queries are not allowed."])
    );
}

async fn ordering_with_cursors(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "ord", "schema": [{"name": "score", "type": "integer", "order_index": true}, {"name": "x", "type": "integer"}]}),
    )
    .await;
    let mut made = Vec::new();
    for s in [Some(3), None, Some(1), Some(3), Some(2)] {
        let body = match s {
            Some(v) => json!({"score": v}),
            None => json!({}),
        };
        made.push(
            create(&app, &key, "ord", body).await["id"]
                .as_i64()
                .expect("id"),
        );
    }
    // Ascending: nulls last; ties broken by id.
    let want_asc = vec![made[2], made[4], made[0], made[3], made[1]];
    let mut seen = Vec::new();
    let mut url = format!("{}?order_by=score&page_size=2", objects("ord"));
    let mut pages = 0;
    loop {
        let r = app.as_key(&key, "GET", &url, None).await;
        r.expect(StatusCode::OK);
        seen.extend(ids(&r));
        pages += 1;
        match r.body["next"].as_str() {
            Some(next) if pages < 10 => url = next.to_string(),
            _ => break,
        }
    }
    assert_eq!(seen, want_asc);
    // Descending: nulls first; and a prev link walks back.
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{}?order_by=-score&page_size=2", objects("ord")),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![made[1], made[3]]);
    let next = r.body["next"].as_str().expect("next").to_string();
    assert!(
        next.contains("order_by=-score")
            && next.contains("direction=1")
            && next.contains("last_value=3"),
        "{next}"
    );
    let r2 = app.as_key(&key, "GET", &next, None).await;
    assert_eq!(ids(&r2), vec![made[0], made[4]]);
    let prev = r2.body["prev"].as_str().expect("prev").to_string();
    let back = app.as_key(&key, "GET", &prev, None).await;
    assert_eq!(ids(&back), vec![made[1], made[3]]);
    let errs = [
        ("order_by=nope", "Incorrect order_by parameter provided."),
        ("order_by=revision", "Cannot use specified order_by field."),
        (
            "order_by=x",
            "Cannot use specified order_by field. Set required index on schema first.",
        ),
        (
            "order_by=score&direction=1&last_pk=1&last_value=abc",
            "Incorrect page parameter provided.",
        ),
        ("page_size=-1", "Incorrect page parameter provided."),
    ];
    for (params, want) in errs {
        let r = app
            .as_key(&key, "GET", &format!("{}?{params}", objects("ord")), None)
            .await;
        assert_eq!(
            r.expect_json(StatusCode::BAD_REQUEST),
            json!({"detail": want}),
            "{params}"
        );
    }
    let by_id = app
        .as_key(
            &key,
            "GET",
            &format!("{}?order_by=-id", objects("ord")),
            None,
        )
        .await;
    assert_eq!(ids(&by_id), made.iter().rev().copied().collect::<Vec<_>>());
}

async fn include_count_and_paging(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "cnt", "schema": [{"name": "n", "type": "integer", "filter_index": true}]}),
    )
    .await;
    for n in 0..5 {
        create(&app, &key, "cnt", json!({"n": n})).await;
    }
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{}?page_size=0&include_count=true", objects("cnt")),
            None,
        )
        .await;
    assert_eq!(
        r.body,
        json!({"next": null, "prev": null, "objects": [], "objects_count": 5})
    );
    let q = rivia_core::page::encode_query_value(r#"{"n":{"_gte":2}}"#);
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{}?page_size=2&include_count=1&query={q}", objects("cnt")),
            None,
        )
        .await;
    assert_eq!(r.body["objects_count"], 3);
    let next = r.body["next"].as_str().expect("next");
    assert_eq!(
        next,
        format!(
            "{}?page_size=2&direction=1&last_pk={}",
            objects("cnt"),
            ids(&r)[1]
        )
    );
}

async fn user_permissions(app: TestApp) {
    let key = setup(&app).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let (alice, akey) = crate::helpers::store_user(&app, INST, "alice").await;
    let (bob, bkey) = crate::helpers::store_user(&app, INST, "bob").await;
    let (_carol, ckey) = crate::helpers::store_user(&app, INST, "carol").await;
    let team = crate::helpers::store_group(&app, INST, &[alice, bob]).await;
    make_class(
        &app,
        &key,
        json!({"name": "notes", "schema": [{"name": "text", "type": "string"}]}),
    )
    .await;
    let r = app
        .as_user(
            &api_key,
            &akey,
            "POST",
            &objects("notes"),
            Some(json!({"text": "mine", "owner": bob})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.body["owner"], alice, "owner forced to the caller");
    let private = r.body["id"].clone();
    let shared = app
        .as_user(
            &api_key,
            &akey,
            "POST",
            &objects("notes"),
            Some(json!({"text": "team", "group": team, "group_permissions": "write"})),
        )
        .await
        .body["id"]
        .clone();
    let bad_group = app
        .as_user(
            &api_key,
            &ckey,
            "POST",
            &objects("notes"),
            Some(json!({"group": team})),
        )
        .await;
    assert_eq!(
        bad_group.body,
        json!({"group": ["Invalid group specified."]})
    );
    // Visibility: bob sees the group object only; carol sees nothing.
    let bob_list = app
        .as_user(&api_key, &bkey, "GET", &objects("notes"), None)
        .await;
    assert_eq!(ids(&bob_list), vec![shared.as_i64().expect("id")]);
    let carol_list = app
        .as_user(&api_key, &ckey, "GET", &objects("notes"), None)
        .await;
    assert_eq!(ids(&carol_list), Vec::<i64>::new());
    let hidden = app
        .as_user(&api_key, &bkey, "GET", &object("notes", &private), None)
        .await;
    hidden.expect(StatusCode::NOT_FOUND);
    // bob may write (group write) but not delete; his permission fields are capped.
    let r = app
        .as_user(
            &api_key,
            &bkey,
            "PATCH",
            &object("notes", &shared),
            Some(json!({"text": "edited", "other_permissions": "full"})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["other_permissions"], "write");
    let owner_change = app
        .as_user(
            &api_key,
            &bkey,
            "PATCH",
            &object("notes", &shared),
            Some(json!({"owner": bob})),
        )
        .await;
    assert_eq!(
        owner_change.body,
        json!({"owner": ["Cannot change owner of Data Object."]})
    );
    let del = app
        .as_user(&api_key, &bkey, "DELETE", &object("notes", &shared), None)
        .await;
    del.expect(StatusCode::FORBIDDEN);
    // Now everybody can read and write it (other=write): carol can read but not delete.
    let carol_read = app
        .as_user(&api_key, &ckey, "GET", &object("notes", &shared), None)
        .await;
    carol_read.expect(StatusCode::OK);
    let del = app
        .as_user(&api_key, &akey, "DELETE", &object("notes", &shared), None)
        .await;
    del.expect(StatusCode::NO_CONTENT);
    // Class gate: a read-only class forbids creating.
    app.as_key(
        &key,
        "PATCH",
        &class_url("notes"),
        Some(json!({"other_permissions": "read"})),
    )
    .await
    .expect(StatusCode::OK);
    let gated = app
        .as_user(&api_key, &ckey, "POST", &objects("notes"), Some(json!({})))
        .await;
    gated.expect(StatusCode::FORBIDDEN);
    // Profiles: not creatable or deletable, owner unchangeable.
    let profile_create = app
        .as_key(&key, "POST", &objects("user_profile"), Some(json!({})))
        .await;
    profile_create.expect(StatusCode::FORBIDDEN);
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
    let profile_del = app
        .as_key(&key, "DELETE", &object("user_profile", &pid), None)
        .await;
    profile_del.expect(StatusCode::FORBIDDEN);
}

async fn anonymous_read_and_key_flags(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "pub", "other_permissions": "read"}),
    )
    .await;
    let open = create(&app, &key, "pub", json!({"other_permissions": "read"})).await["id"]
        .as_i64()
        .expect("id");
    create(&app, &key, "pub", json!({})).await;
    let plain = app.api_key(&key, INST, json!({})).await;
    let anon = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    let acl = app.api_key(&key, INST, json!({"ignore_acl": true})).await;
    let r = app.as_key(&plain, "GET", &objects("pub"), None).await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app.as_key(&anon, "GET", &objects("pub"), None).await;
    assert_eq!(ids(&r), vec![open]);
    let r = app
        .as_key(&anon, "POST", &objects("pub"), Some(json!({})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app.as_key(&acl, "GET", &objects("pub"), None).await;
    assert_eq!(ids(&r).len(), 2);
    let r = app
        .as_key(&acl, "POST", &objects("pub"), Some(json!({})))
        .await;
    r.expect(StatusCode::CREATED);
    let none = app.call("GET", &objects("pub"), &[], None).await;
    none.expect(StatusCode::FORBIDDEN);
    let unknown_class = app.call("GET", &objects("nope"), &[], None).await;
    assert_eq!(
        unknown_class.body,
        json!({"detail": "Class was not found."})
    );
    let reader = app.admin("reader@example.com").await;
    let inst = app.stored_instance(INST).await;
    let reader_admin = app
        .store
        .admin_by_key(&reader)
        .await
        .expect("db")
        .expect("admin");
    let mut tx = app.store.db.begin().await.expect("tx");
    tx.exec(
        "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, 1)",
        rivia_store::params![inst.id, reader_admin.id],
    )
    .await
    .expect("role");
    tx.commit().await.expect("commit");
    let r = app.as_key(&reader, "GET", &objects("pub"), None).await;
    r.expect(StatusCode::OK);
    let r = app
        .as_key(&reader, "POST", &objects("pub"), Some(json!({})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
}

fn multipart(
    field: &str,
    filename: &str,
    content: &[u8],
    extra: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let boundary = "XyZbOuNdArY";
    let mut body = Vec::new();
    for (k, v) in extra {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send_multipart(
    app: &TestApp,
    key: &str,
    method: &str,
    url: &str,
    ct: String,
    body: Vec<u8>,
) -> Response {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-api-key", key)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .expect("request");
    app.send(req).await
}

async fn file_fields_upload_serve_and_cleanup(app: TestApp) {
    let key = setup(&app).await;
    make_class(&app, &key, json!({"name": "docs", "schema": [{"name": "file", "type": "file"}, {"name": "n", "type": "integer"}]})).await;
    let (ct, body) = multipart("file", "Hello.TXT", b"hello world", &[("n", "4")]);
    let r = send_multipart(&app, &key, "POST", &objects("docs"), ct, body).await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.body["n"], 4);
    assert_eq!(r.body["file"]["type"], "file");
    let url = r.body["file"]["value"].as_str().expect("url").to_string();
    assert!(url.starts_with("/media/") && url.ends_with(".txt"), "{url}");
    let served = app.call("GET", &url, &[], None).await;
    assert_eq!(served.expect_json(StatusCode::OK), json!("hello world"));
    let on_disk = |u: &str| {
        app.dir
            .0
            .join("files")
            .join(u.trim_start_matches("/media/"))
    };
    assert!(on_disk(&url).exists());
    // Copy by URL into another object, then replace the first object's file.
    let copy = create(&app, &key, "docs", json!({"file": url})).await;
    let copy_url = copy["file"]["value"].as_str().expect("copy").to_string();
    assert_ne!(copy_url, url);
    let (ct, body) = multipart("file", "two.bin", b"second", &[]);
    let r2 = send_multipart(
        &app,
        &key,
        "PATCH",
        &object("docs", &r.body["id"]),
        ct,
        body,
    )
    .await;
    r2.expect(StatusCode::OK);
    assert!(!on_disk(&url).exists(), "replaced file removed");
    let new_url = r2.body["file"]["value"].as_str().expect("url").to_string();
    // A full update without the field deletes the file.
    let r3 = app
        .as_key(
            &key,
            "POST",
            &object("docs", &r.body["id"]),
            Some(json!({})),
        )
        .await;
    assert_eq!(r3.body["file"], Value::Null);
    assert!(!on_disk(&new_url).exists());
    let bad = create_err(
        &app,
        &key,
        "docs",
        json!({"file": "https://elsewhere.example/x.png"}),
    )
    .await;
    assert_eq!(bad, json!({"file": ["File URL is invalid."]}));
    let (ct, body) = multipart("file", "x.abcdefghijklmnopq", b"x", &[]);
    let r = send_multipart(&app, &key, "POST", &objects("docs"), ct, body).await;
    assert_eq!(
        r.body,
        json!({"file": ["File provided has too long extension. Max 16 characters."]})
    );
    app.as_key(&key, "DELETE", &object("docs", &copy["id"]), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!on_disk(&copy_url).exists());
}

async fn create_err(app: &TestApp, key: &str, class: &str, body: Value) -> Value {
    let r = app.as_key(key, "POST", &objects(class), Some(body)).await;
    r.expect(StatusCode::BAD_REQUEST);
    r.body
}

async fn statement_timeout_cancels_reads(app: TestApp) {
    let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) SELECT COUNT(*) FROM c";
    let started = std::time::Instant::now();
    let r = app
        .store
        .db
        .read_with_timeout(
            vec![(slow.to_string(), vec![])],
            std::time::Duration::from_millis(200),
        )
        .await;
    assert!(matches!(r, Err(rivia_store::StoreError::Timeout)), "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let err: rivia_server::error::ApiError = rivia_store::StoreError::Timeout.into();
    assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
    // The connection is usable again afterwards.
    let ok = app
        .store
        .db
        .read_with_timeout(
            vec![("SELECT 1".to_string(), vec![])],
            std::time::Duration::from_millis(200),
        )
        .await
        .expect("fast read");
    assert_eq!(ok[0][0].i64(0), 1);
}

async fn bad_input_is_a_clean_4xx(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "bad", "schema": [{"name": "s", "type": "string", "filter_index": true, "order_index": true},
                                          {"name": "o", "type": "object"}, {"name": "a", "type": "array", "filter_index": true}]}),
    )
    .await;
    create(&app, &key, "bad", json!({"s": "x"})).await;
    let nul = app
        .as_key(
            &key,
            "POST",
            &objects("bad"),
            Some(json!({"s": "a\u{0}b", "o": {"k\u{0}": 1}, "channel_room": "\u{0}"})),
        )
        .await;
    nul.expect(StatusCode::BAD_REQUEST);
    let deep = (0..200).fold(json!(1), |acc, _| json!({"_is": acc}));
    let urls = vec![
        format!(
            "{}?query={}",
            objects("bad"),
            rivia_core::page::encode_query_value(&json!({"s": {"_eq": "a\u{0}"}}).to_string())
        ),
        format!(
            "{}?query={}",
            objects("bad"),
            rivia_core::page::encode_query_value(
                &json!({"a": {"_contains": ["\u{0}"]}}).to_string()
            )
        ),
        format!(
            "{}?query={}",
            objects("bad"),
            rivia_core::page::encode_query_value(&json!({"s": deep}).to_string())
        ),
        format!(
            "{}?query={}",
            objects("bad"),
            rivia_core::page::encode_query_value(&"x".repeat(20000))
        ),
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
    let huge = app
        .as_key(
            &key,
            "GET",
            &format!(
                "{}?page_size=100000&order_by=s&direction=1&last_pk=1&last_value=%27%20OR%201%3D1",
                objects("bad")
            ),
            None,
        )
        .await;
    huge.expect(StatusCode::OK);
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

async fn filters_use_the_expression_index(app: TestApp) {
    let key = setup(&app).await;
    if app.backend != Backend::Sqlite {
        // PostgreSQL picks sequential scans on tiny tables; the shared expression is
        // asserted by the SQLite plan and by the unit test of `field_expr`.
        return;
    }
    make_class(&app, &key, json!({"name": "ix", "schema": [{"name": "score", "type": "integer", "filter_index": true}]})).await;
    let inst = app.stored_instance(INST).await;
    let class = app
        .store
        .class_by_name(inst.id, "ix")
        .await
        .expect("db")
        .expect("class");
    let field = rivia_core::schema::Schema::from_stored(&class.schema)
        .fields
        .remove(0);
    let expr = rivia_store::sql::field_expr(rivia_store::Dialect::Sqlite, "", &field.key);
    let plan = app
        .store
        .db
        .query(
            &format!(
                "EXPLAIN QUERY PLAN SELECT id FROM c{} WHERE {expr} > $1",
                class.id
            ),
            rivia_store::params![5i64],
        )
        .await
        .expect("plan");
    let text: Vec<String> = plan.iter().map(|r| r.str(3).to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains(&rivia_store::sql::index_name(class.id, &field.key))),
        "{text:?}"
    );
}

/// Creates objects through `/batch/`, 50 per call.
async fn create_many(app: &TestApp, key: &str, class: &str, bodies: Vec<Value>) {
    for chunk in bodies.chunks(50) {
        let requests: Vec<Value> = chunk
            .iter()
            .map(|b| json!({"method": "POST", "path": objects(class), "body": b}))
            .collect();
        let r = app
            .as_key(
                key,
                "POST",
                &format!("/v1.1/instances/{INST}/batch/"),
                Some(json!({"requests": requests})),
            )
            .await;
        r.expect(StatusCode::OK);
        let codes: Vec<&Value> = r
            .body
            .as_array()
            .expect("results")
            .iter()
            .map(|x| &x["code"])
            .collect();
        assert!(codes.iter().all(|c| **c == json!(201)), "{codes:?}");
    }
}

async fn large_counts_are_estimates_and_selective_filters_page_in_order(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "big", "schema": [{"name": "n", "type": "integer", "filter_index": true}]}),
    )
    .await;
    // 1,500 objects: n cycles 0..3, and three rare values at the start, middle and end.
    let mut bodies: Vec<Value> = (0..1500).map(|i| json!({"n": i % 4})).collect();
    for (k, at) in [(0, 0), (1, 750), (2, 1499)] {
        bodies[at] = json!({"n": 100 + k});
    }
    create_many(&app, &key, "big", bodies).await;
    let count = |q: &'static str| {
        let app = &app;
        let key = &key;
        async move {
            let q = rivia_core::page::encode_query_value(q);
            let r = app
                .as_key(
                    key,
                    "GET",
                    &format!("{}?page_size=0&include_count=1&query={q}", objects("big")),
                    None,
                )
                .await;
            r.expect(StatusCode::OK);
            r.body["objects_count"].as_i64().expect("count")
        }
    };
    // Up to 1,000 matches the count is exact.
    assert_eq!(count(r#"{"n": {"_eq": 0}}"#).await, 374);
    assert_eq!(count(r#"{"n": {"_gte": 100}}"#).await, 3);
    // Above, an estimate: never below the exact range, near the truth (1,126).
    let estimate = count(r#"{"n": {"_gt": 0}}"#).await;
    if app.backend == Backend::Sqlite {
        // A sample of the class spread over its ids, scaled by the class count.
        assert!((1001..=1300).contains(&estimate), "estimate {estimate}");
        assert_eq!(count(r#"{"n": {"_gt": 0}}"#).await, estimate, "repeatable");
        assert_eq!(
            count("{}").await,
            1500,
            "everything matches: the class count"
        );
    } else {
        // The planner's estimate, whatever its statistics say, above the exact range.
        assert!(estimate >= 1001, "estimate {estimate}");
        assert!(count("{}").await >= 1001);
    }
    // The class's own count, on its detail and in the class list: exact on SQLite (it
    // keeps a counter), on PostgreSQL exact only up to 1,000 and estimated above.
    let detail = app.as_key(&key, "GET", &class_url("big"), None).await;
    let list = app.as_key(&key, "GET", &classes(), None).await;
    let listed = list.body["objects"]
        .as_array()
        .expect("classes")
        .iter()
        .find(|c| c["name"] == "big")
        .map(|c| c["objects_count"].clone());
    assert_eq!(listed.as_ref(), Some(&detail.body["objects_count"]));
    let class_count = detail.body["objects_count"].as_i64().expect("count");
    match app.backend {
        Backend::Sqlite => assert_eq!(class_count, 1500),
        Backend::Postgres => assert!(class_count >= 1001, "class count {class_count}"),
    }
    // A filter matching few rows pages in id order with working cursors.
    let q = rivia_core::page::encode_query_value(r#"{"n": {"_gte": 100}}"#);
    let first = app
        .as_key(
            &key,
            "GET",
            &format!("{}?page_size=2&query={q}", objects("big")),
            None,
        )
        .await;
    let page1 = ids(&first);
    assert_eq!(page1.len(), 2);
    assert!(page1[0] < page1[1]);
    let next = first.body["next"].as_str().expect("next").to_string();
    let second = app
        .as_key(&key, "GET", &format!("{next}&query={q}"), None)
        .await;
    let page2 = ids(&second);
    assert_eq!(page2.len(), 1);
    assert!(page2[0] > page1[1]);
    let ns: Vec<Value> = first.body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .chain(second.body["objects"].as_array().expect("objects"))
        .map(|o| o["n"].clone())
        .collect();
    assert_eq!(ns, vec![json!(100), json!(101), json!(102)]);
}

async fn schema_changes_racing_writes_stay_consistent(app: TestApp) {
    let key = setup(&app).await;
    let integer_v = json!([{"name": "v", "type": "integer"}, {"name": "w", "type": "string", "filter_index": true}]);
    let string_v = json!([{"name": "v", "type": "string"}, {"name": "w", "type": "string"}]);
    make_class(&app, &key, json!({"name": "race", "schema": integer_v})).await;
    let writer = |n: i64| {
        let (app, key) = (&app, &key);
        async move {
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
    };
    let schema_changer = |first: usize| {
        let (app, key, string_v, integer_v) = (&app, &key, &string_v, &integer_v);
        async move {
            for round in first..first + 10 {
                let schema = match round % 3 {
                    0 => string_v.clone(),
                    1 => json!([{"name": "v", "type": "integer"}]),
                    _ => integer_v.clone(),
                };
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
    };
    let (a, b2, c, (), ()) = tokio::join!(
        writer(1),
        writer(2),
        writer(3),
        schema_changer(0),
        schema_changer(1)
    );
    let r = app
        .as_key(
            &key,
            "PATCH",
            &class_url("race"),
            Some(json!({"schema": integer_v})),
        )
        .await;
    r.expect(StatusCode::OK);
    let created: Vec<Value> = a.into_iter().chain(b2).chain(c).collect();
    assert!(!created.is_empty());
    // Every acknowledged object is there, and its fields follow the final schema
    // (an integer `v` or none, a string `w` or none).
    for id in &created {
        let r = app.as_key(&key, "GET", &object("race", id), None).await;
        r.expect(StatusCode::OK);
        assert!(
            r.body["v"].is_i64() || r.body["v"].is_null(),
            "{:?}",
            r.body
        );
        assert!(
            r.body["w"].is_string() || r.body["w"].is_null(),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        count_objects(&app, &key, "race").await,
        json!(created.len())
    );
    // The final schema's index serves filters.
    let q = rivia_core::page::encode_query_value(r#"{"w": {"_eq": "nobody"}}"#);
    let r = app
        .as_key(&key, "GET", &format!("{}?query={q}", objects("race")), None)
        .await;
    r.expect(StatusCode::OK);
}

async fn cancelled_reads_leave_no_open_transaction(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "calm", "schema": [{"name": "n", "type": "integer"}]}),
    )
    .await;
    let slow = match app.backend {
        Backend::Sqlite => {
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"
        }
        Backend::Postgres => "SELECT pg_sleep(5)",
    };
    // Clients that go away mid-list: their reads are dropped inside the transaction.
    for _ in 0..12 {
        let read = app.store.db.read_with_timeout(
            vec![(slow.to_string(), vec![])],
            std::time::Duration::from_millis(300),
        );
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), read).await;
        assert!(cut.is_err(), "the slow read finished early");
    }
    // Every later write lands: no pooled connection is left inside a read-only transaction.
    for n in 0..24 {
        create(&app, &key, "calm", json!({"n": n})).await;
    }
    assert_eq!(count_objects(&app, &key, "calm").await, json!(24));
}

/// Reads of one batch share a transaction (on PostgreSQL one pipeline: BEGIN, the
/// statements, COMMIT); a statement failing at run time or at prepare ends it cleanly.
async fn failed_reads_report_the_first_error_and_leave_no_open_transaction(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "sane", "schema": [{"name": "n", "type": "integer"}]}),
    )
    .await;
    let read = |statements: Vec<&str>| {
        let statements = statements
            .into_iter()
            .map(|s| (s.to_string(), vec![]))
            .collect();
        app.store
            .db
            .read_with_timeout(statements, std::time::Duration::from_secs(5))
    };
    // A statement that prepares but fails when it runs (SQLite's 1 / 0 is NULL).
    let (fails_at_run, message) = match app.backend {
        Backend::Sqlite => ("SELECT json('not json')", "malformed JSON"),
        Backend::Postgres => ("SELECT 1 / 0", "division by zero"),
    };
    // More failures than the pool has connections, so every connection sees one.
    for _ in 0..20 {
        let at_run = read(vec!["SELECT 1", fails_at_run, "SELECT 2"]).await;
        assert!(
            matches!(at_run, Err(rivia_store::StoreError::Internal(ref m)) if m.contains(message)),
            "{at_run:?}"
        );
        let at_prepare = read(vec!["SELECT 1", "SELEKT 2"]).await;
        assert!(
            matches!(at_prepare, Err(rivia_store::StoreError::Internal(_))),
            "{at_prepare:?}"
        );
    }
    let ok = read(vec!["SELECT 1", "SELECT 2"])
        .await
        .expect("reads work again");
    assert_eq!((ok[0][0].i64(0), ok[1][0].i64(0)), (1, 2));
    // Writes land and later lists see them: no connection was left in a read-only
    // transaction or an old snapshot.
    for n in 0..24 {
        create(&app, &key, "sane", json!({"n": n})).await;
        assert_eq!(count_objects(&app, &key, "sane").await, json!(n + 1));
    }
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
