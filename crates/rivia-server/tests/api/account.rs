//! Account endpoints (spec-core §2.7).

use crate::both_backends;
use crate::helpers::{TestApp, redact};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    register_login_and_profile,
    registration_validates_its_fields,
    key_reset_and_password_change,
    password_reset_and_activation_through_the_outbox,
);
both_backends!(
    settings(|s| s.registration_open = false),
    closed_registration_refuses_new_accounts,
);

async fn register_login_and_profile(app: TestApp) {
    let r = app
        .call(
            "POST",
            "/v1.1/account/register/",
            &[],
            Some(json!({"email": "Geralt@Rivia.org", "password": "roach", "first_name": "Geralt"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(
        redact(&r.body),
        json!({"id": 1, "email": "Geralt@Rivia.org", "first_name": "Geralt", "last_name": "", "is_active": false,
               "has_password": true, "metadata": {}, "account_key": "<key>"})
    );
    let key = r.body["account_key"].as_str().expect("key").to_string();
    assert!(key.len() == 40 && u32::from_str_radix(&key[39..], 16).expect("hex") % 2 == 0);
    let login = app
        .call(
            "POST",
            "/v1.1/account/auth/",
            &[],
            Some(json!({"email": "geralt@rivia.org", "password": "roach"})),
        )
        .await;
    login.expect(StatusCode::OK);
    assert_eq!(login.body["account_key"], json!(key));
    let wrong = app
        .call(
            "POST",
            "/v1.1/account/auth/",
            &[],
            Some(json!({"email": "geralt@rivia.org", "password": "x"})),
        )
        .await;
    assert_eq!(
        wrong.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid password."})
    );
    let unknown = app
        .call(
            "POST",
            "/v1.1/account/auth/",
            &[],
            Some(json!({"email": "ciri@rivia.org", "password": "x"})),
        )
        .await;
    assert_eq!(
        unknown.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid email."})
    );
    let me = app
        .call(
            "GET",
            "/v1.1/account/",
            &[("authorization", &format!("token {key}"))],
            None,
        )
        .await;
    assert_eq!(me.body["email"], "Geralt@Rivia.org");
    assert!(me.body.get("account_key").is_none());
    let patched = app
        .as_key(
            &key,
            "PATCH",
            "/v1.1/account/",
            Some(json!({"last_name": "of Rivia", "metadata": {"a": 1}})),
        )
        .await;
    assert_eq!(
        (
            patched.body["last_name"].clone(),
            patched.body["metadata"].clone()
        ),
        (json!("of Rivia"), json!({"a": 1}))
    );
    let put = app
        .as_key(
            &key,
            "PUT",
            "/v1.1/account/",
            Some(json!({"email": "geralt@rivia.org"})),
        )
        .await;
    assert_eq!(put.body["metadata"], json!({}), "PUT resets metadata");
    let social = app
        .call(
            "POST",
            "/v1.1/account/auth/facebook/",
            &[],
            Some(json!({"access_token": "x"})),
        )
        .await;
    assert_eq!(
        social.expect_json(StatusCode::BAD_REQUEST),
        json!({"detail": "Unsupported social backend."})
    );
}

async fn registration_validates_its_fields(app: TestApp) {
    app.admin("dup@example.com").await;
    let r = app
        .call(
            "POST",
            "/v1.1/account/register/",
            &[],
            Some(json!({"email": "DUP@example.com", "password": "x"})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"email": ["This field must be unique."]})
    );
    let r = app
        .call(
            "POST",
            "/v1.1/account/register/",
            &[],
            Some(json!({"email": "nope", "password": ""})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"email": ["Enter a valid email address."], "password": ["This field may not be blank."]})
    );
    let r = app
        .call("POST", "/v1.1/account/register/", &[], Some(json!({})))
        .await;
    assert_eq!(
        r.body,
        json!({"email": ["This field is required."], "password": ["This field is required."]})
    );
    let r = app
        .call(
            "POST",
            "/v1.1/account/register/",
            &[],
            Some(json!({"email": "x@example.com", "password": "p", "invitation_key": "abc"})),
        )
        .await;
    assert_eq!(r.body, json!({"invitation_key": "Invitation not found."}));
}

async fn closed_registration_refuses_new_accounts(closed: TestApp) {
    let r = closed
        .call(
            "POST",
            "/v1.1/account/register/",
            &[],
            Some(json!({"email": "a@example.com", "password": "p"})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"detail": "Registration disabled."})
    );
}

async fn key_reset_and_password_change(app: TestApp) {
    let key = app.admin("keys@example.com").await;
    let r = app
        .as_key(&key, "POST", "/v1.1/account/reset_key/", None)
        .await;
    let new_key = r.body["account_key"].as_str().expect("key").to_string();
    assert_ne!(new_key, key);
    app.as_key(&key, "GET", "/v1.1/account/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
    let r = app
        .as_key(
            &new_key,
            "POST",
            "/v1.1/account/password/",
            Some(json!({"current_password": "bad", "new_password": "n"})),
        )
        .await;
    assert_eq!(r.body, json!({"current_password": ["Invalid password."]}));
    let r = app
        .as_key(
            &new_key,
            "POST",
            "/v1.1/account/password/",
            Some(json!({"current_password": "secret", "new_password": "n"})),
        )
        .await;
    r.expect(StatusCode::NO_CONTENT);
    let login = app
        .call(
            "POST",
            "/v1.1/account/auth/",
            &[],
            Some(json!({"email": "keys@example.com", "password": "n"})),
        )
        .await;
    login.expect(StatusCode::OK);
    let r = app
        .as_key(
            &new_key,
            "POST",
            "/v1.1/account/password/set/",
            Some(json!({"password": "z"})),
        )
        .await;
    assert_eq!(r.body, json!({"password": ["Admin already has password."]}));
}

fn last_mail(app: &TestApp, kind: &str) -> Value {
    let outbox = std::fs::read_to_string(app.dir.0.join("outbox.jsonl")).expect("outbox");
    outbox
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|m| m["kind"] == kind)
        .expect("mail of that kind")
}

async fn password_reset_and_activation_through_the_outbox(app: TestApp) {
    app.admin("mail@example.com").await;
    let activation = last_mail(&app, "activation");
    let r = app
        .call(
            "POST",
            "/v1.1/account/activate/",
            &[],
            Some(json!({"uid": activation["fields"]["uid"], "token": "wrong"})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Invalid token or account already activated."})
    );
    let r = app
        .call(
            "POST",
            "/v1.1/account/activate/",
            &[],
            Some(
                json!({"uid": activation["fields"]["uid"], "token": activation["fields"]["token"]}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body["is_active"].clone()),
        (StatusCode::OK, json!(true))
    );
    let r = app
        .call(
            "POST",
            "/v1.1/account/resend_email/",
            &[],
            Some(json!({"email": "mail@example.com"})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Account has already been activated."})
    );

    let r = app
        .call(
            "POST",
            "/v1.1/account/password/reset/",
            &[],
            Some(json!({"email": "none@example.com"})),
        )
        .await;
    assert_eq!(r.body, json!({"email": ["Email not found."]}));
    let r = app
        .call(
            "POST",
            "/v1.1/account/password/reset/",
            &[],
            Some(json!({"email": "mail@example.com"})),
        )
        .await;
    r.expect(StatusCode::NO_CONTENT);
    let reset = last_mail(&app, "password_reset");
    let confirm = json!({"uid": reset["fields"]["uid"], "token": reset["fields"]["token"], "new_password": "fresh"});
    let r = app
        .call(
            "POST",
            "/v1.1/account/password/reset/confirm/",
            &[],
            Some(confirm.clone()),
        )
        .await;
    r.expect(StatusCode::OK);
    let r = app
        .call(
            "POST",
            "/v1.1/account/password/reset/confirm/",
            &[],
            Some(confirm),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Invalid token."]}),
        "a reset token works once"
    );
    let login = app
        .call(
            "POST",
            "/v1.1/account/auth/",
            &[],
            Some(json!({"email": "mail@example.com", "password": "fresh"})),
        )
        .await;
    login.expect(StatusCode::OK);
}
