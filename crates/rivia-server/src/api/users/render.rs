//! UserJSON: a user with its profile object and groups, rendered straight from the rows.

use crate::api::groups::GroupView;
use crate::api::link::{Links, url};
use crate::api::objects::ObjectView;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use rivia_core::schema::Schema;
use rivia_store::classes::Class;
use rivia_store::objects::ObjectRow;
use rivia_store::users::{Group, User};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use std::collections::HashMap;

/// The `user_profile` class of the instance.
pub(crate) async fn profile_class(app: &AppState, ctx: &Ctx) -> ApiResult<Class> {
    let generation = app.store.auth_generation();
    if let Some(c) = app.cache.profile_classes.get(&ctx.instance.id, generation) {
        return Ok(c);
    }
    let class = app
        .store
        .class_by_name(ctx.instance.id, "user_profile")
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "instance {} has no user_profile class",
                ctx.instance.id
            ))
        })?;
    app.cache
        .profile_classes
        .put(ctx.instance.id, class.clone(), generation);
    Ok(class)
}

/// UserJSON (UserFullSerializer), serialised straight from the rows. `username` is
/// separate because create and update responses echo it as sent (QUIRK), while reads
/// return the stored lowercase form.
pub(crate) struct UserView<'a> {
    /// The instance prefix `/v1.1/instances/<name>`.
    pub(crate) base: &'a str,
    /// The user.
    pub(crate) user: &'a User,
    /// The username to show.
    pub(crate) username: &'a str,
    /// The profile object (null if missing).
    pub(crate) profile: Option<ObjectView<'a>>,
    /// The user's groups.
    pub(crate) groups: &'a [Group],
}

impl Serialize for UserView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, u) = (self.base, self.user);
        let groups: Vec<GroupView> = self
            .groups
            .iter()
            .map(|group| GroupView { base, group })
            .collect();
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("id", &u.id)?;
        m.serialize_entry("username", self.username)?;
        m.serialize_entry("profile", &self.profile)?;
        m.serialize_entry("groups", &groups)?;
        m.serialize_entry("user_key", &u.user_key)?;
        m.serialize_entry(
            "links",
            &Links([
                ("self", url!(base, "/users/", u.id, "/")),
                ("groups", url!(base, "/users/", u.id, "/groups/")),
                ("reset-key", url!(base, "/users/", u.id, "/reset_key/")),
                (
                    "profile",
                    url!(base, "/classes/user_profile/objects/", u.profile_id, "/"),
                ),
            ]),
        )?;
        m.end()
    }
}

/// Renders users that come with their profiles and groups.
fn render_full(
    ctx: &Ctx,
    origin: &str,
    class: &Class,
    rows: Vec<(User, Option<ObjectRow>, Vec<Group>)>,
) -> Vec<(i64, Value)> {
    let base = ctx.base();
    let schema = Schema::from_stored(&class.schema);
    rows.iter()
        .map(|(user, profile, groups)| {
            let view = user_view(
                (&base, origin),
                class,
                &schema,
                user,
                profile.as_ref(),
                groups,
            );
            (user.id, serde_json::to_value(view).unwrap_or(Value::Null))
        })
        .collect()
}

/// The [`UserView`] of a user row with its profile row and groups.
pub(super) fn user_view<'a>(
    (base, origin): (&'a str, &'a str),
    class: &'a Class,
    schema: &'a Schema,
    user: &'a User,
    profile: Option<&'a ObjectRow>,
    groups: &'a [Group],
) -> UserView<'a> {
    UserView {
        base,
        user,
        username: &user.username,
        profile: profile.map(|row| ObjectView {
            base,
            origin,
            class_name: &class.name,
            schema,
            row,
        }),
        groups,
    }
}

/// Renders several users with one query for their profiles and one for their groups.
pub(crate) async fn render_users(
    app: &AppState,
    ctx: &Ctx,
    users: Vec<User>,
) -> ApiResult<Vec<Value>> {
    let class = profile_class(app, ctx).await?;
    let profile_ids: Vec<i64> = users.iter().map(|u| u.profile_id).collect();
    let user_ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let (profiles, groups) = tokio::try_join!(
        app.store.profiles(class.id, &profile_ids),
        app.store.groups_of_users(ctx.instance.id, &user_ids)
    )?;
    let mut profiles: HashMap<i64, ObjectRow> = profiles.into_iter().map(|p| (p.id, p)).collect();
    let mut groups_by_user: HashMap<i64, Vec<Group>> = HashMap::new();
    for (uid, g) in groups {
        groups_by_user.entry(uid).or_default().push(g);
    }
    let full = users
        .into_iter()
        .map(|u| {
            let p = profiles.remove(&u.profile_id);
            let g = groups_by_user.remove(&u.id).unwrap_or_default();
            (u, p, g)
        })
        .collect();
    Ok(render_full(ctx, &ctx.origin(app), &class, full)
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

pub(super) async fn render_one(
    app: &AppState,
    ctx: &Ctx,
    user: User,
    username: Option<&str>,
) -> ApiResult<Value> {
    let echoed = username.map(str::to_string);
    let mut rendered = render_users(app, ctx, vec![user]).await?;
    let mut v = rendered.pop().ok_or_else(ApiError::not_found)?;
    if let Some(name) = echoed {
        v["username"] = Value::String(name);
    }
    Ok(v)
}
