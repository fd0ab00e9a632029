//! The preamble of every instance-scoped handler, as one call, in the request-processing
//! order of spec-core §1.7 (DRF `APIView.initial`):
//!
//! 1. resolve the URL's instance (unknown → 404 `Instance was not found.`, before auth);
//! 2. for nested routes, look up the parent (404 `<Model> was not found.`, before auth);
//! 3. authenticate (403 `No such API Key.`);
//! 4. the view's permission check (403);
//! 5. throttle (429), against the instance's request rate or, for channel polls, its poll rate.
//!
//! Then the request body is read (413, 408, or 400 for a malformed one). It is read last,
//! so that a request refused by steps 1–5 is answered without reading it (issue #13 §2), unless authentication needs it first: a key may come in the
//! body (`_api_key`, `_user_key`), and is looked for there only when the headers and the
//! query carry none (see [`crate::auth::authenticate`]).
//!
//! The handler then does step 6 itself: object lookup and body validation. Because the
//! steps live here, a handler cannot run them out of order, skip the throttle, or let a
//! later error win over an earlier one. What Syncano checks before throttling (a malformed
//! `{id}` on admin removal, a channel history's missing `room`) goes into the permission
//! step, so it keeps its place.
//!
//! The objects handlers use it through `api::objects::access::{class_call, class_op}`: the
//! class is the parent (404 `Class was not found.` before authentication) and the class
//! gate of spec-core §9.9 is the permission step.
//!
//! Handlers receive their request as a [`Call`] (the state, the request, the URL's
//! instance and the other path parameters), whose methods are [`Caller`]'s:
//!
//! ```text
//! async fn delete_key(call: Call<String>) -> ApiResult<Response> {
//!     let ctx = call.admin(AdminTable::ApiKeys, Op::Delete).await?;
//!     let Call { app, path: id, .. } = call;
//!     // … step 6: look the key up, act, answer.
//! }
//! ```
//!
//! [`Caller`] is the same preamble for code that holds the pieces separately:
//!
//! ```text
//! // An admin-only view:
//! let ctx = Caller::new(&app, &req, &instance).admin(AdminTable::ApiKeys, Op::Read).await?;
//! // A view with its own permission rule, which returns what it granted:
//! let (ctx, access) = Caller::new(&app, &req, &instance)
//!     .check(async |ctx| user_access(ctx, Op::Read))
//!     .await?;
//! // A nested route: the parent is looked up before authentication.
//! let (ctx, class, access) = Caller::new(&app, &req, &instance)
//!     .nested(
//!         async |inst| class_of(&app, inst, &name).await,
//!         async |ctx, class| access(&app, ctx, class, Op::Read).await,
//!     )
//!     .await?;
//! ```

use crate::auth::{Ctx, Who, caller_in, resolve_instance};
use crate::error::{ApiError, ApiResult};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use rivia_core::perms::{AdminTable, Op};
use rivia_store::instances::Instance;

/// Which per-instance rate a request counts against (spec-core §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    /// The instance's request rate (every request but channel polls).
    Request,
    /// The instance's poll rate (channel polls).
    Poll,
}

/// An instance route's request before its checks: the state, the request and the URL's
/// instance name. Build it with [`Caller::new`], then finish with [`Caller::admin`],
/// [`Caller::check`] or [`Caller::nested`], which run the steps of §1.7 in order.
#[derive(Clone, Copy)]
pub(crate) struct Caller<'a> {
    app: &'a AppState,
    req: &'a Req,
    instance: &'a str,
    rate: Rate,
}

impl<'a> Caller<'a> {
    /// A request to the instance named `instance` in the URL, throttled at the request rate.
    pub(crate) fn new(app: &'a AppState, req: &'a Req, instance: &'a str) -> Self {
        Caller {
            app,
            req,
            instance,
            rate: Rate::Request,
        }
    }

    /// Counts the request against the instance's poll rate instead (channel polls).
    pub(crate) fn polling(self) -> Self {
        Caller {
            rate: Rate::Poll,
            ..self
        }
    }

    /// A view open only to admins whose role allows `op` on `table`.
    pub(crate) async fn admin(self, table: AdminTable, op: Op) -> ApiResult<Ctx> {
        let (ctx, ()) = self.check(async |ctx| ctx.require_admin(table, op)).await?;
        Ok(ctx)
    }

    /// A view whose permission check is `permit`; returns the context and what `permit`
    /// granted (an access scope, a visibility, …).
    pub(crate) async fn check<T>(
        self,
        permit: impl AsyncFnOnce(&Ctx) -> ApiResult<T>,
    ) -> ApiResult<(Ctx, T)> {
        let (ctx, (), grant) = self
            .nested(async |_| Ok(()), async move |ctx, _| permit(ctx).await)
            .await?;
        Ok((ctx, grant))
    }

    /// A nested route: `parent` looks up the parent object in the resolved instance
    /// before authentication, then `permit` checks the caller against it.
    pub(crate) async fn nested<P, T>(
        self,
        parent: impl AsyncFnOnce(&Instance) -> ApiResult<P>,
        permit: impl AsyncFnOnce(&Ctx, &P) -> ApiResult<T>,
    ) -> ApiResult<(Ctx, P, T)> {
        let instance = resolve_instance(self.app, self.instance).await?;
        let parent = parent(&instance).await?;
        let ctx = caller_in(self.app, self.req, instance).await?;
        let grant = permit(&ctx, &parent).await?;
        self.throttle(&ctx)?;
        // Only now is the body read (authentication read it already if it had to).
        self.req.load_body().await?;
        Ok((ctx, parent, grant))
    }

    /// Counts the request against its rate; staff admins are never throttled.
    fn throttle(&self, ctx: &Ctx) -> ApiResult<()> {
        match self.rate {
            Rate::Request => ctx.throttle(self.app),
            Rate::Poll => {
                let rate = self.app.settings.poll_rate;
                let staff = ctx.admin().is_some_and(|a| a.is_staff);
                if rate == 0
                    || staff
                    || self
                        .app
                        .throttle
                        .allow(&format!("poll:{}", ctx.instance.id), rate)
                {
                    Ok(())
                } else {
                    Err(ApiError::Throttled)
                }
            }
        }
    }
}

/// An instance route's request as a handler takes it: the state, the request, the
/// URL's `{instance}`, and the path parameters after it (`()`, `String`, or a pair).
pub(crate) struct Call<P> {
    /// The application state.
    pub(crate) app: AppState,
    /// The request.
    pub(crate) req: Req,
    /// The `{instance}` of the URL, as sent.
    pub(crate) instance: String,
    /// The path parameters after `{instance}`.
    pub(crate) path: P,
}

/// The path parameters of a route after `{instance}`, in URL order.
pub(crate) trait PathRest: Sized {
    /// Takes them from the values after `{instance}`.
    fn take(values: &mut std::vec::IntoIter<String>) -> Self;
}

impl PathRest for () {
    fn take(_: &mut std::vec::IntoIter<String>) -> Self {}
}

impl PathRest for String {
    fn take(values: &mut std::vec::IntoIter<String>) -> Self {
        // The router only matches with every parameter present.
        values.next().unwrap_or_default()
    }
}

impl PathRest for (String, String) {
    fn take(values: &mut std::vec::IntoIter<String>) -> Self {
        let first = String::take(values);
        (first, String::take(values))
    }
}

impl<P: PathRest + Send> FromRequestParts<AppState> for Call<P> {
    /// Axum's answer to a path that cannot be decoded, as for a `Path` extractor.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let Path(values) = Path::<Vec<String>>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let mut values = values.into_iter();
        let instance = String::take(&mut values);
        let path = P::take(&mut values);
        // The body stays unread until the preamble has passed (or authentication needs
        // it): a request that is refused is answered without reading it.
        let req = Req::unread(parts).map_err(IntoResponse::into_response)?;
        Ok(Call {
            app: app.clone(),
            req,
            instance,
            path,
        })
    }
}

impl<P> Call<P> {
    /// The preamble builder for this request.
    pub(crate) fn caller(&self) -> Caller<'_> {
        Caller::new(&self.app, &self.req, &self.instance)
    }

    /// [`Caller::admin`] for this request.
    pub(crate) async fn admin(&self, table: AdminTable, op: Op) -> ApiResult<Ctx> {
        self.caller().admin(table, op).await
    }

    /// [`Caller::check`] for this request.
    pub(crate) async fn check<T>(
        &self,
        permit: impl AsyncFnOnce(&Ctx) -> ApiResult<T>,
    ) -> ApiResult<(Ctx, T)> {
        self.caller().check(permit).await
    }

    /// [`Caller::nested`] for this request.
    pub(crate) async fn nested<Q, T>(
        &self,
        parent: impl AsyncFnOnce(&Instance) -> ApiResult<Q>,
        permit: impl AsyncFnOnce(&Ctx, &Q) -> ApiResult<T>,
    ) -> ApiResult<(Ctx, Q, T)> {
        self.caller().nested(parent, permit).await
    }
}

impl Call<String> {
    /// [`Call::admin`], then the `{id}` item through `load` (the object lookup of step 6).
    pub(crate) async fn admin_item<T>(
        &self,
        (table, op): (AdminTable, Op),
        load: impl AsyncFnOnce(&AppState, &Ctx, &str) -> ApiResult<T>,
    ) -> ApiResult<(Ctx, T)> {
        let ctx = self.admin(table, op).await?;
        let item = load(&self.app, &ctx, &self.path).await?;
        Ok((ctx, item))
    }
}

/// The operation an HTTP method asks for, for the permission check that precedes the
/// method dispatch (an unsafe method the route lacks counts as a write).
pub(crate) fn method_op(method: &axum::http::Method) -> Op {
    use axum::http::Method;
    match *method {
        Method::GET | Method::HEAD => Op::Read,
        Method::POST => Op::Create,
        Method::DELETE => Op::Delete,
        _ => Op::Update,
    }
}

/// The answer of an instance route to a method it does not serve. DRF authenticates,
/// checks the view's permissions and throttles before it dispatches on the method
/// (spec-core §1.7), so a caller without the right gets 403, and only an allowed caller
/// learns that the method is not supported (405). This is the default permission: any
/// credential valid in the instance (an API key, an admin with a role in it).
pub(crate) async fn method_guard(call: Call<()>) -> ApiResult<Response> {
    call.check(async |ctx| match &ctx.who {
        Who::Anonymous => Err(ApiError::forbidden()),
        Who::Admin { admin, role } if !admin.is_staff && role.is_none() => {
            Err(ApiError::forbidden())
        }
        _ => Ok(()),
    })
    .await?;
    Err(ApiError::method_not_allowed(call.req.method.as_str()))
}

/// [`method_guard`] for an admin view over `table` that API keys may at most read (API
/// keys, admins, invitations, classes): an API key is refused any other method, an admin
/// whose role does not allow the method's operation too.
pub(crate) async fn admin_method_guard(table: AdminTable, call: Call<()>) -> ApiResult<Response> {
    let op = method_op(&call.req.method);
    call.check(async |ctx| match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(table, op),
        Who::ApiKey { .. } if op == Op::Read => Ok(()),
        _ => Err(ApiError::forbidden()),
    })
    .await?;
    Err(ApiError::method_not_allowed(call.req.method.as_str()))
}
