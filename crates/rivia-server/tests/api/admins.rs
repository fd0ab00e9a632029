//! Instance admins (spec-core §4.3): roles, what a write admin may do, leaving.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::invitations::guest_admin;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    write_admin_cannot_manage_api_keys,
    owner_role_cannot_be_changed,
    admin_role_must_be_a_valid_choice,
    admin_may_leave_the_instance,
);

const ADMINS: &str = "/v1.1/instances/invites/admins/";

/// The id of the admin in `admins` whose email is (or, `is == false`, is not) `email`.
fn admin_id(admins: &Value, email: &str, is: bool) -> Value {
    admins["objects"]
        .as_array()
        .expect("a")
        .iter()
        .find(|a| (a["email"] == email) == is)
        .expect("admin")["id"]
        .clone()
}

async fn write_admin_cannot_manage_api_keys(app: TestApp) {
    let (_, guest, _) = guest_admin(&app).await;
    app.as_key(&guest, "GET", "/v1.1/instances/invites/api_keys/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn owner_role_cannot_be_changed(app: TestApp) {
    let (owner, _, admins) = guest_admin(&app).await;
    let owner_id = admin_id(&admins, "guest@example.com", false);
    app.as_key(
        &owner,
        "PATCH",
        &format!("{ADMINS}{owner_id}/"),
        Some(json!({"role": "read"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

async fn admin_role_must_be_a_valid_choice(app: TestApp) {
    let (owner, _, admins) = guest_admin(&app).await;
    let guest_id = admin_id(&admins, "guest@example.com", true);
    let r = app
        .as_key(
            &owner,
            "PATCH",
            &format!("{ADMINS}{guest_id}/"),
            Some(json!({"role": "furry"})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"role": ["\"furry\" is not a valid choice."]})
    );
}

async fn admin_may_leave_the_instance(app: TestApp) {
    let (_, guest, admins) = guest_admin(&app).await;
    let guest_id = admin_id(&admins, "guest@example.com", true);
    app.as_key(&guest, "DELETE", &format!("{ADMINS}{guest_id}/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&guest, "GET", ADMINS, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
