//! Authentication (spec-core §2.2–§2.4): which key the request carries, whom it names, and
//! the admin role or API key (plus user) acting inside an instance.

use crate::error::{ApiError, ApiResult};
use crate::req::{Req, X_API_KEY, X_USER_KEY};
use crate::state::AppState;
use axum::http::header;
use rivia_core::keys::{KeyKind, classify, keys_equal};
use rivia_core::perms::{AdminTable, Op, Role, admin_allows};
use rivia_store::admins::Admin;
use rivia_store::api_keys::ApiKey;
use rivia_store::instances::Instance;
use rivia_store::users::User;

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// No credentials.
    Anonymous,
    /// An admin account key.
    Admin(Admin),
    /// An instance API key, with the user whose key came along.
    ApiKey {
        /// The key.
        key: ApiKey,
        /// The user, when a valid user key of the same instance was sent.
        user: Option<User>,
    },
}

/// The caller inside an instance.
#[derive(Debug, Clone)]
pub(crate) enum Who {
    /// No credentials.
    Anonymous,
    /// An admin and the role held in this instance (none: no access).
    Admin {
        /// The admin.
        admin: Admin,
        /// Role in this instance.
        role: Option<Role>,
    },
    /// An API key of this instance, with an optional user.
    ApiKey {
        /// The key.
        key: ApiKey,
        /// The user.
        user: Option<User>,
    },
}

/// A request resolved to an instance and a caller.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The instance of the URL.
    pub(crate) instance: Instance,
    /// The caller.
    pub(crate) who: Who,
    /// The request's `Host`, for absolute file URLs when no public URL is configured
    /// (a header value: cloning it shares its bytes).
    host: Option<axum::http::HeaderValue>,
}

/// The primary key (account key or API key) the request carries, by the precedence of §2.2
/// (the body's `_api_key` only if the body has been read).
pub(crate) fn primary_key(req: &Req) -> Option<String> {
    primary_key_outside_body(req).or_else(|| req.body.api_key().map(str::to_ascii_lowercase))
}

/// The primary key from the headers or the query: when there is one, the body's `_api_key`
/// is never consulted (it comes last in §2.2's precedence).
fn primary_key_outside_body(req: &Req) -> Option<String> {
    let from_query = || {
        req.param("api_key")
            .filter(|s| !s.is_empty())
            .or_else(|| req.param("apikey").filter(|s| !s.is_empty()))
    };
    let from_auth = || {
        req.header(header::AUTHORIZATION).and_then(|h| {
            let parts: Vec<&str> = h.split(' ').collect();
            (parts.len() == 2 && !parts[1].is_empty()).then(|| parts[1])
        })
    };
    req.header(X_API_KEY)
        .filter(|s| !s.is_empty())
        .or_else(from_query)
        .or_else(from_auth)
        .map(|k| k.to_ascii_lowercase())
}

/// The user key the request carries (the body's `_user_key` only if the body has been read).
pub(crate) fn user_key(req: &Req) -> Option<String> {
    user_key_outside_body(req).or_else(|| req.body.user_key().map(str::to_ascii_lowercase))
}

fn user_key_outside_body(req: &Req) -> Option<String> {
    req.header(X_USER_KEY)
        .filter(|s| !s.is_empty())
        .or_else(|| req.param("user_key").filter(|s| !s.is_empty()))
        .or_else(|| req.param("userkey").filter(|s| !s.is_empty()))
        .map(|k| k.to_ascii_lowercase())
}

/// Resolves the caller (§2.3). `instance` restricts API keys to the URL's instance.
///
/// The body is read here only when it may hold the credential that decides (a request
/// whose body is still unread is refused without reading it otherwise): `_api_key` when
/// neither the headers nor the query carry a primary key, `_user_key` when the primary
/// key is a valid API key and no user key came outside the body. A wrong key in a header
/// is refused before a byte of the body is read.
pub(crate) async fn authenticate(
    app: &AppState,
    req: &Req,
    instance: Option<&Instance>,
) -> ApiResult<Principal> {
    let key = match primary_key_outside_body(req) {
        Some(key) => key,
        None => {
            req.load_body().await?;
            match req.body.api_key() {
                Some(key) => key.to_ascii_lowercase(),
                None => return Ok(Principal::Anonymous),
            }
        }
    };
    match classify(&key) {
        // A running script's `META.token` (spec-scripts §3): the instance owner, only
        // under that instance's URLs.
        None => {
            let owner = match (instance, app.runner.token_instance(&key)) {
                (Some(inst), Some(id)) if inst.id == id => {
                    app.store.admin_by_id(inst.owner_id).await?
                }
                _ => None,
            };
            owner
                .map(Principal::Admin)
                .ok_or_else(ApiError::no_such_key)
        }
        Some(KeyKind::Account) => {
            let admin = admin_by_key(app, &key)
                .await?
                .filter(|a| keys_equal(&a.account_key, &key));
            admin
                .map(Principal::Admin)
                .ok_or_else(ApiError::no_such_key)
        }
        Some(KeyKind::ApiKey) => {
            let api_key = api_key_by_key(app, &key)
                .await?
                .filter(|k| keys_equal(&k.api_key, &key))
                .filter(|k| instance.is_none_or(|i| i.id == k.instance_id))
                .ok_or_else(ApiError::no_such_key)?;
            if instance.is_some() && user_key_outside_body(req).is_none() {
                req.load_body().await?;
            }
            let user = match (instance, user_key(req)) {
                (Some(inst), Some(uk)) => user_by_key(app, inst.id, &uk)
                    .await?
                    .filter(|u| keys_equal(&u.user_key, &uk)),
                _ => None,
            };
            Ok(Principal::ApiKey { key: api_key, user })
        }
    }
}

// Cached lookups (see `crate::cache`): each captures the store generation before reading,
// so an entry stored after a concurrent write is already stale.

async fn admin_by_key(app: &AppState, key: &str) -> ApiResult<Option<Admin>> {
    let generation = app.store.auth_generation();
    if let Some(a) = app.cache.admins.get(key, generation) {
        return Ok(Some(a));
    }
    let found = app.store.admin_by_key(key).await?;
    if let Some(a) = &found {
        app.cache.admins.put(key.to_string(), a.clone(), generation);
    }
    Ok(found)
}

async fn api_key_by_key(app: &AppState, key: &str) -> ApiResult<Option<ApiKey>> {
    let generation = app.store.auth_generation();
    if let Some(k) = app.cache.api_keys.get(key, generation) {
        return Ok(Some(k));
    }
    let found = app.store.api_key_by_key(key).await?;
    if let Some(k) = &found {
        app.cache
            .api_keys
            .put(key.to_string(), k.clone(), generation);
    }
    Ok(found)
}

async fn user_by_key(app: &AppState, instance_id: i64, key: &str) -> ApiResult<Option<User>> {
    let generation = app.store.auth_generation();
    let cache_key = (instance_id, key.to_string());
    if let Some(u) = app.cache.users.get(&cache_key, generation) {
        return Ok(Some(u));
    }
    let found = app.store.user_by_key(instance_id, key).await?;
    if let Some(u) = &found {
        app.cache.users.put(cache_key, u.clone(), generation);
    }
    Ok(found)
}

async fn admin_role(app: &AppState, instance_id: i64, admin_id: i64) -> ApiResult<Option<Role>> {
    let generation = app.store.auth_generation();
    if let Some(r) = app.cache.roles.get(&(instance_id, admin_id), generation) {
        return Ok(r);
    }
    let role = app.store.admin_role(instance_id, admin_id).await?;
    app.cache
        .roles
        .put((instance_id, admin_id), role, generation);
    Ok(role)
}

async fn instance_by_name(app: &AppState, lower: &str) -> ApiResult<Option<Instance>> {
    let generation = app.store.auth_generation();
    if let Some(i) = app.cache.instances.get(lower, generation) {
        return Ok(Some(i));
    }
    let found = app.store.instance_by_name(lower).await?;
    if let Some(i) = &found {
        app.cache
            .instances
            .put(lower.to_string(), i.clone(), generation);
    }
    Ok(found)
}

/// Looks up the URL's instance: unknown, malformed or deleted → 404 before authentication.
pub(crate) async fn resolve_instance(app: &AppState, name: &str) -> ApiResult<Instance> {
    let lower = name.to_lowercase();
    if !rivia_core::names::plausible_instance_name(&lower) {
        return Err(ApiError::model_not_found("Instance"));
    }
    instance_by_name(app, &lower)
        .await?
        .ok_or_else(|| ApiError::model_not_found("Instance"))
}

/// Authenticates inside an already resolved instance.
pub(crate) async fn caller_in(app: &AppState, req: &Req, instance: Instance) -> ApiResult<Ctx> {
    let who = match authenticate(app, req, Some(&instance)).await? {
        Principal::Anonymous => Who::Anonymous,
        Principal::Admin(admin) => {
            let role = if admin.is_staff {
                Some(Role::Owner)
            } else {
                admin_role(app, instance.id, admin.id).await?
            };
            Who::Admin { admin, role }
        }
        Principal::ApiKey { key, user } => Who::ApiKey { key, user },
    };
    let host = req.headers.get(axum::http::header::HOST).cloned();
    Ok(Ctx {
        instance,
        who,
        host,
    })
}

/// Whether `host` is a plain `host[:port]` authority (letters, digits, `.`, `-`, `:`, and
/// the brackets of an IPv6 literal): anything else is not put into a URL.
fn plain_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl Ctx {
    /// What absolute file URLs start with: the configured public URL, else `http://` and
    /// the request's `Host` (a missing or malformed one reads as `localhost`).
    pub(crate) fn origin<'a>(&'a self, app: &'a AppState) -> std::borrow::Cow<'a, str> {
        if let Some(public) = &app.settings.public_url {
            return std::borrow::Cow::Borrowed(public);
        }
        let host = self
            .host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .filter(|h| plain_authority(h))
            .unwrap_or("localhost");
        std::borrow::Cow::Owned(format!("http://{host}"))
    }

    /// The admin role, when an admin with a role calls.
    pub(crate) fn admin_role(&self) -> Option<Role> {
        match &self.who {
            Who::Admin { role, .. } => *role,
            _ => None,
        }
    }

    /// The admin, when an admin calls.
    pub(crate) fn admin(&self) -> Option<&Admin> {
        match &self.who {
            Who::Admin { admin, .. } => Some(admin),
            _ => None,
        }
    }

    /// The API key, when one is used.
    pub(crate) fn api_key(&self) -> Option<&ApiKey> {
        match &self.who {
            Who::ApiKey { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The user, when an API key with a valid user key is used.
    pub(crate) fn user(&self) -> Option<&User> {
        match &self.who {
            Who::ApiKey { user, .. } => user.as_ref(),
            _ => None,
        }
    }

    /// Requires an admin whose role allows `op` on `table`.
    pub(crate) fn require_admin(&self, table: AdminTable, op: Op) -> ApiResult<()> {
        match self.admin_role() {
            Some(role) if admin_allows(role, table, op) => Ok(()),
            _ => Err(ApiError::forbidden()),
        }
    }

    /// Counts this request against the instance's rate (after permission checks).
    pub(crate) fn throttle(&self, app: &AppState) -> ApiResult<()> {
        // The rate is off by default: then no key is built for it.
        if app.settings.instance_rate == 0 || self.admin().is_some_and(|a| a.is_staff) {
            return Ok(());
        }
        if app.throttle.allow(
            &format!("i:{}", self.instance.id),
            app.settings.instance_rate,
        ) {
            Ok(())
        } else {
            Err(ApiError::Throttled)
        }
    }

    /// Relative URL prefix of this instance: `/v1.1/instances/<name>`.
    pub(crate) fn base(&self) -> String {
        format!("/v1.1/instances/{}", self.instance.name)
    }
}

/// Throttles account-level requests: per admin, or per client IP when anonymous.
pub(crate) fn throttle_account(app: &AppState, req: &Req, principal: &Principal) -> ApiResult<()> {
    let allowed = match principal {
        Principal::Admin(a) if a.is_staff => true,
        Principal::Admin(a) => app
            .throttle
            .allow(&format!("a:{}", a.id), app.settings.admin_rate),
        Principal::ApiKey { key, .. } => app.throttle.allow(
            &format!("i:{}", key.instance_id),
            app.settings.instance_rate,
        ),
        Principal::Anonymous => {
            let ip = req
                .peer
                .map(|p| p.to_string())
                .unwrap_or_else(|| "local".into());
            app.throttle
                .allow(&format!("ip:{ip}"), app.settings.anon_rate)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Throttled)
    }
}
