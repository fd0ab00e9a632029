//! Script endpoint traces, `endpoints/scripts/{name}/traces/` (spec-scripts §6): the shared
//! implementation in [`crate::api::traces`] for [`Owner::ScriptEndpoint`], whose traces
//! also show `meta` (the request) and `args` (`{"POST", "GET"}`). QUIRK kept: the detail
//! ignores which endpoint the trace belongs to.

use crate::api::Api;
use crate::api::traces::{self, Owner};
use crate::caller::Call;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/endpoints/scripts/{name}/traces/",
        "List a script endpoint's traces",
        async |call: Call<String>| traces::list(call, Owner::ScriptEndpoint).await,
    )
    .get(
        "/v1.1/instances/{instance}/endpoints/scripts/{name}/traces/{trace_id}/",
        "Get a script endpoint trace",
        async |call: Call<(String, String)>| traces::get(call, Owner::ScriptEndpoint).await,
    )
}
