//! Response templates (spec-rest §7): the one place they render. [`render`] is used by
//! the response path of instance-scoped GETs ([`hook`]) and by `snippets/templates/{name}/
//! render/` alike: it builds the context the platform built (`instance`, `action`, `user`,
//! `response`, then the template's or the request's context over them), and renders it:
//! first right on the calling task with a small fuel budget (most pages need far less), and
//! when that runs out again from the start on a bounded set of blocking threads under a
//! deadline with the full budget ([`engine`] holds the engine's own limits).
//!
//! Templates are read through a short-lived cache of compiled templates, keyed by instance
//! and name and checked against the store's auth generation (every template write bumps
//! it), like the authentication lookups: at most [`crate::cache::TTL`] stale when another
//! node changed the template.

pub(crate) mod engine;
pub(crate) mod hook;
mod json;
pub(crate) mod memo;
mod python;
mod row;
#[cfg(test)]
mod row_tests;
pub(crate) mod values;

use crate::cache::TtlCache;
use crate::error::ApiResult;
use crate::state::AppState;
use engine::{Compiled, RenderError};
use minijinja::value::Value;
use rivia_store::templates::ResponseTemplate;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Wall-clock limit of one render, waiting for a thread included (the platform's 5 s).
pub(crate) const RENDER_DEADLINE: Duration = Duration::from_secs(5);

/// A template as the response path uses it: what the store holds, its parsed context and,
/// once first rendered, its compiled form.
pub(crate) struct Loaded {
    /// Content type of the output.
    pub(crate) content_type: String,
    /// The stored context, in its order.
    context: Vec<(String, Value)>,
    source: String,
    compiled: OnceLock<Result<Compiled, String>>,
}

impl Loaded {
    fn new(t: ResponseTemplate) -> Self {
        let context =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&t.context)
                .unwrap_or_default();
        Loaded {
            content_type: t.content_type,
            context: context_values(&context),
            source: t.content,
            compiled: OnceLock::new(),
        }
    }

    /// Compiles on first use (on the rendering thread: a 64 KB source takes a while), then
    /// renders. Blocking.
    fn render_blocking(&self, context: Value) -> Result<String, RenderError> {
        match self.compiled.get_or_init(|| engine::compile(&self.source)) {
            Ok(compiled) => compiled.render(context),
            Err(syntax) => Err(RenderError::Failed(syntax.clone())),
        }
    }
}

/// A JSON object's entries as template values, in order.
pub(crate) fn context_values(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, Value)> {
    map.iter()
        .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v))))
        .collect()
}

/// What the platform put into every template's context before the template's own.
pub(crate) struct Defaults {
    /// The instance's name.
    pub(crate) instance: String,
    /// The view's action: `list`, `retrieve`, `render`…
    pub(crate) action: &'static str,
    /// The username, when a user key authenticated a user.
    pub(crate) user: Option<String>,
    /// The JSON the view answered; absent when it was empty (`if data:`).
    pub(crate) response: Option<Value>,
}

/// The templates' shared parts: the cache, the rendering threads' permits and the memo of
/// rendered responses.
pub(crate) struct Templates {
    cache: TtlCache<(i64, String), Option<Arc<Loaded>>>,
    permits: Arc<Semaphore>,
    pub(crate) memo: memo::Memo,
}

impl Templates {
    /// Renders may run on up to `threads` blocking threads at once.
    pub(crate) fn new(threads: usize) -> Self {
        Templates {
            cache: TtlCache::default(),
            permits: Arc::new(Semaphore::new(threads.max(1))),
            memo: memo::Memo::default(),
        }
    }
}

/// The instance's template of that exact name (names are stored lowercase, and the
/// platform looked the requested name up as sent), through the cache.
pub(crate) async fn load(
    app: &AppState,
    instance_id: i64,
    name: &str,
) -> ApiResult<Option<Arc<Loaded>>> {
    let generation = app.store.auth_generation();
    let key = (instance_id, name.to_owned());
    if let Some(hit) = app.templates.cache.get(&key, generation) {
        return Ok(hit);
    }
    let loaded = app
        .store
        .template(instance_id, name)
        .await?
        .map(|t| Arc::new(Loaded::new(t)));
    app.templates.cache.put(key, loaded.clone(), generation);
    Ok(loaded)
}

/// Renders `template` with the platform's context: `defaults`, then `context` (or, when
/// `None` or empty, the template's own) over them.
pub(crate) async fn render(
    app: &AppState,
    template: Arc<Loaded>,
    defaults: Defaults,
    context: Option<Vec<(String, Value)>>,
) -> Result<String, RenderError> {
    let context = build_context(defaults, context, &template.context);
    // A template already compiled first runs here with a small budget (milliseconds at
    // most): most pages fit in it, and the hand-off to a rendering thread and back costs
    // a page's render again. One that needs more starts over on a rendering thread with
    // the full budget and the deadline.
    if let Some(Ok(compiled)) = template.compiled.get()
        && let Some(done) = compiled.render_quick(context.clone())
    {
        return done;
    }
    let permits = app.templates.permits.clone();
    let work = async move {
        let permit = permits
            .acquire_owned()
            .await
            .map_err(|_| RenderError::Failed("the renderer is shutting down".into()))?;
        // The permit is held until the render really ends, even past the deadline: a
        // timed-out render still holds its thread until its fuel runs out.
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            template.render_blocking(context)
        });
        task.await
            .map_err(|_| RenderError::Failed("the renderer stopped".into()))?
    };
    tokio::time::timeout(RENDER_DEADLINE, work)
        .await
        .unwrap_or(Err(RenderError::Timeout))
}

fn build_context(
    defaults: Defaults,
    context: Option<Vec<(String, Value)>>,
    stored: &[(String, Value)],
) -> Value {
    let mut entries: Vec<(String, Value)> = vec![
        ("instance".into(), Value::from(defaults.instance)),
        ("action".into(), Value::from(defaults.action)),
    ];
    if let Some(user) = defaults.user {
        entries.push(("user".into(), Value::from(user)));
    }
    if let Some(response) = defaults.response {
        entries.push(("response".into(), response));
    }
    // Python's `dict.update`: the context's keys win.
    match context.filter(|c| !c.is_empty()) {
        Some(own) => entries.extend(own),
        None => entries.extend(stored.iter().cloned()),
    }
    // Later entries win in the map built from them.
    Value::from_pairs(entries)
}
