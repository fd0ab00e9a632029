//! The channel fields of a create or update body. A full update (PUT) resets
//! `custom_publish` and both permissions to their defaults (spec-core §1.10), keeps the
//! description and group when absent, and ignores `name` and `type`.

use crate::auth::Ctx;
use crate::error::ApiResult;
use crate::fields::{Char, Fields};
use crate::req::Req;
use crate::state::AppState;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::ChannelPerm;
use rivia_store::channels::{Channel, ChannelValues, TYPE_DEFAULT, TYPE_SEPARATE_ROOMS};
use serde_json::Value;

/// A DRF `DisplayedChoiceField`: the display name or the stored integer (as number or
/// text) is accepted.
fn level_field(
    f: &mut Fields,
    name: &str,
    parse: impl Fn(&str) -> Option<i64>,
    max: i64,
) -> Option<i64> {
    let raw = f.raw(name)?;
    let text = match raw {
        Value::Null => {
            f.errors.add(name, msg::NULL);
            return None;
        }
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    };
    let value = parse(&text).or_else(|| {
        text.parse::<i64>()
            .ok()
            .filter(|v| (0..=max).contains(v) && !text.starts_with('+'))
    });
    if value.is_none() {
        f.errors.add(name, msg::invalid_choice(&text));
    }
    value
}

fn perm_field(f: &mut Fields, name: &str) -> Option<i64> {
    level_field(
        f,
        name,
        |s| ChannelPerm::parse(s).map(ChannelPerm::as_i64),
        2,
    )
}

fn type_field(f: &mut Fields) -> Option<i64> {
    level_field(
        f,
        "type",
        |s| match s {
            "default" => Some(TYPE_DEFAULT),
            "separate_rooms" => Some(TYPE_SEPARATE_ROOMS),
            _ => None,
        },
        1,
    )
}

/// A create request.
pub(super) struct NewChannel {
    pub(super) name: String,
    pub(super) kind: i64,
    pub(super) values: ChannelValues,
}

/// The fields create and update share, as sent (`None`: absent or invalid).
struct Common {
    description: Option<String>,
    group: Option<Option<i64>>,
    group_permissions: Option<i64>,
    other_permissions: Option<i64>,
    custom_publish: Option<bool>,
}

impl Common {
    fn read(f: &mut Fields) -> Common {
        Common {
            description: f.string("description", Char::text(256), false),
            group: f.pk("group", true, false),
            group_permissions: perm_field(f, "group_permissions"),
            other_permissions: perm_field(f, "other_permissions"),
            custom_publish: f.boolean("custom_publish"),
        }
    }

    /// Records an error when the named group does not exist.
    async fn check_group(&self, app: &AppState, ctx: &Ctx, f: &mut Fields<'_>) -> ApiResult<()> {
        if let Some(Some(g)) = self.group
            && app.store.group(ctx.instance.id, g).await?.is_none()
        {
            f.errors.add("group", msg::invalid_pk(&g.to_string()));
        }
        Ok(())
    }

    /// The values to store: PATCH keeps what is absent; PUT and create fall back to the
    /// serializer defaults.
    fn values(self, current: Option<&Channel>, partial: bool) -> ChannelValues {
        let keep = current.filter(|_| partial);
        ChannelValues {
            description: self
                .description
                .or_else(|| current.map(|c| c.description.clone()))
                .unwrap_or_default(),
            group_id: match self.group {
                Some(g) => g,
                None => current.and_then(|c| c.group_id),
            },
            group_permissions: self
                .group_permissions
                .or_else(|| keep.map(|c| c.group_permissions))
                .unwrap_or(0),
            other_permissions: self
                .other_permissions
                .or_else(|| keep.map(|c| c.other_permissions))
                .unwrap_or(0),
            custom_publish: self
                .custom_publish
                .or_else(|| keep.map(|c| c.custom_publish))
                .unwrap_or(false),
        }
    }
}

/// Reads a create body: a unique, valid `name`, the `type`, and the shared fields.
pub(super) async fn read_new_channel(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
) -> ApiResult<NewChannel> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let name = f
        .required_string("name", Char::required(1000))
        .and_then(|raw| validate_slug(&raw, SlugFamily::Generic).map_err(|e| f.reject("name", e)));
    let kind = type_field(&mut f).unwrap_or(TYPE_DEFAULT);
    let common = Common::read(&mut f);
    common.check_group(app, ctx, &mut f).await?;
    if let Ok(n) = &name
        && app
            .store
            .channel_by_name(ctx.instance.id, n)
            .await?
            .is_some()
    {
        f.errors.add("name", msg::UNIQUE);
    }
    let name = f.finish_with(name)?;
    Ok(NewChannel {
        name,
        kind,
        values: common.values(None, partial),
    })
}

/// Reads an update body of `current`.
pub(super) async fn read_channel_update(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: &Channel,
) -> ApiResult<ChannelValues> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let common = Common::read(&mut f);
    common.check_group(app, ctx, &mut f).await?;
    f.finish()?;
    Ok(common.values(Some(current), partial))
}
