//! Schedules, `schedules/` (rest §2, spec-scripts §9, §13): CRUD and traces. Admins only;
//! the write role writes, the read role reads. Every write sets `scheduled_next` anew; the
//! scheduler ([`crate::workers`]) dispatches due schedules. Crontabs are read in the
//! schedule's `timezone` (the platform ignored it).

use crate::api::traces::{self, Owner};
use crate::api::triggers::read_script_id;
use crate::api::{Api, list_response, path_id, ts};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::{FieldErrors, msg};
use rivia_core::perms::{AdminTable, Op};
use rivia_core::schedule::{Cadence, parse_crontab, parse_timezone};
use rivia_store::schedules::{CreateScheduleError, Schedule, ScheduleValues};
use serde_json::{Value, json};

/// Longest `interval_sec`.
const MAX_INTERVAL: i64 = 86400;
/// Longest crontab text (the platform's column).
const MAX_CRONTAB_CHARS: usize = 40;
/// Longest time zone name (the platform's column: the longest IANA name).
const MAX_TIMEZONE_CHARS: usize = 32;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    const LIST: &str = "/v1.1/instances/{instance}/schedules/";
    const ITEM: &str = "/v1.1/instances/{instance}/schedules/{id}/";
    api.get(LIST, "List schedules", list_schedules)
        .post(LIST, "Create a schedule", create_schedule)
        .get(ITEM, "Get a schedule", get_schedule)
        .put(ITEM, "Replace a schedule", update_schedule)
        .patch(ITEM, "Update a schedule", update_schedule)
        .delete(ITEM, "Delete a schedule", delete_schedule)
        .get(
            "/v1.1/instances/{instance}/schedules/{id}/traces/",
            "List a schedule's traces",
            async |call: Call<String>| traces::list(call, Owner::Schedule).await,
        )
        .get(
            "/v1.1/instances/{instance}/schedules/{id}/traces/{trace_id}/",
            "Get a schedule trace",
            async |call: Call<(String, String)>| traces::get(call, Owner::Schedule).await,
        )
}

/// ScheduleJSON (rest §2).
fn schedule_json(base: &str, s: &Schedule) -> Value {
    let url = format!("{base}/schedules/{}/", s.id);
    json!({
        "id": s.id,
        "label": s.label,
        "description": s.description,
        "created_at": ts(s.created_at),
        "interval_sec": s.interval_sec,
        "crontab": s.crontab,
        "scheduled_next": ts(s.scheduled_next),
        "script": s.script_id,
        "timezone": s.timezone,
        "links": {
            "self": url,
            "traces": format!("{url}traces/"),
            "script": format!("{base}/snippets/scripts/{}/", s.script_id),
        },
    })
}

fn access(ctx: &Ctx, op: Op) -> ApiResult<()> {
    ctx.require_admin(AdminTable::Data, op)
}

/// The nullable `interval_sec` (DRF `IntegerField` with bounds): `Some(None)` for null.
fn read_interval(f: &mut Fields<'_>, min: i64) -> Option<Option<i64>> {
    let v = f.raw("interval_sec")?;
    let n = match v {
        Value::Null => return Some(None),
        Value::String(s) if s.trim().is_empty() => return Some(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        None => {
            f.report("interval_sec", msg::INVALID_INT);
            None
        }
        Some(n) if n < min => {
            f.report(
                "interval_sec",
                format!("Ensure this value is greater than or equal to {min}."),
            );
            None
        }
        Some(n) if n > MAX_INTERVAL => {
            f.report(
                "interval_sec",
                format!("Ensure this value is less than or equal to {MAX_INTERVAL}."),
            );
            None
        }
        Some(n) => Some(Some(n)),
    }
}

/// The nullable, blank-allowing `crontab`, checked (`Some(None)` for null or blank).
fn read_crontab(f: &mut Fields<'_>) -> Option<Option<String>> {
    let opts = Char {
        max: MAX_CRONTAB_CHARS,
        allow_blank: true,
        allow_null: true,
        trim: true,
    };
    match f.char("crontab", opts, false)? {
        None => Some(None),
        Some(text) if text.is_empty() => Some(None),
        Some(text) => match parse_crontab(&text) {
            Ok(_) => Some(Some(text)),
            Err(message) => {
                f.report("crontab", message);
                None
            }
        },
    }
}

fn read_timezone(f: &mut Fields<'_>) -> Option<String> {
    let name = f.string("timezone", Char::required(MAX_TIMEZONE_CHARS), false)?;
    if parse_timezone(&name).is_some() {
        Some(name)
    } else {
        f.report("timezone", format!("'{name}' is not a valid time zone."));
        None
    }
}

/// A nullable field of a write: what it sent, else (PATCH) what it was.
fn keep_partial<T>(partial: bool, given: Option<Option<T>>, old: Option<T>) -> Option<T> {
    match given {
        Some(v) => v,
        None if partial => old,
        None => None,
    }
}

async fn read_schedule(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: Option<&Schedule>,
) -> ApiResult<ScheduleValues> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let label = f.string("label", Char::text(64), false);
    let description = f.string("description", Char::text(256), false);
    let interval = read_interval(&mut f, app.settings.jobs.schedule_min_interval);
    let crontab = read_crontab(&mut f);
    let script = read_script_id(app, ctx, &mut f, true).await?;
    let timezone = read_timezone(&mut f);
    f.finish()?;
    // A PATCH keeps what it does not send (the platform validated the merged state).
    let interval_sec = keep_partial(partial, interval, current.and_then(|s| s.interval_sec));
    let crontab = keep_partial(partial, crontab, current.and_then(|s| s.crontab.clone()));
    let non_field = match (&interval_sec, &crontab) {
        (Some(_), Some(_)) => Some("You can't specify both crontab and interval_sec."),
        (None, None) => Some("Either crontab or interval_sec has to be specified."),
        _ => None,
    };
    if let Some(message) = non_field {
        return Err(ApiError::fields(FieldErrors::single(
            "non_field_errors",
            message,
        )));
    }
    let keep = |new: Option<String>, old: Option<&String>, default: &str| match (new, old) {
        (Some(v), _) => v,
        (None, Some(o)) if partial => o.clone(),
        _ => default.to_owned(),
    };
    let timezone = keep(timezone, current.map(|s| &s.timezone), "UTC");
    let cadence = Cadence::of(interval_sec, crontab.as_deref(), &timezone)
        .ok_or_else(|| ApiError::Internal("a checked schedule has no cadence".into()))?;
    let missing = || ApiError::Internal("a required schedule field passed validation unset".into());
    Ok(ScheduleValues {
        label: keep(label, current.map(|s| &s.label), ""),
        description: keep(description, current.map(|s| &s.description), ""),
        script_id: script
            .or(current.map(|s| s.script_id))
            .ok_or_else(missing)?,
        interval_sec,
        crontab,
        timezone,
        scheduled_next: cadence.first_after(app.settings.jobs.clock.now()),
    })
}

async fn list_schedules(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Read)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let schedules = app
        .store
        .list_schedules(ctx.instance.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, schedules, |s| {
        (s.id, schedule_json(&base, &s))
    }))
}

async fn create_schedule(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Create)).await?;
    let Call { app, req, .. } = call;
    let values = read_schedule(&app, &ctx, &req, None).await?;
    let limit = app.settings.jobs.schedule_limit;
    match app
        .store
        .create_schedule(ctx.instance.id, limit, &values)
        .await
    {
        Ok(schedule) => Ok(created(schedule_json(&ctx.base(), &schedule))),
        Err(CreateScheduleError::LimitReached(n)) => Err(ApiError::bad_request(format!(
            "Schedule count exceeded ({n})."
        ))),
        Err(CreateScheduleError::Store(e)) => Err(e.into()),
    }
}

/// The `{id}` schedule of the instance, or 404 `Not found.`.
async fn load(app: &AppState, ctx: &Ctx, raw: &str) -> ApiResult<Schedule> {
    app.store
        .schedule(ctx.instance.id, path_id(raw)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_schedule(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Read)).await?;
    let schedule = load(&call.app, &ctx, &call.path).await?;
    Ok(ok(schedule_json(&ctx.base(), &schedule)))
}

async fn update_schedule(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Update)).await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let schedule = load(&app, &ctx, &id).await?;
    let values = read_schedule(&app, &ctx, &req, Some(&schedule)).await?;
    let saved = app
        .store
        .update_schedule(ctx.instance.id, schedule.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(schedule_json(&ctx.base(), &saved)))
}

async fn delete_schedule(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Delete)).await?;
    let schedule = load(&call.app, &ctx, &call.path).await?;
    call.app
        .store
        .delete_schedule(ctx.instance.id, schedule.id)
        .await?;
    Ok(no_content())
}
