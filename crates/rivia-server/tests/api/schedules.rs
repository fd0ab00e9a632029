//! Schedules `schedules/` (rest §2, spec-scripts §9, §13): fields and links, every
//! validation message, the per-instance limit, `scheduled_next` in the schedule's time
//! zone, and runs: once per due time, once after missed due times, edits and deletes at
//! once. Time is a manual clock the test moves; the runs are real (python3).

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use axum::http::StatusCode;
use rivia_server::workers::Clock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

both_backends!(
    backend,
    schedule_create_answers_the_schedule_and_its_links,
    crontabs_are_read_in_the_schedule_time_zone,
    bad_schedules_get_the_platform_messages,
    the_schedule_count_is_limited_per_instance,
    a_schedule_runs_once_per_due_time_and_once_after_missed_ones,
    edits_and_deletes_take_effect_at_once,
);

const SCHEDULES: &str = "/v1.1/instances/sched/schedules/";

/// 1 January 2026 00:00:00 UTC, µs.
const T0: i64 = 1_767_225_600_000_000;

/// An app whose schedules' clock is `clock`, with instance `sched` and python3 script 1
/// printing its META: (app, admin key).
async fn app_at(backend: Backend, clock: &Arc<AtomicI64>, limit: i64) -> Option<(TestApp, String)> {
    let c = clock.clone();
    let app = TestApp::with_settings(backend, move |s| {
        s.jobs.clock = Clock::Manual(c);
        s.jobs.schedule_limit = limit;
    })
    .await?;
    let admin = app.admin_with_instance("sched").await;
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/sched/snippets/scripts/",
        Some(json!({"runtime_name": "python3",
            "source": "import json\nprint(json.dumps({'args': ARGS, 'meta': META}))"})),
    )
    .await
    .expect(StatusCode::CREATED);
    Some((app, admin))
}

fn clock_at(micros: i64) -> Arc<AtomicI64> {
    Arc::new(AtomicI64::new(micros))
}

async fn create(app: &TestApp, key: &str, body: Value) -> crate::helpers::Response {
    app.as_key(key, "POST", SCHEDULES, Some(body)).await
}

async fn schedule_create_answers_the_schedule_and_its_links(backend: Backend) {
    let clock = clock_at(T0);
    let Some((app, admin)) = app_at(backend, &clock, 100).await else {
        return;
    };
    let r = create(
        &app,
        &admin,
        json!({"label": "test", "interval_sec": 36, "script": 1, "description": "d"}),
    )
    .await
    .expect_json(StatusCode::CREATED);
    let keys: Vec<&str> = r
        .as_object()
        .map_or(vec![], |o| o.keys().map(|k| k.as_str()).collect());
    assert_eq!(
        keys,
        [
            "id",
            "label",
            "description",
            "created_at",
            "interval_sec",
            "crontab",
            "scheduled_next",
            "script",
            "timezone",
            "links"
        ]
    );
    let base = "/v1.1/instances/sched";
    assert_eq!(
        json!([
            r["id"],
            r["interval_sec"],
            r["crontab"],
            r["scheduled_next"],
            r["script"],
            r["timezone"],
            r["links"]
        ]),
        json!([1, 36, null, "2026-01-01T00:00:36.000000Z", 1, "UTC", {
            "self": format!("{base}/schedules/1/"),
            "traces": format!("{base}/schedules/1/traces/"),
            "script": format!("{base}/snippets/scripts/1/"),
        }])
    );
    let got = app
        .as_key(&admin, "GET", &format!("{SCHEDULES}1/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got, r);
    let list = app
        .as_key(&admin, "GET", SCHEDULES, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"], json!([r]));
}

async fn crontabs_are_read_in_the_schedule_time_zone(backend: Backend) {
    // 27 March 2026 12:00 UTC; Warsaw moves to summer time on the 29th.
    let clock = clock_at(1_774_612_800_000_000);
    let Some((app, admin)) = app_at(backend, &clock, 100).await else {
        return;
    };
    let utc = create(&app, &admin, json!({"crontab": "5 * * * *", "script": 1}))
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(utc["scheduled_next"], "2026-03-27T12:05:00.000000Z");
    let warsaw = create(
        &app,
        &admin,
        json!({"crontab": "0 9 * * *", "script": 1, "timezone": "Europe/Warsaw"}),
    )
    .await
    .expect_json(StatusCode::CREATED);
    assert_eq!(warsaw["scheduled_next"], "2026-03-28T08:00:00.000000Z");
    // Two days later it is 9:00 summer time: 7:00 UTC.
    clock.store(1_774_785_600_000_000, Ordering::Release); // 29 March 12:00 UTC
    let moved = app
        .as_key(
            &admin,
            "PATCH",
            &format!("{SCHEDULES}{}/", warsaw["id"]),
            Some(json!({"label": "again"})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(moved["scheduled_next"], "2026-03-30T07:00:00.000000Z");
}

async fn bad_schedules_get_the_platform_messages(backend: Backend) {
    let clock = clock_at(T0);
    let Some((app, admin)) = app_at(backend, &clock, 100).await else {
        return;
    };
    let non_field = |m: &str| json!({"non_field_errors": [m]});
    let cases = [
        (
            json!({"script": 1}),
            non_field("Either crontab or interval_sec has to be specified."),
        ),
        (
            json!({"script": 1, "interval_sec": 36, "crontab": "5 * * * *"}),
            non_field("You can't specify both crontab and interval_sec."),
        ),
        (
            json!({"interval_sec": 29}),
            json!({"interval_sec": ["Ensure this value is greater than or equal to 30."],
                "script": ["This field is required."]}),
        ),
        (
            json!({"interval_sec": 86401, "script": 9}),
            json!({"interval_sec": ["Ensure this value is less than or equal to 86400."],
                "script": ["Invalid pk \"9\" - object does not exist."]}),
        ),
        (
            json!({"interval_sec": "soon", "script": 1}),
            json!({"interval_sec": ["A valid integer is required."]}),
        ),
        (
            json!({"crontab": "5 * test", "script": 1}),
            json!({"crontab": ["Crontab has to have 5 parts specified."]}),
        ),
        (
            json!({"crontab": "x".repeat(41), "script": 1}),
            json!({"crontab": ["Ensure this field has no more than 40 characters."]}),
        ),
    ];
    for (body, errors) in cases {
        let r = create(&app, &admin, body.clone())
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, errors, "{body}");
    }
    let r = create(
        &app,
        &admin,
        json!({"crontab": "5 * * 123445 *", "script": 1}),
    )
    .await
    .expect_json(StatusCode::BAD_REQUEST);
    assert!(
        r["crontab"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("Not a valid crontab, ")),
        "{r}"
    );
    for tz in ["Europe/Poznan", "Mordor/MountDoom", "Alderaan/Oslo"] {
        let body = json!({"crontab": "5 * * * *", "timezone": tz, "script": 1});
        let r = create(&app, &admin, body)
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(
            r,
            json!({"timezone": [format!("'{tz}' is not a valid time zone.")]})
        );
    }
    let none = app
        .as_key(&admin, "GET", SCHEDULES, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(none["objects"], json!([]));
}

async fn the_schedule_count_is_limited_per_instance(backend: Backend) {
    let clock = clock_at(T0);
    let Some((app, admin)) = app_at(backend, &clock, 2).await else {
        return;
    };
    for _ in 0..2 {
        create(&app, &admin, json!({"interval_sec": 36, "script": 1}))
            .await
            .expect(StatusCode::CREATED);
    }
    let r = create(&app, &admin, json!({"interval_sec": 36, "script": 1}))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"detail": "Schedule count exceeded (2)."}));
    app.as_key(&admin, "DELETE", &format!("{SCHEDULES}1/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    create(&app, &admin, json!({"interval_sec": 36, "script": 1}))
        .await
        .expect(StatusCode::CREATED);
}

/// The traces of schedule `id`, oldest first, once there are `n` (at most 60 s).
async fn traces(app: &TestApp, admin: &str, id: i64, n: usize) -> Vec<Value> {
    let url = format!("{SCHEDULES}{id}/traces/");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = app
            .as_key(admin, "GET", &url, None)
            .await
            .expect_json(StatusCode::OK);
        let got: Vec<Value> = list["objects"].as_array().cloned().unwrap_or_default();
        if got.len() >= n {
            assert_eq!(got.len(), n, "more runs than due times: {got:?}");
            return got.into_iter().rev().collect();
        }
        assert!(Instant::now() < deadline, "{} of {n} runs", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the schedule's run has ended and its next due time is after the clock:
/// from then on nothing runs until the clock moves.
async fn idle(app: &TestApp, admin: &str, id: i64, clock: &AtomicI64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = app
            .as_key(admin, "GET", &format!("{SCHEDULES}{id}/"), None)
            .await
            .expect_json(StatusCode::OK);
        let next = s["scheduled_next"]
            .as_str()
            .and_then(rivia_core::time::parse_strict);
        let jobs = app.store.count_jobs("schedule").await.expect("db");
        if jobs == 0 && next.is_some_and(|n| n > clock.load(Ordering::Acquire)) {
            return s;
        }
        assert!(Instant::now() < deadline, "schedule never settled: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_schedule_runs_once_per_due_time_and_once_after_missed_ones(backend: Backend) {
    let clock = clock_at(T0);
    let Some((app, admin)) = app_at(backend, &clock, 100).await else {
        return;
    };
    create(&app, &admin, json!({"interval_sec": 30, "script": 1}))
        .await
        .expect(StatusCode::CREATED);
    let sec = 1_000_000;
    clock.store(T0 + 30 * sec, Ordering::Release);
    let runs = traces(&app, &admin, 1, 1).await;
    let out: Value = serde_json::from_str(runs[0]["result"]["stdout"].as_str().unwrap_or(""))
        .expect("json stdout");
    assert_eq!(out["args"], json!({}));
    assert_eq!(out["meta"]["executed_by"], "schedule");
    assert_eq!(out["meta"]["executor"], 1);
    let s = idle(&app, &admin, 1, &clock).await;
    assert_eq!(s["scheduled_next"], "2026-01-01T00:01:00.000000Z");
    clock.store(T0 + 60 * sec, Ordering::Release);
    traces(&app, &admin, 1, 2).await;
    idle(&app, &admin, 1, &clock).await;
    // "Down" over five due times: one run, then back on the 30 s grid.
    clock.store(T0 + 200 * sec, Ordering::Release);
    traces(&app, &admin, 1, 3).await;
    let s = idle(&app, &admin, 1, &clock).await;
    assert_eq!(s["scheduled_next"], "2026-01-01T00:03:30.000000Z");
    traces(&app, &admin, 1, 3).await;
    clock.store(T0 + 210 * sec, Ordering::Release);
    let all = traces(&app, &admin, 1, 4).await;
    assert!(all.iter().all(|t| t["status"] == "success"), "{all:?}");
}

async fn edits_and_deletes_take_effect_at_once(backend: Backend) {
    let clock = clock_at(T0);
    let Some((app, admin)) = app_at(backend, &clock, 100).await else {
        return;
    };
    create(&app, &admin, json!({"interval_sec": 30, "script": 1}))
        .await
        .expect(StatusCode::CREATED);
    let url = format!("{SCHEDULES}1/");
    clock.store(T0 + 10_000_000, Ordering::Release);
    let patched = app
        .as_key(&admin, "PATCH", &url, Some(json!({"interval_sec": 600})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(patched["scheduled_next"], "2026-01-01T00:10:10.000000Z");
    // The old due time passes: nothing runs.
    clock.store(T0 + 60_000_000, Ordering::Release);
    idle(&app, &admin, 1, &clock).await;
    traces(&app, &admin, 1, 0).await;
    // Switching to a crontab needs the interval cleared (the platform checks the merged state).
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &url,
            Some(json!({"crontab": "*/5 * * * *"})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        r,
        json!({"non_field_errors": ["You can't specify both crontab and interval_sec."]})
    );
    let cron = app
        .as_key(
            &admin,
            "PATCH",
            &url,
            Some(json!({"crontab": "*/5 * * * *", "interval_sec": null})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(cron["scheduled_next"], "2026-01-01T00:05:00.000000Z");
    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    clock.store(T0 + 3_600_000_000, Ordering::Release);
    app.as_key(&admin, "GET", &format!("{url}traces/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(app.store.count_jobs("schedule").await.expect("db"), 0);
}
