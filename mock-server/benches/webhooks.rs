//! Webhook latency: with `--webhook-delay 0` and a local receiver, the time from the PATCH
//! response (MFA completed) to the receipt of each of the link's two webhooks, over 1,000
//! links completed one after the other. Prints p50, p90, p99 and max.
//!
//! `cargo bench -p mock-server --bench webhooks`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use mock_server::{Config, MockServer};
use serde_json::{Value, json};

type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let link = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["link_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Ok(mut map) = arrivals.lock() {
        map.entry(link).or_default().push(at);
    }
    StatusCode::OK
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let links: usize = std::env::var("BENCH_LINKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let arrivals: Arrivals = Arc::default();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port");
        let receiver = format!("http://{}/hooks", listener.local_addr().expect("bound"));
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(arrivals.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });

        let mut config = Config {
            webhook_url: Some(receiver),
            ..Config::default()
        };
        config.webhooks.delay = Duration::ZERO;
        let server = MockServer::start_with(config).await.expect("the fake starts");
        let (id, password) = server.secret_keys();
        let (id, password) = (id.to_owned(), password.to_owned());
        let client = reqwest::Client::new();
        let base = server.uri();

        let mut completed: Vec<(String, Instant, Instant)> = Vec::with_capacity(links);
        for _ in 0..links {
            let challenge: Value = client
                .post(format!("{base}/api/links/"))
                .basic_auth(&id, Some(&password))
                .json(&json!({"institution": "inss_br_employment", "username": "529.982.247-25", "password": "bench-password"}))
                .send()
                .await
                .expect("register")
                .json()
                .await
                .expect("428 body");
            let element = &challenge[0];
            let sent = Instant::now();
            let response = client
                .patch(format!("{base}/api/links/"))
                .basic_auth(&id, Some(&password))
                .json(&json!({"link": element["link"], "session": element["session"], "token": "123456"}))
                .send()
                .await
                .expect("resume");
            let at = Instant::now();
            assert_eq!(response.status().as_u16(), 200);
            let link = element["link"].as_str().unwrap_or_default().to_owned();
            completed.push((link, sent, at));
        }
        server
            .wait_for_deliveries(links * 2, Duration::from_secs(120))
            .await
            .expect("every webhook delivered");

        let arrivals = arrivals.lock().map(|m| m.clone()).unwrap_or_default();
        let mut samples: Vec<f64> = Vec::with_capacity(links * 2);
        let mut from_request: Vec<f64> = Vec::with_capacity(links * 2);
        let mut early = 0;
        for (link, sent, answered) in &completed {
            for received in arrivals.get(link).into_iter().flatten() {
                from_request.push(received.duration_since(*sent).as_secs_f64() * 1000.0);
                // With delay 0 a webhook may beat the PATCH response to the client: count 0.
                match received.checked_duration_since(*answered) {
                    Some(d) => samples.push(d.as_secs_f64() * 1000.0),
                    None => {
                        early += 1;
                        samples.push(0.0);
                    }
                }
            }
        }
        samples.sort_by(f64::total_cmp);
        from_request.sort_by(f64::total_cmp);
        println!(
            "webhooks: {} links, {} webhooks ({} arrived before the PATCH response was read)",
            links,
            samples.len(),
            early
        );
        println!(
            "PATCH response -> webhook receipt: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&samples, 0.50),
            percentile(&samples, 0.90),
            percentile(&samples, 0.99),
            samples.last().copied().unwrap_or_default()
        );
        println!(
            "PATCH request sent -> webhook receipt: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&from_request, 0.50),
            percentile(&from_request, 0.90),
            percentile(&from_request, 0.99),
            from_request.last().copied().unwrap_or_default()
        );
    });
}
