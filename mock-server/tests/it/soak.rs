//! Soak (about 60 s; `cargo test -p mock-server --test it -- --ignored soak`, run by .ci/run):
//! sustained create/read/delete load on the release-like binary while the webhook receiver
//! fails half of its requests. Zero 5xx; every webhook ends delivered or failed with its
//! attempts recorded; resident memory stays flat once warm.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Behaviour, Receiver, spawn_binary};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about 60 s: run with --ignored soak (CI does)"]
async fn soak_under_load_with_a_receiver_failing_half_its_requests() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    receiver.fail_every_other();
    let args = [
        "--log-level",
        "error",
        "--mfa",
        "never",
        "--webhook-delay",
        "0",
        "--webhook-retries",
        "5",
        "--webhook-backoff",
        "0.05",
        "--webhook-url",
        &receiver.url,
    ];
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let server = spawn_binary(&refs);
    let pid = server.child.id();
    let base = server.base.clone();

    let client = reqwest::Client::new();
    let auth = ("sandbox-secret-id", "sandbox-secret-password");
    let requests = Arc::new(AtomicU64::new(0));
    let server_errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..16u64 {
        let (client, base) = (client.clone(), base.clone());
        let (requests, server_errors) = (requests.clone(), server_errors.clone());
        workers.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let count = |status: u16| {
                    requests.fetch_add(1, Ordering::Relaxed);
                    if status >= 500 {
                        server_errors.fetch_add(1, Ordering::Relaxed);
                    }
                };
                let created = client
                    .post(format!("{base}/api/links/"))
                    .basic_auth(auth.0, Some(auth.1))
                    .json(&json!({"institution": "inss_br_employment", "username": "529.982.247-25",
                                  "password": "soak-password", "external_id": format!("soak-{worker}-{i}")}))
                    .send()
                    .await;
                let Ok(created) = created else { continue };
                count(created.status().as_u16());
                let link: Value = created.json().await.unwrap_or_default();
                let Some(id) = link["id"].as_str().map(str::to_owned) else { continue };
                for path in [format!("/api/owners/?link={id}"), format!("/api/br/employments/?link={id}&page_size=2")] {
                    if let Ok(r) = client.get(format!("{base}{path}")).basic_auth(auth.0, Some(auth.1)).send().await {
                        count(r.status().as_u16());
                    }
                }
                if let Ok(r) = client
                    .delete(format!("{base}/api/links/{id}/"))
                    .basic_auth(auth.0, Some(auth.1))
                    .header("X-Belvo-Request-Mode", "async")
                    .send()
                    .await
                {
                    count(r.status().as_u16());
                }
            }
        });
    }
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        samples.push((started.elapsed().as_secs(), rss_kib(pid)));
    }
    while workers.join_next().await.is_some() {}

    // Every delivery reaches a final state (retries are 50 ms apart here).
    let mut deliveries = Value::Null;
    for _ in 0..300 {
        let reply = client
            .get(format!("{base}/_mock/webhooks?status=pending"))
            .basic_auth(auth.0, Some(auth.1))
            .send()
            .await
            .expect("the fake answers");
        let body: Value = reply.json().await.unwrap_or_default();
        if body["count"] == 0 {
            deliveries = client
                .get(format!("{base}/_mock/webhooks?page_size=1000"))
                .basic_auth(auth.0, Some(auth.1))
                .send()
                .await
                .expect("the fake answers")
                .json()
                .await
                .unwrap_or_default();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);

    let total = requests.load(Ordering::Relaxed);
    println!("soak: {total} requests in {seconds} s, RSS samples (s, KiB): {samples:?}");
    assert!(total > 1000, "the load ran: {total} requests");
    assert_eq!(server_errors.load(Ordering::Relaxed), 0, "no 5xx");
    let results = deliveries["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !results.is_empty(),
        "no pending delivery left and the journal is readable"
    );
    let (mut delivered, mut failed) = (0, 0);
    for d in &results {
        let attempts = d["attempts"].as_array().map_or(0, Vec::len);
        match d["status"].as_str() {
            Some("delivered") => {
                delivered += 1;
                assert!(attempts >= 1);
                let last = &d["attempts"][attempts - 1];
                assert!(
                    last["status_code"]
                        .as_u64()
                        .is_some_and(|c| (200..300).contains(&c))
                );
            }
            Some("failed") => {
                failed += 1;
                assert_eq!(attempts, 6, "1 attempt + 5 retries recorded");
            }
            other => panic!("a delivery ended {other:?}"),
        }
    }
    println!("soak: journal holds {delivered} delivered, {failed} failed");
    assert!(delivered > 0);
    // Flat memory once warm: the last sample is within 25 % (plus 16 MiB) of the warm one.
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= 15)
        .map_or(0, |(_, kib)| *kib);
    let last = samples.last().map_or(0, |(_, kib)| *kib);
    assert!(
        last <= warm + warm / 4 + 16 * 1024,
        "RSS grew from {warm} KiB to {last} KiB"
    );
}
