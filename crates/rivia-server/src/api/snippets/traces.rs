//! A script's traces, `snippets/scripts/{id}/traces/` (spec-scripts §6): the shared
//! implementation in [`crate::api::traces`] for [`Owner::Script`].

use crate::api::Api;
use crate::api::traces::{self, Owner};
use crate::caller::Call;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/snippets/scripts/{id}/traces/",
        "List a script's traces",
        async |call: Call<String>| traces::list(call, Owner::Script).await,
    )
    .get(
        "/v1.1/instances/{instance}/snippets/scripts/{id}/traces/{trace_id}/",
        "Get a script trace",
        async |call: Call<(String, String)>| traces::get(call, Owner::Script).await,
    )
}
