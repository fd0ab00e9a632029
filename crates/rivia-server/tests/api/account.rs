//! Account endpoints (spec-core §2.7): register, login, the account itself, key reset,
//! password change and reset, activation (mails land in the data directory's outbox).

use crate::both_backends;
use crate::helpers::{Response, TestApp, redact};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    register_answers_the_new_account_with_an_even_key,
    login_answers_the_account_key_whatever_the_email_case,
    login_with_a_wrong_password_is_refused,
    login_with_an_unknown_email_is_refused,
    account_reads_with_a_token_header_without_its_key,
    account_patch_changes_what_is_sent,
    account_put_resets_metadata,
    unsupported_social_backend_is_refused,
    registration_email_must_be_unique_whatever_its_case,
    registration_reports_invalid_and_missing_fields,
    registration_with_an_unknown_invitation_is_refused,
    reset_account_key_replaces_the_old_one,
    password_change_needs_the_current_password,
    changed_password_logs_in,
    password_cannot_be_set_when_one_exists,
    activation_needs_the_mailed_token,
    activated_account_gets_no_second_activation_mail,
    password_reset_needs_a_known_email,
    mailed_reset_token_sets_a_new_password_once,
);
both_backends!(
    settings(|s| s.registration_open = false),
    closed_registration_refuses_new_accounts,
);

/// An unauthenticated POST.
async fn post(app: &TestApp, path: &str, body: Value) -> Response {
    app.call("POST", path, &[], Some(body)).await
}

/// Registers Geralt@Rivia.org (password "roach"): (account key, the response body).
async fn geralt(app: &TestApp) -> (String, Value) {
    let body = json!({"email": "Geralt@Rivia.org", "password": "roach", "first_name": "Geralt"});
    let r = post(app, "/v1.1/account/register/", body)
        .await
        .expect_json(StatusCode::CREATED);
    let key = r["account_key"].as_str().expect("key").to_string();
    (key, r)
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    let body = json!({"email": email, "password": password});
    post(app, "/v1.1/account/auth/", body).await
}

async fn register_answers_the_new_account_with_an_even_key(app: TestApp) {
    let (key, body) = geralt(&app).await;
    assert_eq!(
        redact(&body),
        json!({"id": 1, "email": "Geralt@Rivia.org", "first_name": "Geralt", "last_name": "", "is_active": false,
               "has_password": true, "metadata": {}, "account_key": "<key>"})
    );
    assert!(key.len() == 40 && u32::from_str_radix(&key[39..], 16).expect("hex") % 2 == 0);
}

async fn login_answers_the_account_key_whatever_the_email_case(app: TestApp) {
    let (key, _) = geralt(&app).await;
    let body = login(&app, "geralt@rivia.org", "roach")
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(body["account_key"], json!(key));
}

async fn login_with_a_wrong_password_is_refused(app: TestApp) {
    geralt(&app).await;
    let wrong = login(&app, "geralt@rivia.org", "x").await;
    assert_eq!(
        wrong.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid password."})
    );
}

async fn login_with_an_unknown_email_is_refused(app: TestApp) {
    geralt(&app).await;
    let unknown = login(&app, "ciri@rivia.org", "x").await;
    assert_eq!(
        unknown.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid email."})
    );
}

async fn account_reads_with_a_token_header_without_its_key(app: TestApp) {
    let (key, _) = geralt(&app).await;
    let auth = format!("token {key}");
    let me = app
        .call("GET", "/v1.1/account/", &[("authorization", &auth)], None)
        .await;
    assert_eq!(me.body["email"], "Geralt@Rivia.org");
    assert!(me.body.get("account_key").is_none());
}

async fn account_patch_changes_what_is_sent(app: TestApp) {
    let (key, _) = geralt(&app).await;
    let body = json!({"last_name": "of Rivia", "metadata": {"a": 1}});
    let patched = app
        .as_key(&key, "PATCH", "/v1.1/account/", Some(body))
        .await;
    assert_eq!(
        (
            patched.body["last_name"].clone(),
            patched.body["metadata"].clone()
        ),
        (json!("of Rivia"), json!({"a": 1}))
    );
}

async fn account_put_resets_metadata(app: TestApp) {
    let (key, _) = geralt(&app).await;
    let body = json!({"metadata": {"a": 1}});
    app.as_key(&key, "PATCH", "/v1.1/account/", Some(body))
        .await
        .expect(StatusCode::OK);
    let body = json!({"email": "geralt@rivia.org"});
    let put = app.as_key(&key, "PUT", "/v1.1/account/", Some(body)).await;
    assert_eq!(put.body["metadata"], json!({}), "PUT resets metadata");
}

async fn unsupported_social_backend_is_refused(app: TestApp) {
    let body = json!({"access_token": "x"});
    let social = post(&app, "/v1.1/account/auth/facebook/", body).await;
    assert_eq!(
        social.expect_json(StatusCode::BAD_REQUEST),
        json!({"detail": "Unsupported social backend."})
    );
}

async fn registration_email_must_be_unique_whatever_its_case(app: TestApp) {
    app.admin("dup@example.com").await;
    let body = json!({"email": "DUP@example.com", "password": "x"});
    let r = post(&app, "/v1.1/account/register/", body).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"email": ["This field must be unique."]})
    );
}

async fn registration_reports_invalid_and_missing_fields(app: TestApp) {
    let body = json!({"email": "nope", "password": ""});
    let r = post(&app, "/v1.1/account/register/", body).await;
    assert_eq!(
        r.body,
        json!({"email": ["Enter a valid email address."], "password": ["This field may not be blank."]})
    );
    let r = post(&app, "/v1.1/account/register/", json!({})).await;
    assert_eq!(
        r.body,
        json!({"email": ["This field is required."], "password": ["This field is required."]})
    );
}

async fn registration_with_an_unknown_invitation_is_refused(app: TestApp) {
    let body = json!({"email": "x@example.com", "password": "p", "invitation_key": "abc"});
    let r = post(&app, "/v1.1/account/register/", body).await;
    assert_eq!(r.body, json!({"invitation_key": "Invitation not found."}));
}

async fn closed_registration_refuses_new_accounts(closed: TestApp) {
    let body = json!({"email": "a@example.com", "password": "p"});
    let r = post(&closed, "/v1.1/account/register/", body).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"detail": "Registration disabled."})
    );
}

/// keys@example.com (password "secret") after a key reset: (old key, new key).
async fn reset_keys(app: &TestApp) -> (String, String) {
    let key = app.admin("keys@example.com").await;
    let r = app
        .as_key(&key, "POST", "/v1.1/account/reset_key/", None)
        .await;
    let new_key = r.body["account_key"].as_str().expect("key").to_string();
    (key, new_key)
}

async fn change_password(app: &TestApp, key: &str, current: &str) -> Response {
    let body = json!({"current_password": current, "new_password": "n"});
    app.as_key(key, "POST", "/v1.1/account/password/", Some(body))
        .await
}

async fn reset_account_key_replaces_the_old_one(app: TestApp) {
    let (key, new_key) = reset_keys(&app).await;
    assert_ne!(new_key, key);
    app.as_key(&key, "GET", "/v1.1/account/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn password_change_needs_the_current_password(app: TestApp) {
    let (_, new_key) = reset_keys(&app).await;
    let r = change_password(&app, &new_key, "bad").await;
    assert_eq!(r.body, json!({"current_password": ["Invalid password."]}));
}

async fn changed_password_logs_in(app: TestApp) {
    let (_, new_key) = reset_keys(&app).await;
    change_password(&app, &new_key, "secret")
        .await
        .expect(StatusCode::NO_CONTENT);
    login(&app, "keys@example.com", "n")
        .await
        .expect(StatusCode::OK);
}

async fn password_cannot_be_set_when_one_exists(app: TestApp) {
    let (_, new_key) = reset_keys(&app).await;
    let body = json!({"password": "z"});
    let r = app
        .as_key(&new_key, "POST", "/v1.1/account/password/set/", Some(body))
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

/// Registers mail@example.com and activates it with the mailed token, after a wrong one:
/// returns the two answers (wrong token, mailed token).
async fn activate(app: &TestApp) -> (Response, Response) {
    app.admin("mail@example.com").await;
    let activation = last_mail(app, "activation");
    let uid = &activation["fields"]["uid"];
    let wrong = json!({"uid": uid, "token": "wrong"});
    let wrong = post(app, "/v1.1/account/activate/", wrong).await;
    let right = json!({"uid": uid, "token": activation["fields"]["token"]});
    let right = post(app, "/v1.1/account/activate/", right).await;
    (wrong, right)
}

async fn activation_needs_the_mailed_token(app: TestApp) {
    let (wrong, right) = activate(&app).await;
    assert_eq!(
        wrong.body,
        json!({"detail": "Invalid token or account already activated."})
    );
    assert_eq!(right.expect_json(StatusCode::OK)["is_active"], json!(true));
}

async fn activated_account_gets_no_second_activation_mail(app: TestApp) {
    let (_, activated) = activate(&app).await;
    activated.expect(StatusCode::OK);
    let body = json!({"email": "mail@example.com"});
    let r = post(&app, "/v1.1/account/resend_email/", body).await;
    assert_eq!(
        r.body,
        json!({"detail": "Account has already been activated."})
    );
}

async fn password_reset_needs_a_known_email(app: TestApp) {
    app.admin("mail@example.com").await;
    let body = json!({"email": "none@example.com"});
    let r = post(&app, "/v1.1/account/password/reset/", body).await;
    assert_eq!(r.body, json!({"email": ["Email not found."]}));
}

async fn mailed_reset_token_sets_a_new_password_once(app: TestApp) {
    let (_, activated) = activate(&app).await;
    activated.expect(StatusCode::OK);
    let body = json!({"email": "mail@example.com"});
    post(&app, "/v1.1/account/password/reset/", body)
        .await
        .expect(StatusCode::NO_CONTENT);
    let reset = last_mail(&app, "password_reset");
    let confirm = json!({"uid": reset["fields"]["uid"], "token": reset["fields"]["token"], "new_password": "fresh"});
    let path = "/v1.1/account/password/reset/confirm/";
    post(&app, path, confirm.clone())
        .await
        .expect(StatusCode::OK);
    let r = post(&app, path, confirm).await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Invalid token."]}),
        "a reset token works once"
    );
    login(&app, "mail@example.com", "fresh")
        .await
        .expect(StatusCode::OK);
}
