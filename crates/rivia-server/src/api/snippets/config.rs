//! The instance config, `snippets/config/` (rest §8): a JSON object merged under each
//! script's config when it runs. Admins read it with any role and update it as owner or
//! full admin (like the instance itself). Of the API keys, only `ignore_acl` keys read it:
//! Rivia differs from Syncano, where any key could (README, Security). Scripts keep
//! secrets there (third-party tokens, even API keys, spec-scripts §10), and the keys that
//! ship inside apps (user, anonymous-read) must not reveal them.

use crate::api::Api;
use crate::api::stored_json;
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::Fields;
use crate::json::ok;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::perms::{AdminTable, Op};
use serde_json::{Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    const PATH: &str = "/v1.1/instances/{instance}/snippets/config/";
    api.get(PATH, "Get the instance config", get_config)
        .put(PATH, "Replace the instance config", update_config)
        .patch(PATH, "Update the instance config", update_config)
}

fn config_access(ctx: &Ctx, op: Op) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::FullWrites, op),
        Who::ApiKey { key, .. } if op == Op::Read && key.flags.ignore_acl => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

async fn get_config(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| config_access(ctx, Op::Read)).await?;
    let config = call.app.store.instance_config(ctx.instance.id).await?;
    Ok(ok(json!({"config": stored_json(&config)})))
}

async fn update_config(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| config_access(ctx, Op::Update))
        .await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let config = match body.get("config") {
        // PATCH leaves an absent field alone; PUT resets it to its default.
        None if req.is_partial() => {
            let current = app.store.instance_config(ctx.instance.id).await?;
            return Ok(ok(json!({"config": stored_json(&current)})));
        }
        None => "{}".to_owned(),
        Some(Value::Null) => return Err(ApiError::field("config", msg::NULL)),
        Some(value) => rivia_core::config::validate_config(value)
            .map(|object| Value::Object(object).to_string())
            .map_err(|e| ApiError::field("config", e))?,
    };
    app.store
        .set_instance_config(ctx.instance.id, &config)
        .await?;
    Ok(ok(json!({"config": stored_json(&config)})))
}

/// A `config` field of a script body: JSON text of the validated object; absent → `None`
/// (the caller keeps the current value on PATCH and uses `{}` otherwise).
pub(crate) fn read_config(f: &mut Fields) -> Option<String> {
    match f.raw("config")? {
        Value::Null => {
            f.report("config", msg::NULL);
            None
        }
        value => match rivia_core::config::validate_config(value) {
            Ok(object) => Some(Value::Object(object).to_string()),
            Err(e) => {
                f.report("config", e);
                None
            }
        },
    }
}
