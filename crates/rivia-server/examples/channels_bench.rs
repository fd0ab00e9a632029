//! Channel long-poll benchmark (run through `bench/channels.sh`).
//!
//! Starts a `rivia serve` child on SQLite or PostgreSQL, then:
//! 1. holds `--held` concurrent long polls on one channel and reports the server's RSS,
//!    delivers one publish to all of them (publish→delivery latency at that scale);
//! 2. drops them all and reports RSS again (memory must come back near its start);
//! 3. runs `--rounds` publish rounds against `--pollers` keep-alive pollers and reports
//!    publish→delivery latency p50/p99 over every delivery;
//! 4. with `--registrations N`, registers N accounts (Argon2id, 19 MiB per hash) 16 at a
//!    time and reports RSS (the allocator must hand those buffers back).

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    server: String,
    database_url: Option<String>,
    held: usize,
    pollers: usize,
    rounds: usize,
    registrations: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        server: "target/release/rivia".into(),
        database_url: None,
        held: 10_000,
        pollers: 1_000,
        rounds: 20,
        registrations: 0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < argv.len() {
        let v = argv[i + 1].clone();
        match argv[i].as_str() {
            "--server" => a.server = v,
            "--database-url" => a.database_url = Some(v).filter(|s| !s.is_empty()),
            "--held" => a.held = v.parse().unwrap_or(a.held),
            "--pollers" => a.pollers = v.parse().unwrap_or(a.pollers),
            "--rounds" => a.rounds = v.parse().unwrap_or(a.rounds),
            "--registrations" => a.registrations = v.parse().unwrap_or(a.registrations),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// How long the server may take to hand memory back after connections close (it looks
/// every second and trims on a blocking thread).
const RELEASE_GRACE: Duration = Duration::from_secs(3);

/// RSS once the server had time to release memory and RSS stopped moving.
async fn released_rss(pid: u32) -> u64 {
    tokio::time::sleep(RELEASE_GRACE).await;
    settled_rss(pid).await
}

/// RSS once it has stopped moving (a bench may wait; tests may not).
async fn settled_rss(pid: u32) -> u64 {
    let mut last = rss_kib(pid);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = rss_kib(pid);
        if now.abs_diff(last) * 200 < last.max(1) {
            return now;
        }
        last = now;
    }
    last
}

fn request(method: &str, path: &str, key: &str, body: Option<&Value>) -> Vec<u8> {
    let body = body.map(Value::to_string).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: b\r\nX-API-KEY: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one HTTP/1.1 response with a Content-Length body from a keep-alive connection.
async fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok((status, body))
}

async fn call(addr: SocketAddr, method: &str, path: &str, key: &str, body: Value) -> Value {
    let s = TcpStream::connect(addr).await.expect("connect");
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(&request(method, path, key, Some(&body)))
        .await
        .expect("write");
    let (status, body) = read_response(&mut r).await.expect("response");
    assert!(
        status < 300,
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn start_server(args: &Args, data_dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut cmd = Command::new(&args.server);
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env("RIVIA_DATA_DIR", data_dir)
        .env("RIVIA_INSTANCE_RATE", "0")
        .env("RIVIA_ADMIN_RATE", "0")
        .env("RIVIA_ANON_RATE", "0")
        .env("RIVIA_POLL_RATE", "0")
        .env(
            "RUST_LOG",
            std::env::var("RIVIA_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped());
    // The server's log, to see when it releases memory (with RIVIA_BENCH_LOG=debug).
    if let Ok(file) = std::env::var("RIVIA_BENCH_SERVER_LOG")
        && let Ok(f) = std::fs::File::create(file)
    {
        cmd.stderr(f);
    }
    if let Some(url) = &args.database_url {
        cmd.env("RIVIA_DATABASE_URL", url);
    }
    let mut child = cmd.spawn().expect("start rivia");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let addr = loop {
        let line = lines.next().expect("rivia exited").expect("stdout");
        if let Some(rest) = line.strip_prefix("Rivia listening on http://") {
            break rest
                .split('/')
                .next()
                .unwrap_or_default()
                .parse()
                .expect("addr");
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Opens `n` connections and sends a poll on each (no last_id: wait for the next change).
async fn open_polls(
    addr: SocketAddr,
    key: &str,
    path: &str,
    n: usize,
) -> Vec<BufReader<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&request("GET", path, key, None))
            .await
            .expect("write");
        conns.push(BufReader::new(s));
    }
    conns
}

/// Registers `n` accounts, 16 at a time, and reports the server's RSS after.
async fn register_many(addr: SocketAddr, pid: u32, n: usize) {
    let before = settled_rss(pid).await;
    let t = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let next = next.clone();
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let body = json!({"email": format!("reg{i}@example.com"), "password": "secret"});
                call(addr, "POST", "/v1.1/account/register/", "", body).await;
            }
        }));
    }
    for c in clients {
        c.await.expect("registration client");
    }
    let took = t.elapsed().as_secs_f64();
    let peak = peak_rss_kib(pid);
    println!(
        "{n} registrations in {took:.1} s: server RSS {} MiB after (from {} MiB; peak {} MiB)",
        released_rss(pid).await / 1024,
        before / 1024,
        peak / 1024
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Committed transactions of the bench database so far (PostgreSQL only).
async fn pg_transactions(url: Option<&str>) -> Option<i64> {
    let (client, conn) = tokio_postgres::connect(url?, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(conn);
    // The statistics are flushed by backends at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let row = client
        .query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .ok()?;
    Some(row.get(0))
}

/// Kills the server however the bench ends (including a panic).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("rivia-bench-{}", std::process::id()));
    let (child, addr) = start_server(&args, &dir);
    let pid = child.id();
    let server = Server(child);
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("== channels bench on {backend} (server pid {pid}, {addr})");

    let account = call(
        addr,
        "POST",
        "/v1.1/account/register/",
        "",
        json!({"email": "bench@example.com", "password": "secret"}),
    )
    .await;
    let key = account["account_key"].as_str().expect("key").to_string();
    call(
        addr,
        "POST",
        "/v1.1/instances/",
        &key,
        json!({"name": "bench"}),
    )
    .await;
    let ch = "/v1.1/instances/bench/channels/";
    call(
        addr,
        "POST",
        ch,
        &key,
        json!({"name": "live", "custom_publish": true}),
    )
    .await;
    let poll = format!("{ch}live/poll/");
    let publish = format!("{ch}live/publish/");
    let start_rss = settled_rss(pid).await;
    println!("server RSS at start: {} MiB", start_rss / 1024);

    // 1. Held polls.
    let t = Instant::now();
    let conns = open_polls(addr, &key, &poll, args.held).await;
    let held_rss = settled_rss(pid).await;
    println!(
        "{} long polls held (opened in {:.1} s): server RSS {} MiB ({} KiB per poll)",
        args.held,
        t.elapsed().as_secs_f64(),
        held_rss / 1024,
        (held_rss.saturating_sub(start_rss)) / args.held.max(1) as u64
    );
    let sent = Instant::now();
    call(addr, "POST", &publish, &key, json!({"payload": {"n": 0}})).await;
    let mut tasks = Vec::with_capacity(conns.len());
    for mut c in conns {
        tasks.push(tokio::spawn(async move {
            let r = read_response(&mut c).await;
            (r.map(|(s, _)| s).unwrap_or(0), Instant::now(), c)
        }));
    }
    let mut lat = Vec::new();
    let mut conns = Vec::new();
    for t in tasks {
        let (status, at, c) = t.await.expect("task");
        if status == 200 {
            lat.push(at - sent);
        }
        conns.push(c);
    }
    lat.sort();
    println!(
        "one publish to {} held polls: {} delivered, p50 {}, p99 {}, last {}",
        args.held,
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default())
    );

    // 2. Open and drop polls, three times: memory must not grow from cycle to cycle.
    drop(conns);
    let before = released_rss(pid).await;
    let mut cycles = Vec::new();
    for _ in 0..3 {
        let more = open_polls(addr, &key, &poll, args.held).await;
        let open = settled_rss(pid).await;
        drop(more);
        let after = released_rss(pid).await;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
        cycles.push(format!("{} → {} ({fds} fds)", open / 1024, after / 1024));
    }
    println!(
        "{} polls opened then dropped, 3 cycles (MiB open → after): {}, from {} MiB before the cycles ({} MiB at start)",
        args.held,
        cycles.join(", "),
        before / 1024,
        start_rss / 1024
    );

    // 3. Latency with keep-alive pollers that re-poll with last_id after each delivery.
    let statements_before = pg_transactions(args.database_url.as_deref()).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant, i64)>();
    let (arm_tx, _) = tokio::sync::broadcast::channel::<i64>(4);
    let mut workers = Vec::new();
    for _ in 0..args.pollers {
        let mut s = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
        let tx = tx.clone();
        let mut arm = arm_tx.subscribe();
        let (key, poll) = (key.clone(), poll.clone());
        workers.push(tokio::spawn(async move {
            let mut last_id: Option<i64> = None;
            while let Ok(round) = arm.recv().await {
                let path = match last_id {
                    Some(l) => format!("{poll}?last_id={l}"),
                    None => poll.clone(),
                };
                if s.get_mut()
                    .write_all(&request("GET", &path, &key, None))
                    .await
                    .is_err()
                {
                    return;
                }
                let Ok((200, body)) = read_response(&mut s).await else {
                    return;
                };
                let at = Instant::now();
                let id = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["id"].as_i64())
                    .unwrap_or(0);
                last_id = Some(id);
                let _ = tx.send((round as usize, at, id));
            }
        }));
    }
    drop(tx);
    let mut lat = Vec::new();
    for round in 0..args.rounds {
        let _ = arm_tx.send(round as i64);
        // Let the pollers re-arm before publishing; a late one is still answered from
        // the table because it polls with last_id.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = Instant::now();
        call(
            addr,
            "POST",
            &publish,
            &key,
            json!({"payload": {"round": round}}),
        )
        .await;
        for _ in 0..args.pollers {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some((_, at, _))) => lat.push(at - sent),
                _ => break,
            }
        }
    }
    lat.sort();
    println!(
        "publish→delivery with {} pollers over {} rounds ({} deliveries): p50 {}, p99 {}, max {}",
        args.pollers,
        args.rounds,
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default())
    );
    // On PostgreSQL every statement outside a transaction commits one: how many the
    // server ran per delivery (a re-poll's reads, the publish).
    if let (Some(before), Some(after)) = (
        statements_before,
        pg_transactions(args.database_url.as_deref()).await,
    ) {
        println!(
            "PostgreSQL transactions during the latency rounds: {} ({:.2} per delivery)",
            after - before,
            (after - before) as f64 / lat.len().max(1) as f64
        );
    }
    drop(arm_tx);
    for w in workers {
        w.abort();
    }

    if args.registrations > 0 {
        register_many(addr, pid, args.registrations).await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
