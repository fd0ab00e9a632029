//! Issue #13 §3: a NUL character anywhere in a request's text answers the same 400 field
//! error on both backends (404 for a name in the URL); PostgreSQL, which cannot store NUL,
//! used to answer 500.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::objects_common::{INST, make_class, objects, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(nul_characters_answer_400_or_404_on_both_backends);

const NUL: &str = "Null characters are not allowed.";

/// Who sends (admin, API key or nobody), method, path, body, the status, the field.
type Case<'a> = (
    &'a str,
    &'a str,
    String,
    Option<Value>,
    StatusCode,
    Option<&'a str>,
);

async fn nul_characters_answer_400_or_404_on_both_backends(app: TestApp) {
    let key = setup(&app).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    make_class(
        &app,
        &key,
        json!({"name": "things", "schema": [
            {"name": "s", "type": "string", "order_index": true},
            {"name": "tags", "type": "array"}]}),
    )
    .await;
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{INST}/channels/"),
        Some(json!({"name": "room", "other_permissions": "publish"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let i = |p: &str| format!("/v1.1/instances/{INST}/{p}");
    let cases: Vec<Case> = vec![
        (
            "",
            "POST",
            "/v1.1/account/register/".into(),
            Some(json!({"email": "a@example.com", "password": "x", "first_name": "a\u{0}b"})),
            StatusCode::BAD_REQUEST,
            Some("first_name"),
        ),
        (
            "",
            "POST",
            "/v1.1/account/auth/".into(),
            Some(json!({"email": "a\u{0}@example.com", "password": "x"})),
            StatusCode::BAD_REQUEST,
            Some("email"),
        ),
        (
            "api",
            "POST",
            i("users/"),
            Some(json!({"username": "u\u{0}", "password": "p"})),
            StatusCode::BAD_REQUEST,
            Some("username"),
        ),
        (
            "api",
            "POST",
            i("user/auth/"),
            Some(json!({"username": "u\u{0}", "password": "p"})),
            StatusCode::BAD_REQUEST,
            Some("username"),
        ),
        (
            "admin",
            "POST",
            i("groups/"),
            Some(json!({"label": "g\u{0}", "description": "d"})),
            StatusCode::BAD_REQUEST,
            Some("label"),
        ),
        (
            "admin",
            "POST",
            i("groups/"),
            Some(json!({"label": "g", "description": "d\u{0}"})),
            StatusCode::BAD_REQUEST,
            Some("description"),
        ),
        (
            "admin",
            "POST",
            objects("things"),
            Some(json!({"s": "x\u{0}y"})),
            StatusCode::BAD_REQUEST,
            Some("s"),
        ),
        (
            "admin",
            "POST",
            objects("things"),
            Some(json!({"tags": ["ok", "x\u{0}"]})),
            StatusCode::BAD_REQUEST,
            Some("tags"),
        ),
        (
            "admin",
            "POST",
            i("classes/"),
            Some(json!({"name": "c\u{0}"})),
            StatusCode::BAD_REQUEST,
            Some("name"),
        ),
        (
            "admin",
            "GET",
            i("classes/?name__startswith=a%00"),
            None,
            StatusCode::BAD_REQUEST,
            Some("name__startswith"),
        ),
        (
            "admin",
            "GET",
            "/v1.1/instances/?name__startswith=a%00".into(),
            None,
            StatusCode::BAD_REQUEST,
            Some("name__startswith"),
        ),
        (
            "admin",
            "GET",
            format!("{}?order_by=s&last_value=a%00", objects("things")),
            None,
            StatusCode::BAD_REQUEST,
            Some("last_value"),
        ),
        (
            "admin",
            "GET",
            i("channels/room/poll/?room=a%00"),
            None,
            StatusCode::BAD_REQUEST,
            Some("room"),
        ),
        (
            "admin",
            "GET",
            i("channels/room/history/?room=a%00"),
            None,
            StatusCode::BAD_REQUEST,
            Some("room"),
        ),
        (
            "admin",
            "GET",
            i("classes/a%00b/"),
            None,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "admin",
            "GET",
            i("classes/a%00b/objects/"),
            None,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "admin",
            "GET",
            i("channels/a%00/"),
            None,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "admin",
            "GET",
            "/v1.1/instances/a%00/".into(),
            None,
            StatusCode::NOT_FOUND,
            None,
        ),
    ];
    for (who, method, path, body, status, field) in cases {
        let r = match who {
            "admin" => app.as_key(&key, method, &path, body).await,
            "api" => app.as_key(&api_key, method, &path, body).await,
            _ => app.call(method, &path, &[], body).await,
        };
        assert_eq!(r.status, status, "{method} {path}: {:?}", r.body);
        if let Some(field) = field {
            assert_eq!(r.body, json!({ field: [NUL] }), "{method} {path}");
        }
    }
}
