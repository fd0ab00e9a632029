//! The preamble of every instance-scoped handler, as one call, in the request-processing
//! order of spec-core §1.7 (DRF `APIView.initial`):
//!
//! 1. resolve the URL's instance (unknown → 404 `Instance was not found.`, before auth);
//! 2. for nested routes, look up the parent (404 `<Model> was not found.`, before auth);
//! 3. authenticate (403 `No such API Key.`);
//! 4. the view's permission check (403);
//! 5. throttle (429), against the instance's request rate or, for channel polls, its poll rate.
//!
//! The handler then does step 6 itself: object lookup and body validation. Because the
//! steps live here, a handler cannot run them out of order, skip the throttle, or let a
//! later error win over an earlier one.
//!
//! ```ignore
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

use crate::auth::{Ctx, caller_in, resolve_instance};
use crate::error::{ApiError, ApiResult};
use crate::req::Req;
use crate::state::AppState;
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
        Ok((ctx, parent, grant))
    }

    /// Counts the request against its rate; staff admins are never throttled.
    fn throttle(&self, ctx: &Ctx) -> ApiResult<()> {
        match self.rate {
            Rate::Request => ctx.throttle(self.app),
            Rate::Poll => {
                let staff = ctx.admin().is_some_and(|a| a.is_staff);
                let key = format!("poll:{}", ctx.instance.id);
                if staff || self.app.throttle.allow(&key, self.app.settings.poll_rate) {
                    Ok(())
                } else {
                    Err(ApiError::Throttled)
                }
            }
        }
    }
}
