//! Prometheus metrics (`GET /metrics` on the `--metrics-bind` listener), through
//! `prometheus-client`, the Prometheus project's Rust client: a registry owned by the app
//! (no process-wide recorder, so each test's app counts only its own requests).
//!
//! Recording is atomic counters and per-series histograms, looked up by labels that are
//! all `&'static str` or integers: a request's `route` is the template it was routed by
//! (`/v1.1/instances/{instance}/users/`), never the raw path, so the label set stays as
//! small as the route table. Values that already live elsewhere (connection pools, the
//! script queue) are read when scraped, by [`Scraped`], and cost nothing between scrapes.

use crate::runner::Runner;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use rivia_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Labels of `rivia_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

/// Labels of `rivia_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
}

/// One label named `name`, for the families below.
macro_rules! one_label {
    ($ty:ident, $name:ident) => {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub(crate) struct $ty {
            $name: &'static str,
        }
        impl $ty {
            pub(crate) fn new($name: &'static str) -> Self {
                $ty { $name }
            }
        }
    };
}
one_label!(TransportLabel, transport);
one_label!(ScopeLabel, scope);
one_label!(StatusLabel, status);
one_label!(PoolLabel, pool);

/// Throttled requests by scope (`instance`, `admin`, `anonymous`, `poll`); kept by the
/// throttle, registered here.
pub(crate) type ThrottledCounter = Family<ScopeLabel, Counter>;
/// Finished script runs by trace status; kept by the runner, registered here.
pub(crate) type ScriptRunCounter = Family<StatusLabel, Counter>;

/// Request latency buckets, in seconds: 0.5 ms to 10 s (a held poll lands in `+Inf`).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The route label of a request no route matched (404s, `OPTIONS` answered by the stack,
/// a refused `Accept`).
pub const UNMATCHED: &str = "unmatched";

/// The route template a response came from, set by [`tag_route`]: the metrics' `route`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteTemplate(pub(crate) &'static str);

/// A layer for the route registered at `path`: its responses carry [`RouteTemplate`].
pub(crate) fn tag_route(
    path: &'static str,
) -> tower::util::MapResponseLayer<impl FnOnce(Response) -> Response + Clone + Send + Sync + 'static>
{
    tower::util::MapResponseLayer::new(move |mut resp: Response| {
        resp.extensions_mut().insert(RouteTemplate(path));
        resp
    })
}

/// The `method` label: the standard methods by name, anything else as `other` (a method
/// is any token a client sends; the label set must stay bounded).
pub(crate) fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::HEAD, "HEAD"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    polls_open: Gauge,
    websockets_open: Gauge,
    deliveries: Family<TransportLabel, Counter>,
}

impl Metrics {
    /// Registers every metric: the ones recorded here, the throttle's and the runner's
    /// counters, and what is read from the store and the runner when scraped.
    pub(crate) fn new(
        store: &Store,
        runner: &Arc<Runner>,
        throttled: &ThrottledCounter,
    ) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "rivia_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let durations: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "rivia_http_request_duration",
            "Time from a request's arrival to its response, by method and route template",
            Unit::Seconds,
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "rivia_http_requests_in_flight",
            "Requests being answered now (held polls included)",
            in_flight.clone(),
        );
        let polls_open = Gauge::default();
        registry.register(
            "rivia_channel_polls_open",
            "Long polls held open now, waiting for a change",
            polls_open.clone(),
        );
        let websockets_open = Gauge::default();
        registry.register(
            "rivia_channel_websockets_open",
            "Channel WebSocket streams open now",
            websockets_open.clone(),
        );
        let deliveries = Family::<TransportLabel, Counter>::default();
        registry.register(
            "rivia_channel_deliveries",
            "Channel changes sent to subscribers, by transport (poll, websocket)",
            deliveries.clone(),
        );
        registry.register(
            "rivia_throttled_requests",
            "Requests refused with 429, by limit (instance, admin, anonymous, poll)",
            throttled.clone(),
        );
        registry.register(
            "rivia_script_runs",
            "Script runs finished, by trace status",
            runner.run_counter().clone(),
        );
        registry.register(
            "rivia_build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(Scraped {
            store: store.clone(),
            runner: runner.clone(),
        }));
        Metrics {
            registry,
            requests,
            durations,
            in_flight,
            polls_open,
            websockets_open,
            deliveries,
        }
    }

    /// Counts an answered request.
    pub(crate) fn record(
        &self,
        method: &'static str,
        route: &'static str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let status = status.as_u16();
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels { method, route })
            .observe(elapsed.as_secs_f64());
    }

    /// Marks a request in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> Open {
        Open::enter(&self.in_flight)
    }

    /// Marks a long poll held until the guard drops.
    pub(crate) fn poll_held(&self) -> Open {
        Open::enter(&self.polls_open)
    }

    /// Marks a WebSocket stream open until the guard drops.
    pub(crate) fn websocket_open(&self) -> Open {
        Open::enter(&self.websockets_open)
    }

    /// Counts a change sent to a subscriber over `transport` (`poll`, `websocket`).
    pub(crate) fn delivered(&self, transport: &'static str) {
        self.deliveries
            .get_or_create(&TransportLabel::new(transport))
            .inc();
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`]'s text, which Prometheus asks for and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A gauge counted up while the guard lives.
pub(crate) struct Open(Gauge);

impl Open {
    fn enter(gauge: &Gauge) -> Open {
        gauge.inc();
        Open(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What is read when scraped: the store's connection pools and the runner's queue.
struct Scraped {
    store: Store,
    runner: Arc<Runner>,
}

impl std::fmt::Debug for Scraped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scraped")
    }
}

/// Encodes one gauge or counter family from `(labels, value)` pairs.
fn encode_family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (PoolLabel, M)>,
) -> Result<(), std::fmt::Error> {
    let mut series = series.into_iter().peekable();
    let Some((_, first)) = series.peek() else {
        return Ok(());
    };
    let mut family = encoder.encode_descriptor(name, help, unit, first.metric_type())?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = self.store.pool_stats();
        let gauge = |f: fn(&rivia_store::health::PoolStats) -> usize| {
            pools
                .iter()
                .map(move |p| (PoolLabel::new(p.pool), ConstGauge::new(f(p) as i64)))
        };
        encode_family(
            &mut encoder,
            "rivia_db_pool_connections",
            "Connections a database pool may hold (SQLite: reader threads; its writer is one)",
            None,
            gauge(|p| p.size),
        )?;
        encode_family(
            &mut encoder,
            "rivia_db_pool_in_use",
            "Database connections in use now",
            None,
            gauge(|p| p.in_use),
        )?;
        encode_family(
            &mut encoder,
            "rivia_db_pool_waiting",
            "Callers waiting for a database connection now",
            None,
            gauge(|p| p.waiting),
        )?;
        encode_family(
            &mut encoder,
            "rivia_db_pool_acquires",
            "Database connections handed out",
            None,
            pools
                .iter()
                .map(|p| (PoolLabel::new(p.pool), ConstCounter::new(p.acquired))),
        )?;
        encode_family(
            &mut encoder,
            "rivia_db_pool_wait",
            "Time spent waiting for a database connection (divide its rate by the acquires' \
             rate for the mean wait)",
            Some(&Unit::Seconds),
            pools
                .iter()
                .map(|p| (PoolLabel::new(p.pool), ConstCounter::new(p.wait_seconds))),
        )?;
        let load = self.runner.load();
        let queued = ConstGauge::new(load.queued as i64);
        queued.encode(encoder.encode_descriptor(
            "rivia_script_queue_length",
            "Script runs accepted and waiting for a slot",
            None,
            queued.metric_type(),
        )?)?;
        let running = ConstGauge::new(load.running as i64);
        running.encode(encoder.encode_descriptor(
            "rivia_script_runs_running",
            "Script runs executing now",
            None,
            running.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let odd = Method::from_bytes(b"PROPFIND").expect("a token");
        assert_eq!(method_label(&odd), "other");
    }
}
