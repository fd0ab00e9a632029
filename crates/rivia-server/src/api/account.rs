//! The admin account: registration, login, profile, keys, passwords, activation and the
//! invitations addressed to the account (spec-core §2.7).

use super::{Api, list_response, path_id, stored_json};
use crate::auth::{Principal, authenticate, throttle_account};
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields, both};
use crate::json::{no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rivia_core::errors::msg;
use rivia_store::admins::{Admin, AdminUpdate, NewAdmin};
use rivia_store::invitations::Accept;
use rivia_store::invitations::Invitation;
use serde_json::{Value, json};

const ACTIVATION_TTL: i64 = 3 * 24 * 3600 * 1_000_000;
const RESET_TTL: i64 = 24 * 3600 * 1_000_000;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.post(
        "/v1.1/account/register/",
        "Register an admin account",
        register,
    )
    .post(
        "/v1.1/account/auth/",
        "Log in with email and password",
        login,
    )
    .post(
        "/v1.1/account/auth/{backend}/",
        "Social login",
        social_login,
    )
    .get("/v1.1/account/", "The calling account", get_account)
    .put("/v1.1/account/", "Update the account", update_account)
    .patch(
        "/v1.1/account/",
        "Partially update the account",
        update_account,
    )
    .post(
        "/v1.1/account/reset_key/",
        "Replace the account key",
        reset_key,
    )
    .post(
        "/v1.1/account/password/",
        "Change the password",
        change_password,
    )
    .post(
        "/v1.1/account/password/set/",
        "Set a first password",
        set_password,
    )
    .post(
        "/v1.1/account/password/reset/",
        "Mail a password reset link",
        password_reset,
    )
    .post(
        "/v1.1/account/password/reset/confirm/",
        "Set a new password from a reset link",
        password_reset_confirm,
    )
    .post(
        "/v1.1/account/activate/",
        "Confirm the account email",
        activate,
    )
    .post(
        "/v1.1/account/resend_email/",
        "Resend the activation mail",
        resend_email,
    )
    .get(
        "/v1.1/account/invitations/",
        "Invitations addressed to me",
        list_my_invitations,
    )
    .get(
        "/v1.1/account/invitations/{id}/",
        "One invitation addressed to me",
        get_my_invitation,
    )
    .delete(
        "/v1.1/account/invitations/{id}/",
        "Decline an invitation",
        decline_invitation,
    )
    .post(
        "/v1.1/account/invitations/accept/",
        "Accept an invitation by key",
        accept_invitation,
    )
}

/// AdminJSON without the key.
pub(crate) fn admin_json(a: &Admin) -> Value {
    json!({
        "id": a.id,
        "email": a.email,
        "first_name": a.first_name,
        "last_name": a.last_name,
        "is_active": a.is_active,
        "has_password": a.password.is_some(),
        "metadata": stored_json(&a.metadata),
    })
}

fn admin_with_key(a: &Admin) -> Value {
    let mut v = admin_json(a);
    v["account_key"] = Value::String(a.account_key.clone());
    v
}

/// Authenticates an admin for account-level routes and throttles the request.
pub(crate) async fn account_admin(app: &AppState, req: &Req) -> ApiResult<Admin> {
    let principal = authenticate(app, req, None).await?;
    let Principal::Admin(admin) = &principal else {
        return Err(ApiError::forbidden());
    };
    throttle_account(app, req, &principal)?;
    Ok(admin.clone())
}

async fn anonymous(app: &AppState, req: &Req) -> ApiResult<()> {
    throttle_account(app, req, &Principal::Anonymous)
}

fn uid_of(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

fn id_of_uid(uid: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(uid.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// Stores a new `kind` token of `admin`, valid for `ttl` microseconds, and mails it with
/// the admin's uid using the `template` mail.
async fn mail_token(
    app: &AppState,
    admin: &Admin,
    (kind, template): (&str, &str),
    ttl: i64,
) -> ApiResult<()> {
    let token = rivia_core::keys::new_token();
    app.store
        .create_admin_token(admin.id, kind, &token, ttl)
        .await?;
    app.mailer.send(
        &admin.email,
        template,
        json!({"uid": uid_of(admin.id), "token": token}),
    );
    Ok(())
}

async fn send_activation(app: &AppState, admin: &Admin) -> ApiResult<()> {
    mail_token(app, admin, ("activate", "activation"), ACTIVATION_TTL).await
}

async fn register(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    if !app.settings.registration_open {
        return Err(ApiError::bad_request("Registration disabled."));
    }
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let email = f.required_email("email");
    let password = f.required_string("password", Char::PASSWORD);
    let first_name = f
        .string("first_name", Char::text(64), false)
        .unwrap_or_default();
    let last_name = f
        .string("last_name", Char::text(64), false)
        .unwrap_or_default();
    let invitation_key = f
        .string("invitation_key", Char::text(40), false)
        .filter(|k| !k.is_empty());
    if let Ok(e) = &email
        && app.store.admin_by_email(e).await?.is_some()
    {
        f.errors.add("email", msg::UNIQUE);
    }
    let (email, password) = f.finish_with(both(email, password))?;
    if let Some(key) = &invitation_key
        && !app.store.invitation_key_exists(key).await?
    {
        {
            return Err(ApiError::field_str(
                "invitation_key",
                "Invitation not found.",
            ));
        }
    }
    let hash = app.hash_password(&password).await?;
    let account_key = rivia_core::keys::new_account_key();
    let admin = app
        .store
        .create_admin(NewAdmin {
            email: &email,
            password: Some(&hash),
            first_name: &first_name,
            last_name: &last_name,
            account_key: &account_key,
            is_active: false,
        })
        .await
        .map_err(|e| match e {
            rivia_store::StoreError::Conflict(_) => ApiError::field("email", msg::UNIQUE),
            other => other.into(),
        })?;
    if let Some(key) = &invitation_key {
        // A new admin belongs to no instance yet: the key alone admits them.
        app.store
            .accept_invitation(key, admin.id, &admin.email)
            .await?;
    }
    send_activation(&app, &admin).await?;
    tracing::info!(admin_id = admin.id, "admin registered");
    Ok(crate::json::created(admin_with_key(&admin)))
}

async fn login(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let email = f.required_email("email");
    let password = f.required_string("password", Char::PASSWORD);
    let (email, password) = f.finish_with(both(email, password))?;
    let admin = app.store.admin_by_email(&email).await?;
    let verified = app
        .verify_password(
            &password,
            admin.as_ref().and_then(|a| a.password.as_deref()),
        )
        .await;
    match admin {
        None => Err(ApiError::unauthorized("Invalid email.")),
        Some(_) if !verified => Err(ApiError::unauthorized("Invalid password.")),
        Some(a) => Ok(ok(admin_with_key(&a))),
    }
}

async fn social_login(
    State(app): State<AppState>,
    Path(_backend): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    // No social backend is configured in this build.
    Err(ApiError::bad_request("Unsupported social backend."))
}

async fn get_account(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    Ok(ok(admin_json(&admin)))
}

async fn update_account(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let email = f.email("email");
    let first_name = f.string("first_name", Char::text(64), false);
    let last_name = f.string("last_name", Char::text(64), false);
    let metadata = f.metadata("metadata");
    f.finish()?;
    let new_email = email.unwrap_or_else(|| admin.email.clone());
    let email_changed = !new_email.eq_ignore_ascii_case(&admin.email);
    let update = AdminUpdate {
        email: new_email,
        first_name: first_name.unwrap_or_else(|| admin.first_name.clone()),
        last_name: last_name.unwrap_or_else(|| admin.last_name.clone()),
        metadata: metadata.unwrap_or_else(|| {
            if partial {
                admin.metadata.clone()
            } else {
                "{}".into()
            }
        }),
        is_active: admin.is_active && !email_changed,
    };
    let saved = app
        .store
        .update_admin(admin.id, &update)
        .await
        .map_err(|e| match e {
            rivia_store::StoreError::Conflict(_) => ApiError::field("email", msg::UNIQUE),
            other => other.into(),
        })?
        .ok_or_else(ApiError::not_found)?;
    if email_changed {
        send_activation(&app, &saved).await?;
    }
    Ok(ok(admin_json(&saved)))
}

async fn reset_key(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    let saved = app
        .store
        .set_admin_key(admin.id, &rivia_core::keys::new_account_key())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(admin_with_key(&saved)))
}

async fn change_password(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let current = f.required_string("current_password", Char::PASSWORD);
    let new = f.required_string("new_password", Char::PASSWORD);
    // A field validator in DRF: a wrong password is reported with the other fields' errors.
    let current = match current {
        Ok(c) if !app.verify_password(&c, admin.password.as_deref()).await => {
            Err(f.report("current_password", "Invalid password."))
        }
        other => other,
    };
    let (_, new) = f.finish_with(both(current, new))?;
    let hash = app.hash_password(&new).await?;
    app.store.set_admin_password(admin.id, &hash).await?;
    Ok(no_content())
}

async fn set_password(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let password = f.required_string("password", Char::PASSWORD);
    let password = f.finish_with(password)?;
    if admin.password.is_some() {
        return Err(ApiError::field("password", "Admin already has password."));
    }
    let hash = app.hash_password(&password).await?;
    app.store.set_admin_password(admin.id, &hash).await?;
    Ok(no_content())
}

fn email_field(req: &Req) -> ApiResult<String> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let email = f.required_email("email");
    f.finish_with(email)
}

/// The admin named by the body's `email`; `Email not found.` when none.
async fn admin_of_email_field(app: &AppState, req: &Req) -> ApiResult<Admin> {
    let email = email_field(req)?;
    app.store
        .admin_by_email(&email)
        .await?
        .ok_or_else(|| ApiError::field("email", "Email not found."))
}

async fn password_reset(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    let admin = admin_of_email_field(&app, &req).await?;
    mail_token(&app, &admin, ("reset", "password_reset"), RESET_TTL).await?;
    Ok(no_content())
}

async fn password_reset_confirm(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let uid = f.required_string("uid", Char::required(64));
    let token = f.required_string("token", Char::required(64));
    let new = f.required_string("new_password", Char::PASSWORD);
    // The uid lookup is a field validator in DRF: reported with the other fields' errors.
    let admin = match uid {
        Ok(uid) => match id_of_uid(&uid) {
            Some(id) => app.store.admin_by_id(id).await?,
            None => None,
        }
        .ok_or_else(|| f.report("uid", "Invalid token.")),
        Err(r) => Err(r),
    };
    let ((admin, token), new) = f.finish_with(both(both(admin, token), new))?;
    if !app
        .store
        .admin_token_valid(admin.id, "reset", &token)
        .await?
    {
        return Err(ApiError::field("non_field_errors", "Invalid token."));
    }
    let hash = app.hash_password(&new).await?;
    app.store.set_admin_password(admin.id, &hash).await?;
    Ok(ok(admin_with_key(&admin)))
}

async fn activate(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let uid = f.required_string("uid", Char::required(64));
    let token = f.required_string("token", Char::required(64));
    let (uid, token) = f.finish_with(both(uid, token))?;
    let admin = match id_of_uid(&uid) {
        Some(id) => app.store.admin_by_id(id).await?,
        None => None,
    };
    let admin = admin.ok_or_else(|| ApiError::bad_request("Invalid token."))?;
    if admin.is_active
        || !app
            .store
            .admin_token_valid(admin.id, "activate", &token)
            .await?
    {
        return Err(ApiError::bad_request(
            "Invalid token or account already activated.",
        ));
    }
    app.store.activate_admin(admin.id).await?;
    let admin = app
        .store
        .admin_by_id(admin.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(admin_with_key(&admin)))
}

async fn resend_email(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    anonymous(&app, &req).await?;
    let admin = admin_of_email_field(&app, &req).await?;
    if admin.is_active {
        return Err(ApiError::bad_request("Account has already been activated."));
    }
    send_activation(&app, &admin).await?;
    Ok(no_content())
}

/// InvitationJSON as the invitee sees it.
fn my_invitation_json(v: &Invitation) -> Value {
    json!({
        "id": v.id,
        "email": v.email,
        "role": v.role.name(),
        "key": v.key,
        "instance": v.instance_name,
        "inviter": v.inviter,
        "created_at": super::ts(v.created_at),
        "updated_at": super::ts(v.updated_at),
        "state": v.state.name(),
        "links": {
            "self": format!("/v1.1/account/invitations/{}/", v.id),
            "instance": format!("/v1.1/instances/{}/", v.instance_name),
        }
    })
}

async fn list_my_invitations(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    let page = req.page(false)?;
    let list = app
        .store
        .list_invitations_for_email(&admin.email, &page.keyset())
        .await?;
    Ok(list_response(&req, &page, list, |v| {
        (v.id, my_invitation_json(&v))
    }))
}

/// The `{id}` invitation addressed to the calling admin; 404 for any other.
async fn my_invitation(app: &AppState, req: &Req, raw_id: &str) -> ApiResult<Invitation> {
    let admin = account_admin(app, req).await?;
    let id = path_id(raw_id)?;
    app.store
        .invitation_for_email(&admin.email, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_my_invitation(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let v = my_invitation(&app, &req, &id).await?;
    Ok(ok(my_invitation_json(&v)))
}

async fn decline_invitation(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let v = my_invitation(&app, &req, &id).await?;
    app.store.decline_invitation(v.id).await?;
    Ok(no_content())
}

async fn accept_invitation(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let key = f.required_string("invitation_key", Char::required(40));
    let key = f.finish_with(key)?;
    match app
        .store
        .accept_invitation(&key, admin.id, &admin.email)
        .await?
    {
        Accept::Accepted => Ok(no_content()),
        Accept::NotFound => Err(ApiError::field_str(
            "invitation_key",
            "Invitation not found.",
        )),
        // Rivia differs from Syncano here (README, Security): a key never raises the role
        // of an admin already in the instance unless it was addressed to them.
        Accept::AddressedToOther => Err(ApiError::field_str(
            "invitation_key",
            "You already belong to this instance; this invitation is addressed to another email.",
        )),
    }
}
