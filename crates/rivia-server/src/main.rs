//! The `rivia` binary.

use anyhow::Context;
use clap::Parser;
use rivia_server::config::{AdminCommand, BackupCommand, Cli, Command, ServeArgs, StoreArgs};
use rivia_server::state::{AppState, Settings};
use rivia_store::{Db, Store};
use std::net::SocketAddr;
use std::time::Duration;

// mimalloc, tuned in `memory::tune_allocator`; glibc malloc with `--no-default-features`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let db = match &args.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Db::open_postgres(url)
                .await
                .context("connecting to PostgreSQL")?
        }
        Some(other) if !other.is_empty() => {
            anyhow::bail!("RIVIA_DATABASE_URL must be a postgres:// URL, got {other:?}")
        }
        _ => Db::open_sqlite(&args.data_dir)
            .await
            .with_context(|| format!("opening SQLite in {}", args.data_dir.display()))?,
    };
    Ok(Store::new(db))
}

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads: allocator settings are process-wide.
    rivia_server::memory::tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(rivia_server::memory::on_worker_park)
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    store,
                },
        } => {
            rivia_server::logging::init(rivia_server::logging::LogFormat::Text, false);
            let store = open_store(&store).await?;
            let hash = match password {
                Some(p) => Some(rivia_core::password::hash(&p).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let key = rivia_core::keys::new_account_key();
            let admin = store
                .create_admin(rivia_store::admins::NewAdmin {
                    email: &email,
                    password: hash.as_deref(),
                    first_name: "",
                    last_name: "",
                    account_key: &key,
                    is_active: true,
                })
                .await
                .map_err(|e| {
                    anyhow::anyhow!("could not create the account (is the email taken?): {e}")
                })?;
            store.close().await;
            println!(
                "Created admin {} (id {}).\naccount_key: {}",
                admin.email, admin.id, admin.account_key
            );
            Ok(())
        }
        Command::Backup { command } => {
            rivia_server::logging::init(rivia_server::logging::LogFormat::Text, false);
            let store_args = match &command {
                BackupCommand::Create { store, .. }
                | BackupCommand::Restore { store, .. }
                | BackupCommand::List { store } => store.clone(),
            };
            let store = open_store(&store_args).await?;
            let result =
                rivia_server::backup_cli::run(command, store.clone(), &store_args.data_dir).await;
            store.close().await;
            result
        }
        Command::Openapi => {
            let (_, docs) = rivia_server::api::all().into_parts();
            println!(
                "{}",
                serde_json::to_string_pretty(&rivia_server::openapi::document(&docs))?
            );
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    rivia_server::logging::init(args.log_format, args.access_log);
    let store = open_store(&args.store).await?;
    let settings = Settings {
        registration_open: args.registration_open(),
        instance_limit: args.instance_limit,
        class_limit: args.class_limit,
        instance_rate: args.instance_rate,
        admin_rate: args.admin_rate,
        anon_rate: args.anon_rate,
        poll_rate: args.poll_rate,
        poll_timeout: Duration::from_secs(args.poll_timeout),
        data_dir: args.store.data_dir.clone(),
        bench_baseline: args.bench_baseline,
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        body_timeout: Duration::from_secs(args.body_timeout.max(1)),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        public_url: args
            .public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty()),
        scripts: args.script_settings(),
        metrics: args.metrics_bind.is_some(),
        dashboard: args.dashboard_on(),
        jobs: args.job_settings(),
    };
    let timeouts = settings.timeouts();
    let rates = settings.rate_summary();
    // Channel history retention, and on PostgreSQL the LISTEN connection for other nodes.
    store.start_realtime();
    let state = AppState::new(store.clone(), settings);
    // Backup and restore jobs: fail those cut off by the last stop, start those left
    // scheduled, keep this node's leases.
    tokio::spawn(state.clone().maintain_jobs());
    // Probe interpreters and the sandbox now, so the log says which runtimes work.
    tracing::info!("{}", state.runner().engine().await.summary());
    // Traces a killed server left unfinished end as failure: now, then every minute.
    let sweeper = state.clone();
    let sweep_store = store.clone();
    tokio::spawn(async move {
        sweeper
            .runner()
            .keep_sweeping_stale_traces(sweep_store)
            .await
    });
    // Trigger and schedule runs: jobs left by the last run are picked up now.
    let workers = rivia_server::workers::start(&state).await;
    let app = rivia_server::app(state.clone());
    let shutdown = shutdown_signal().context("installing signal handlers")?;
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    let metrics = match &args.metrics_bind {
        Some(bind) => Some(serve_metrics(bind, state.clone()).await?),
        None => None,
    };
    let backend = if args
        .store
        .database_url
        .as_deref()
        .is_some_and(|u| !u.is_empty())
    {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    print_banner(
        addr,
        backend,
        &rates,
        (args.dashboard_on(), metrics.as_ref().map(|m| m.0)),
    );
    tracing::info!(%addr, backend, "server ready; {rates}");
    // Give memory back to the OS after bursts of connections (held polls) close.
    let live = rivia_server::memory::LiveConnections::default();
    tokio::spawn(rivia_server::memory::release_after_closes(live.clone()));
    rivia_server::server::serve(listener, app, live, timeouts, shutdown).await;
    if let Some((_, task)) = metrics {
        task.abort();
    }
    tracing::info!("shutting down: waiting for running scripts");
    workers
        .shutdown(state.runner().settings().shutdown_grace)
        .await;
    state.runner().shutdown(&store).await;
    tracing::info!("shutting down: closing the store");
    store.close().await;
    Ok(())
}

/// Prints the URL and first steps. Write errors are ignored: a closed stdout (a supervisor
/// that read the first line and went away) must not take the server down.
fn print_banner(
    addr: SocketAddr,
    backend: &str,
    rates: &str,
    (dashboard, metrics): (bool, Option<SocketAddr>),
) {
    use std::io::Write;
    let dashboard = if dashboard {
        format!("Dashboard: http://{addr}/_/\n")
    } else {
        String::new()
    };
    let mut text = format!(
        "Rivia listening on http://{addr}/ ({backend} store)\n\
         {dashboard}\
         First steps:\n  \
         curl -X POST http://{addr}/v1.1/account/register/ -H 'Content-Type: application/json' \\\n       \
         -d '{{\"email\": \"you@example.com\", \"password\": \"secret\"}}'\n  \
         (or: rivia admin create --email you@example.com) then use the account_key:\n  \
         curl -X POST http://{addr}/v1.1/instances/ -H 'Authorization: token <account_key>' \\\n       \
         -H 'Content-Type: application/json' -d '{{\"name\": \"my-instance\"}}'\n\
         {rates} (set with --instance-rate, --admin-rate, --poll-rate, --anon-rate)\n"
    );
    if let Some(m) = metrics {
        text.push_str(&format!(
            "Metrics on http://{m}/metrics (and /healthz, /readyz)\n"
        ));
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Starts the metrics listener (`--metrics-bind`): `/metrics`, `/healthz`, `/readyz`. It
/// answers until the main server has stopped.
async fn serve_metrics(
    bind: &str,
    state: AppState,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the metrics listener {bind}"))?;
    let addr = listener.local_addr()?;
    let router = rivia_server::health::metrics_router(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    tracing::info!(%addr, "metrics listener ready");
    Ok((addr, task))
}

/// Registers the SIGINT/SIGTERM handlers now (before the server announces itself, so a
/// signal sent right after the banner is never missed) and resolves when one arrives.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}
