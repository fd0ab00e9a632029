//! A crash (SIGKILL) during writes loses no acknowledged write: every object whose create
//! was answered 201 before the kill is there after a restart on the same data directory.

use crate::helpers::TempDir;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn start(dir: &TempDir) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rivia"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--instance-rate",
            "0",
            "--admin-rate",
            "0",
            "--anon-rate",
            "0",
            "--data-dir",
        ])
        .arg(&dir.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rivia");
    let stdout = child.stdout.take().expect("stdout");
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .expect("banner")
        .expect("utf8");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url");
    (
        child,
        url.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    )
}

/// One HTTP/1.1 request on a fresh connection; `None` when the server is gone.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = key
        .map(|k| format!("X-API-KEY: {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let status: u16 = raw.split_whitespace().nth(1)?.parse().ok()?;
    let json = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Some((status, json))
}

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write() {
    let dir = TempDir::new();
    let (mut server, addr) = start(&dir);
    let (_, reg) = request(
        &addr,
        "POST",
        "/v1.1/account/register/",
        None,
        Some(json!({"email": "crash@example.com", "password": "p"})),
    )
    .expect("register");
    let key = reg["account_key"].as_str().expect("key").to_string();
    assert_eq!(
        request(
            &addr,
            "POST",
            "/v1.1/instances/",
            Some(&key),
            Some(json!({"name": "crash-test"}))
        )
        .expect("instance")
        .0,
        201
    );
    let schema = json!([{"name": "n", "type": "integer"}]);
    assert_eq!(
        request(
            &addr,
            "POST",
            "/v1.1/instances/crash-test/classes/",
            Some(&key),
            Some(json!({"name": "log", "schema": schema}))
        )
        .expect("class")
        .0,
        201
    );

    // Writers run until the server dies; the kill lands while creates are in flight.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, key) = (addr.clone(), key.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let body = json!({"n": w * 1_000_000 + i});
                    match request(
                        &addr,
                        "POST",
                        "/v1.1/instances/crash-test/classes/log/objects/",
                        Some(&key),
                        Some(body),
                    ) {
                        Some((201, obj)) => acknowledged.push(obj["id"].as_i64().expect("id")),
                        Some((status, other)) => panic!("unexpected {status}: {other}"),
                        None => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Let a few hundred writes land, then kill without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, page) = request(
            &addr,
            "GET",
            "/v1.1/instances/crash-test/classes/log/objects/?page_size=0&include_count=true",
            Some(&key),
            None,
        )
        .expect("count");
        if page["objects_count"].as_i64().unwrap_or(0) >= 300
            || std::time::Instant::now() > deadline
        {
            break;
        }
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    let acknowledged: Vec<i64> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    // The kill came after 300 committed writes; a few of those may not have been answered
    // before the connection died, so fewer may be acknowledged.
    assert!(
        acknowledged.len() >= 200,
        "only {} acknowledged writes before the kill",
        acknowledged.len()
    );

    let (mut server, addr) = start(&dir);
    let mut missing = Vec::new();
    for id in &acknowledged {
        let path = format!("/v1.1/instances/crash-test/classes/log/objects/{id}/");
        if request(&addr, "GET", &path, Some(&key), None)
            .expect("get")
            .0
            != 200
        {
            missing.push(*id);
        }
    }
    server.kill().expect("stop");
    let _ = server.wait();
    assert!(
        missing.is_empty(),
        "acknowledged but lost after SIGKILL: {missing:?}"
    );
}
