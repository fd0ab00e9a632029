//! Users as a data endpoint's `expand` shows them (rest §5): the users a page references,
//! read in one round trip and only as far as the caller may list users (spec-core §7.3).

use super::render::{UserView, profile_class, user_view};
use super::{Access, user_access};
use crate::auth::Ctx;
use crate::error::ApiResult;
use crate::state::AppState;
use rivia_core::perms::Op;
use rivia_core::schema::Schema;
use rivia_store::classes::Class;
use rivia_store::objects::ObjectRow;
use rivia_store::users::{Group, User};
use std::collections::HashMap;
use std::sync::Arc;

/// The referenced users the caller may see, by id.
pub(crate) struct ExpandedUsers {
    class: Class,
    schema: Arc<Schema>,
    rows: HashMap<i64, (User, Option<ObjectRow>, Vec<Group>)>,
}

impl ExpandedUsers {
    /// UserJSON of user `id`, if it was read.
    pub(crate) fn view<'a>(
        &'a self,
        id: i64,
        base: &'a str,
        origin: &'a str,
    ) -> Option<UserView<'a>> {
        let (user, profile, groups) = self.rows.get(&id)?;
        Some(user_view(
            (base, origin),
            &self.class,
            &self.schema,
            user,
            profile.as_ref(),
            groups,
        ))
    }
}

/// The users among `ids` as the users list would show them to the caller: 403 when it may
/// not list users; a user key sees only its own user.
pub(crate) async fn users_for_expand(
    app: &AppState,
    ctx: &Ctx,
    ids: &[i64],
) -> ApiResult<ExpandedUsers> {
    let only = match user_access(ctx, Op::Read)? {
        Access::All => None,
        Access::OnlySelf(id) => Some(id),
    };
    let class = profile_class(app, ctx).await?;
    let schema = crate::api::objects::class_schema(app, &class);
    let rows = app
        .store
        .users_full_by_ids(ctx.instance.id, class.id, ids, only)
        .await?
        .into_iter()
        .map(|full| (full.0.id, full))
        .collect();
    Ok(ExpandedUsers {
        class,
        schema,
        rows,
    })
}
