//! Invitations (spec-core §6): an instance invites an admin by email; the invitee
//! accepts with the invitation key from their account.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    invitation_create_answers_a_new_invitation,
    second_invitation_for_an_email_is_refused,
    inviting_a_member_of_the_instance_is_refused,
    invitation_is_listed_in_the_invitees_account,
    accepting_an_unknown_invitation_fails,
    accepting_an_invitation_grants_its_role,
);

const INVITATIONS: &str = "/v1.1/instances/invites/invitations/";
const ACCEPT: &str = "/v1.1/account/invitations/accept/";

/// The owner of instance `invites` has invited `guest@example.com` (registered) as a
/// write admin: (owner key, guest key, the invitation's JSON).
async fn invited(app: &TestApp) -> (String, String, Value) {
    let owner = app.admin_with_instance("invites").await;
    let guest = app.admin("guest@example.com").await;
    let body = app
        .as_key(
            &owner,
            "POST",
            INVITATIONS,
            Some(json!({"email": "guest@example.com", "role": "write"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    (owner, guest, body)
}

/// The key of the guest's first pending invitation.
async fn invitation_key(app: &TestApp, guest: &str) -> String {
    let mine = app
        .as_key(guest, "GET", "/v1.1/account/invitations/", None)
        .await;
    mine.body["objects"][0]["key"]
        .as_str()
        .expect("key")
        .to_string()
}

/// The guest has accepted: (owner key, guest key, the instance's admins list).
pub async fn guest_admin(app: &TestApp) -> (String, String, Value) {
    let (owner, guest, _) = invited(app).await;
    let key = invitation_key(app, &guest).await;
    app.as_key(&guest, "POST", ACCEPT, Some(json!({"invitation_key": key})))
        .await
        .expect(StatusCode::NO_CONTENT);
    let admins = app
        .as_key(&guest, "GET", "/v1.1/instances/invites/admins/", None)
        .await
        .expect_json(StatusCode::OK);
    (owner, guest, admins)
}

async fn invitation_create_answers_a_new_invitation(app: TestApp) {
    let (_, _, body) = invited(&app).await;
    assert_eq!(
        (body["state"].clone(), body["inviter"].clone()),
        (json!("new"), json!("owner-invites@example.com"))
    );
}

async fn second_invitation_for_an_email_is_refused(app: TestApp) {
    let (owner, _, _) = invited(&app).await;
    let r2 = app
        .as_key(
            &owner,
            "POST",
            INVITATIONS,
            Some(json!({"email": "guest@example.com"})),
        )
        .await;
    assert_eq!(
        r2.body,
        json!({"detail": "Admin with specified Email already has an invitation created."})
    );
}

async fn inviting_a_member_of_the_instance_is_refused(app: TestApp) {
    let (owner, _, _) = invited(&app).await;
    let r3 = app
        .as_key(
            &owner,
            "POST",
            INVITATIONS,
            Some(json!({"email": "owner-invites@example.com"})),
        )
        .await;
    assert_eq!(
        r3.body,
        json!({"email": "Admin with specified Email is already a part of this Instance."})
    );
}

async fn invitation_is_listed_in_the_invitees_account(app: TestApp) {
    let (_, guest, _) = invited(&app).await;
    let mine = app
        .as_key(&guest, "GET", "/v1.1/account/invitations/", None)
        .await;
    assert_eq!(mine.body["objects"][0]["instance"], "invites");
}

async fn accepting_an_unknown_invitation_fails(app: TestApp) {
    let (_, guest, _) = invited(&app).await;
    let r = app
        .as_key(
            &guest,
            "POST",
            ACCEPT,
            Some(json!({"invitation_key": "nope"})),
        )
        .await;
    assert_eq!(r.body, json!({"invitation_key": "Invitation not found."}));
}

async fn accepting_an_invitation_grants_its_role(app: TestApp) {
    let (_, _, admins) = guest_admin(&app).await;
    let roles: Vec<(String, String)> = admins["objects"]
        .as_array()
        .expect("admins")
        .iter()
        .map(|a| {
            (
                a["email"].as_str().unwrap_or_default().to_string(),
                a["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(roles.contains(&("guest@example.com".into(), "write".into())));
}
