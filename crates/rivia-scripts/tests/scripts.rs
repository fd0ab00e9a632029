//! Real-process tests of the script engine: the spec's happy paths per language and the hostile
//! scripts of issue #16 (escape attempts, loops, fork bombs, hogs, floods, bad output, network).
//!
//! Without a working bubblewrap these tests skip with a loud message, except under `CI=true`,
//! where they fail: CI must prove the sandbox, not skip it.

use std::time::{Duration, Instant};

use rivia_scripts::runtimes::Toolchain;
use rivia_scripts::{
    Engine, EngineConfig, Limits, RunOutcome, RunRequest, RunStatus, SandboxMode, Toolchains,
};
use serde_json::{Value, json};

/// The shared engine, or `None` (skip) when the host cannot sandbox and this is not CI.
async fn engine() -> Option<Engine> {
    let engine = Engine::start(EngineConfig::default()).await;
    if let Err(reason) = engine.sandbox_status() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but the script sandbox is unavailable: {reason}");
        }
        eprintln!("SKIPPING script sandbox test: {reason}");
        return None;
    }
    Some(engine)
}

fn request(runtime: &str, source: &str) -> RunRequest {
    RunRequest {
        runtime: runtime.to_owned(),
        source: source.to_owned(),
        args: json!({"name": "Ada", "n": 2}),
        config: json!({"greeting": "Hello"}),
        meta: json!({"executed_by": "codebox", "executor": 7, "instance": "test"}),
        limits: Limits {
            timeout: Duration::from_secs(10),
            ..Limits::default()
        },
        network: false,
    }
}

fn has(engine: &Engine, toolchain: Toolchain) -> bool {
    let found = engine.toolchains().get(toolchain).is_some();
    if !found {
        eprintln!("SKIPPING: {} is not installed", toolchain.binary());
    }
    found
}

fn assert_status(outcome: &RunOutcome, status: RunStatus) {
    assert_eq!(
        outcome.status, status,
        "stdout: {}\nstderr: {}",
        outcome.stdout, outcome.stderr
    );
}

const PY_HELLO: &str = "print('%s, %s! n=%d by %s' % (CONFIG['greeting'], ARGS['name'], ARGS['n'], META['executed_by']))";
const JS_HELLO: &str =
    "console.log(`${CONFIG.greeting}, ${ARGS.name}! n=${ARGS.n} by ${META.executed_by}`)";

#[tokio::test]
async fn python_and_node_hello_world_see_args_config_meta() {
    let Some(engine) = engine().await else { return };
    for (runtime, source) in [
        ("python3", PY_HELLO),
        ("nodejs_v6", JS_HELLO),
        ("python", PY_HELLO),
    ] {
        let outcome = engine.run(&request(runtime, source)).await;
        assert_status(&outcome, RunStatus::Success);
        assert_eq!(outcome.stdout, "Hello, Ada! n=2 by codebox", "{runtime}");
        assert_eq!(outcome.stderr, "");
        assert!(outcome.response.is_none());
    }
}

#[tokio::test]
async fn custom_responses_in_python_and_node() {
    let Some(engine) = engine().await else { return };
    let py = "print('before')\nset_response(HttpResponse(status_code=201, content='<b>%s</b>' % ARGS['name'], content_type='text/html', headers={'X-Who': 'py'}))";
    let js = "console.log('before'); setResponse(new HttpResponse(201, '<b>' + ARGS.name + '</b>', 'text/html', {'X-Who': 'js'}))";
    for (runtime, source, who) in [("python3", py, "py"), ("nodejs_library_v1.0", js, "js")] {
        let outcome = engine.run(&request(runtime, source)).await;
        assert_status(&outcome, RunStatus::Success);
        assert_eq!(outcome.stdout, "before");
        let response = outcome.response.expect("custom response");
        assert_eq!(response.status, 201);
        assert_eq!(response.content_type, "text/html");
        assert_eq!(response.content, "<b>Ada</b>");
        assert_eq!(response.headers, vec![("X-Who".to_owned(), who.to_owned())]);
    }
    // Defaults: 200, application/json, no headers key.
    let outcome = engine
        .run(&request(
            "python3",
            "set_response(HttpResponse(content='{}'))",
        ))
        .await;
    let response = outcome.response.expect("custom response");
    assert_eq!(
        (response.status, response.content_type.as_str()),
        (200, "application/json")
    );
    assert!(response.headers.is_empty());
}

#[tokio::test]
async fn a_script_cannot_read_outside_its_sandbox() {
    let Some(engine) = engine().await else { return };
    // Stands for the server's database file.
    let secret_file =
        std::env::temp_dir().join(format!("rivia-test-db-{}.sqlite", std::process::id()));
    std::fs::write(&secret_file, "TOP-SECRET-ROWS").expect("write stand-in database");
    let source = format!(
        r#"
import os
def attempt(path):
    try:
        with open(path, 'rb') as f:
            print(path, 'READ', repr(f.read(4096)))
    except Exception as e:
        print(path, 'DENIED', type(e).__name__)
for p in [{db:?}, '/proc/1/environ', '/proc/{pid}/environ', '/proc/self/environ', '/etc/shadow', '/root/.bashrc', '/work']:
    attempt(p)
print('ENV', dict(os.environ))
print('PROCS', sorted(x for x in os.listdir('/proc') if x.isdigit()))
"#,
        db = secret_file.display().to_string(),
        pid = std::process::id()
    );
    let outcome = engine.run(&request("python3", &source)).await;
    let _ = std::fs::remove_file(&secret_file);
    assert_status(&outcome, RunStatus::Success);
    let out = &outcome.stdout;
    assert!(!out.contains("TOP-SECRET"), "{out}");
    assert!(
        out.contains(&format!("{} DENIED", secret_file.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("/proc/{}/environ DENIED", std::process::id())),
        "{out}"
    );
    // The test process's environment (cargo sets CARGO_* for tests) must not leak anywhere.
    assert!(!out.contains("CARGO"), "{out}");
    assert!(!out.contains("RUST"), "{out}");
    assert!(out.contains("/etc/shadow DENIED"), "{out}");
    // Only the sandbox's own processes are visible.
    assert!(
        out.contains("PROCS ['1', '2']") || out.contains("PROCS ['1', '2', '3']"),
        "{out}"
    );
}

#[tokio::test]
async fn an_infinite_loop_times_out_within_the_limit() {
    let Some(engine) = engine().await else { return };
    for (runtime, source) in [
        ("python3", "while True:\n    pass"),
        ("nodejs_v6", "for(;;){}"),
    ] {
        let mut req = request(runtime, source);
        req.limits.timeout = Duration::from_secs(1);
        let started = Instant::now();
        let outcome = engine.run(&req).await;
        assert_status(&outcome, RunStatus::Timeout);
        let limit = req.limits.timeout + engine.config().kill_grace + Duration::from_secs(1);
        assert!(
            started.elapsed() < limit,
            "{runtime} took {:?}",
            started.elapsed()
        );
    }
    // A loop that ignores the wrapper's alarm is killed by the engine.
    let mut req = request(
        "python3",
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: time.sleep(0.05)",
    );
    req.limits.timeout = Duration::from_secs(1);
    let outcome = engine.run(&req).await;
    assert_status(&outcome, RunStatus::Timeout);
    assert!(outcome.stderr.contains("stopped"), "{}", outcome.stderr);
    // Async Node work past the limit is stopped too.
    let mut req = request("nodejs_v6", "setInterval(() => {}, 10)");
    req.limits.timeout = Duration::from_secs(1);
    assert_status(&engine.run(&req).await, RunStatus::Timeout);
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let Some(engine) = engine().await else { return };
    let source = "import os, time\nn = 0\ntry:\n    while True:\n        os.fork()\n        n += 1\nexcept OSError as e:\n    print('blocked', e.errno)\ntime.sleep(0.5)";
    let mut req = request("python3", source);
    req.limits.timeout = Duration::from_secs(3);
    req.limits.processes = 32;
    let started = Instant::now();
    let outcome = engine.run(&req).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(outcome.stdout.contains("blocked 11"), "{outcome:?}");
    // The host still runs scripts.
    let after = engine.run(&request("python3", PY_HELLO)).await;
    assert_status(&after, RunStatus::Success);
}

/// The Python wrapper sets the limits itself (no prlimit) and starts without site: both must be
/// invisible to a script except through the limits' values.
#[tokio::test]
async fn python_sets_its_limits_and_keeps_the_site_builtins() {
    let Some(engine) = engine().await else { return };
    let source = "import resource\nprint([resource.getrlimit(r) for r in (resource.RLIMIT_DATA,                   resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CORE)])\nexit(0)";
    let mut req = request("python3", source);
    req.limits.processes = 33;
    let outcome = engine.run(&req).await;
    assert_status(&outcome, RunStatus::Success);
    let (data, fsize) = (req.limits.memory_bytes, req.limits.file_size_bytes);
    let want = format!("[({data}, {data}), (33, 33), ({fsize}, {fsize}), (0, 0)]");
    assert_eq!(outcome.stdout.trim(), want, "{outcome:?}");
}

#[tokio::test]
async fn memory_hogs_fail() {
    let Some(engine) = engine().await else { return };
    let py = "a = []\nwhile True:\n    a.append(bytearray(1 << 20))";
    let js = "const a = []; for (;;) a.push(new Array(1e6).fill(1.5))";
    for (runtime, source) in [("python3", py), ("nodejs_v6", js)] {
        let mut req = request(runtime, source);
        req.limits.memory_bytes = 128 << 20;
        let started = Instant::now();
        let outcome = engine.run(&req).await;
        assert_status(&outcome, RunStatus::Failure);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{runtime}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn fifty_megabytes_of_stdout_are_truncated_and_marked() {
    let Some(engine) = engine().await else { return };
    let source = "import sys\nchunk = 'x' * 65536 + '\\n'\nfor _ in range(800):\n    sys.stdout.write(chunk)\nsys.stderr.write('done')";
    let outcome = engine.run(&request("python3", source)).await;
    assert_status(&outcome, RunStatus::Success);
    assert!(outcome.stdout_truncated);
    assert_eq!(outcome.stdout.len(), 524_288);
    // stdout took the whole cap, so stderr keeps nothing (spec-scripts §1.5) and says so.
    assert!(outcome.stderr_truncated);
    assert_eq!(outcome.stderr, "");
    // Drained, not buffered: this whole test process never held the 50 MB.
    let peak = peak_rss_kib();
    eprintln!("test process peak RSS after 50 MB of output: {peak} KiB");
    assert!(peak < 40 * 1024, "peak RSS {peak} KiB");
}

/// VmHWM of this process (the high-water mark of its resident memory).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn bad_separator_output_and_non_utf8_fail_with_words() {
    let Some(engine) = engine().await else { return };
    let forged = "print('hi')\nprint(_OUTPUT_SEPARATOR)\nprint('not json')";
    let outcome = engine.run(&request("python3", forged)).await;
    assert_status(&outcome, RunStatus::Failure);
    assert_eq!(outcome.stdout, "hi");
    assert!(
        outcome
            .stderr
            .contains("Incorrect custom response received"),
        "{}",
        outcome.stderr
    );

    let bad_status = "set_response(HttpResponse(status_code='abc'))";
    let outcome = engine.run(&request("python3", bad_status)).await;
    assert_status(&outcome, RunStatus::Failure);
    assert!(
        outcome.stderr.contains("not an integer"),
        "{}",
        outcome.stderr
    );

    let binary = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end')";
    let outcome = engine.run(&request("python3", binary)).await;
    assert_status(&outcome, RunStatus::Failure);
    assert_eq!(outcome.stdout, "ok \u{fffd}\u{fffd} end");
    assert!(
        outcome.stderr.contains("not valid UTF-8 (stdout)"),
        "{}",
        outcome.stderr
    );
}

#[tokio::test]
async fn uncaught_exceptions_fail_in_every_language() {
    let Some(engine) = engine().await else { return };
    let cases = [
        ("python3", "raise ValueError('boom')"),
        ("nodejs_v6", "throw new Error('boom')"),
        (
            "nodejs_v6",
            "setTimeout(() => { throw new Error('boom') }, 1)",
        ),
        ("nodejs_v6", "Promise.reject(new Error('boom'))"),
    ];
    for (runtime, source) in cases {
        let outcome = engine.run(&request(runtime, source)).await;
        assert_status(&outcome, RunStatus::Failure);
        assert!(
            outcome.stderr.contains("boom"),
            "{runtime} {source}: {}",
            outcome.stderr
        );
    }
}

#[tokio::test]
async fn a_missing_toolchain_fails_with_the_reason() {
    let Some(started) = engine().await else {
        return;
    };
    let bare = Engine::with_toolchains(started.config().clone(), Toolchains::with(vec![])).await;
    let outcome = bare.run(&request("python3", PY_HELLO)).await;
    assert_status(&outcome, RunStatus::Failure);
    assert_eq!(
        outcome.stderr,
        "The python3 runtime needs the `python3` toolchain, which is not installed on this server."
    );
    if started.toolchains().get(Toolchain::Swift).is_none() {
        let outcome = started.run(&request("swift", "print(1)")).await;
        assert!(
            outcome.stderr.contains("`swift` toolchain"),
            "{}",
            outcome.stderr
        );
    }
    let outcome = started.run(&request("perl", "print 1")).await;
    assert_eq!(outcome.stderr, "Unknown runtime \"perl\".");
}

#[tokio::test]
async fn network_off_blocks_a_local_connect_and_on_allows_it() {
    let Some(engine) = engine().await else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let source = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('CONNECTED')\nexcept OSError as e:\n    print('BLOCKED', e)"
    );
    let mut req = request("python3", &source);
    req.network = false;
    let outcome = engine.run(&req).await;
    assert!(outcome.stdout.starts_with("BLOCKED"), "{outcome:?}");
    req.network = true;
    let outcome = engine.run(&req).await;
    assert_eq!(outcome.stdout, "CONNECTED", "{outcome:?}");
}

/// Hostile data for the source-template runtimes: quotes, backslashes, closing tags, interpolation.
fn hostile_args() -> Value {
    json!({"name": "A'd\"a\\`x` ?> <?php echo 1; #{exit} ${x}", "n": 2})
}

#[tokio::test]
async fn ruby_and_php_templates_get_inputs_unchanged() {
    let Some(engine) = engine().await else { return };
    let ruby = "puts ARGS['name']\nputs CONFIG['greeting'] + ' ' + META['executed_by']\nset_response(HttpResponse.new(202, 'r', 'text/plain', {'X-R' => '1'}))";
    let php = "echo $ARGS['name'] . \"\\n\" . $CONFIG['greeting'] . ' ' . $META['executed_by'];\nset_response(new HttpResponse(202, 'p', 'text/plain', array('X-R' => '1')));";
    for (toolchain, runtime, source) in [
        (Toolchain::Ruby, "ruby", ruby),
        (Toolchain::Php, "php", php),
    ] {
        if !has(&engine, toolchain) {
            continue;
        }
        let mut req = request(runtime, source);
        req.args = hostile_args();
        let outcome = engine.run(&req).await;
        assert_status(&outcome, RunStatus::Success);
        let expected = format!(
            "{}\nHello codebox",
            hostile_args()["name"].as_str().unwrap_or("")
        );
        assert_eq!(outcome.stdout, expected, "{runtime}");
        let response = outcome.response.expect("custom response");
        assert_eq!(
            (response.status, response.content_type.as_str()),
            (202, "text/plain")
        );
        assert_eq!(response.headers, vec![("X-R".to_owned(), "1".to_owned())]);
        // An error in the user's code fails the run.
        let outcome = engine
            .run(&request(runtime, "raise_me_not_defined()"))
            .await;
        assert_status(&outcome, RunStatus::Failure);
    }
}

#[tokio::test]
async fn the_runtimes_listing_reports_host_versions() {
    let Some(engine) = engine().await else { return };
    let listing = engine.toolchains().listing();
    if let Some(python) = engine.toolchains().get(Toolchain::Python) {
        assert_eq!(
            listing["python_library_v4.2"]["version"],
            python.version.as_str()
        );
        assert!(python.version.starts_with('3'), "{}", python.version);
    }
    assert!(
        engine.summary().contains("bubblewrap"),
        "{}",
        engine.summary()
    );
}

#[tokio::test]
async fn without_bubblewrap_runs_fail_with_the_reason_unless_unsafe_is_chosen() {
    let config = EngineConfig {
        bwrap: "/nonexistent/bwrap".into(),
        ..EngineConfig::default()
    };
    let engine = Engine::start(config.clone()).await;
    assert!(engine.sandbox_status().is_err());
    let outcome = engine.run(&request("python3", PY_HELLO)).await;
    assert_status(&outcome, RunStatus::Failure);
    assert!(
        outcome.stderr.starts_with("Scripts cannot run: the sandbox is unavailable (bubblewrap not found at /nonexistent/bwrap"),
        "{}",
        outcome.stderr
    );
    assert!(
        engine.summary().contains("unavailable"),
        "{}",
        engine.summary()
    );

    let unsafe_config = EngineConfig {
        sandbox: SandboxMode::UnsafeNoSandbox,
        ..config
    };
    let engine = Engine::start(unsafe_config).await;
    if !has(&engine, Toolchain::Python) {
        return;
    }
    assert!(
        engine.summary().contains("NO SANDBOX"),
        "{}",
        engine.summary()
    );
    let outcome = engine.run(&request("python3", PY_HELLO)).await;
    assert_status(&outcome, RunStatus::Success);
    assert_eq!(outcome.stdout, "Hello, Ada! n=2 by codebox");
}

/// Whether `toolchain` is installed; under `CI=true` a missing one fails (CI installs it).
fn required(engine: &Engine, toolchain: Toolchain) -> bool {
    let found = engine.toolchains().get(toolchain).is_some();
    assert!(
        found || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but `{}` is not installed",
        toolchain.binary()
    );
    has(engine, toolchain)
}

#[tokio::test]
async fn golang_compiles_once_per_source_and_reports_compile_errors() {
    let Some(engine) = engine().await else { return };
    if !required(&engine, Toolchain::Go) {
        return;
    }
    // A source of its own (a fresh cache entry), using an import of its own.
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let source = format!(
        "import (\n\t\"fmt\"\n\t\"strings\"\n)\n\nfunc main() {{\n\tprintln(\"{nonce}\")\n\tfmt.Print(strings.ToUpper(ARGS[\"name\"].(string)), \" \", CONFIG[\"greeting\"], \" \", META[\"executed_by\"])\n}}\n"
    );
    let first = engine.run(&request("golang", &source)).await;
    assert_status(&first, RunStatus::Success);
    assert_eq!(first.stdout, "ADA Hello codebox");
    assert!(first.stderr.contains(&nonce), "{}", first.stderr);
    let started = Instant::now();
    let second = engine.run(&request("golang", &source)).await;
    assert_status(&second, RunStatus::Success);
    assert!(
        started.elapsed() < Duration::from_millis(first.duration_ms / 2 + 200),
        "the second run compiled again: {} ms after {} ms",
        started.elapsed().as_millis(),
        first.duration_ms
    );
    // An array ARGS leaves ARGS a nil map, as on the platform.
    let mut req = request("golang", "func main() { println(ARGS == nil) }");
    req.args = json!([1, 2]);
    let outcome = engine.run(&req).await;
    assert_status(&outcome, RunStatus::Success);
    assert_eq!(outcome.stderr, "true");
    let broken = engine
        .run(&request("golang", "func main() { undefinedThing() }"))
        .await;
    assert_status(&broken, RunStatus::Failure);
    assert!(
        broken.stderr.starts_with("Compilation failed:")
            && broken.stderr.contains("undefinedThing"),
        "{}",
        broken.stderr
    );
}

#[tokio::test]
async fn swift_runs_fail_saying_the_toolchain_is_missing() {
    let Some(engine) = engine().await else { return };
    if engine.toolchains().get(Toolchain::Swift).is_some() {
        eprintln!("SKIPPING: swift is installed here");
        return;
    }
    let outcome = engine.run(&request("swift", "print(1)")).await;
    assert_status(&outcome, RunStatus::Failure);
    assert_eq!(
        outcome.stderr,
        "The swift runtime needs the `swift` toolchain, which is not installed on this server."
    );
}
