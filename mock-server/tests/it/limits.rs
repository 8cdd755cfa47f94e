//! Connection and request limits over raw TCP: URI and header sizes (Belvo error arrays), the
//! header read timeout that closes idle and half-open connections, and the connection cap.

use std::time::Duration;

use mock_server::Config;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Api, assert_schema};

const TIMEOUT: Duration = Duration::from_millis(300);

async fn with_limits(edit: impl FnOnce(&mut mock_server::server::Limits)) -> Api {
    let mut config = Config::default();
    edit(&mut config.limits);
    Api::start_with(config).await
}

/// Reads until the server closes the connection; what it sent, and how long that took.
/// Fails the test if the connection is still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = tokio::time::Instant::now();
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "the connection was still open after {within:?}"
    );
    (received, started.elapsed())
}

fn get(path: &str, api: &Api) -> String {
    let (id, password) = api.server.secret_keys();
    let auth = base64_basic(id, password);
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\r\n",
        api.server.address()
    )
}

fn base64_basic(id: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{password}"))
}

#[tokio::test]
async fn a_uri_over_8_kib_is_a_414_array() {
    let api = Api::start().await;
    let path = format!("/api/links/?external_id={}", "a".repeat(8 * 1024));
    api.get(&path).await.expect_error(
        414,
        "uri_too_long",
        "The request URI exceeds the limit of 8192 bytes.",
    );
}

#[tokio::test]
async fn headers_over_16_kib_are_a_431_array() {
    let api = Api::start().await;
    let big = "b".repeat(16 * 1024);
    api.raw(Method::GET, "/api/links/", &[("X-Big", &big)], Vec::new())
        .await
        .expect_error(
            431,
            "headers_too_large",
            "The request headers exceed the limit of 16384 bytes.",
        );
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed_after_the_header_read_timeout() {
    let api = with_limits(|l| l.header_read_timeout = TIMEOUT).await;
    let mut stream = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    let (received, waited) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(received.is_empty(), "nothing is answered to no request");
    assert!(
        waited >= TIMEOUT - Duration::from_millis(50),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn headers_left_half_sent_are_cut_off_at_the_header_read_timeout() {
    let api = with_limits(|l| l.header_read_timeout = TIMEOUT).await;
    let mut stream = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    stream
        .write_all(b"GET /api/links/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("sent");
    let (received, waited) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        received.is_empty(),
        "a request never completed gets no answer"
    );
    assert!(
        waited >= TIMEOUT - Duration::from_millis(50),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_is_answered_then_closed_once_idle_past_the_timeout() {
    let api = with_limits(|l| l.header_read_timeout = TIMEOUT).await;
    let mut stream = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    stream
        .write_all(get("/api/links/", &api).as_bytes())
        .await
        .expect("sent");
    let (received, waited) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let (_, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_schema("links_page.json", &body);
    assert_eq!(body["count"], 0, "{body}");
    assert!(
        waited >= TIMEOUT - Duration::from_millis(50),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn at_the_cap_the_connection_idle_longest_is_closed_to_admit_a_new_one() {
    let api = with_limits(|l| l.max_connections = 2).await;
    let mut oldest = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    // The second one is served and then idles on keep-alive, after the first opened.
    let mut kept = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    kept.write_all(get("/api/links/", &api).as_bytes())
        .await
        .expect("sent");
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).await.expect("answered");
    let mut fresh = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    fresh
        .write_all(get("/api/links/", &api).as_bytes())
        .await
        .expect("sent");
    let served = tokio::time::timeout(Duration::from_secs(10), fresh.read_exact(&mut head)).await;
    assert!(matches!(served, Ok(Ok(_))), "the fresh client was served");
    assert_eq!(&head, b"HTTP/1.1 200");
    let (received, _) = read_until_closed(&mut oldest, Duration::from_secs(10)).await;
    assert!(received.is_empty(), "the evicted connection got no answer");
}

/// Headers and the first byte of a 100-byte body, then nothing.
fn stalled_upload(api: &Api) -> String {
    let (id, password) = api.server.secret_keys();
    format!(
        "POST /api/links/ HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        api.server.address(),
        base64_basic(id, password)
    )
}

#[tokio::test]
async fn an_upload_that_stops_is_cut_off_at_the_stall_timeout_and_nothing_is_stored() {
    let api = with_limits(|l| {
        l.stall_timeout = TIMEOUT;
        l.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut stream = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    // The watchdog arms for the (long) header timeout first; the body's stall timeout, which
    // ends sooner, must move it forward.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(stalled_upload(&api).as_bytes())
        .await
        .expect("sent");
    let (received, waited) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(received.is_empty(), "a body never completed gets no answer");
    assert!(
        waited >= TIMEOUT - Duration::from_millis(50),
        "closed after {waited:?}"
    );
    let links = api.get("/api/links/").await;
    let links = links.expect(200, "links_page.json");
    assert_eq!(links["count"], 0, "{links}");
}

#[tokio::test]
async fn stalled_uploads_at_the_cap_do_not_lock_out_a_fresh_client() {
    let api = with_limits(|l| l.max_connections = 20).await;
    let mut stalled = Vec::new();
    for _ in 0..25 {
        let mut stream = TcpStream::connect(api.server.address())
            .await
            .expect("connects");
        stream
            .write_all(stalled_upload(&api).as_bytes())
            .await
            .expect("sent");
        stalled.push(stream);
    }
    let mut fresh = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    fresh
        .write_all(get("/api/links/", &api).as_bytes())
        .await
        .expect("sent");
    let mut head = [0u8; 12];
    let served = tokio::time::timeout(Duration::from_secs(10), fresh.read_exact(&mut head)).await;
    assert!(matches!(served, Ok(Ok(_))), "the fresh client was served");
    assert_eq!(&head, b"HTTP/1.1 200");
}

#[tokio::test]
async fn a_request_with_more_than_100_headers_is_a_431_array() {
    let api = Api::start().await;
    let names: Vec<String> = (0..101).map(|i| format!("X-H{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    api.raw(Method::GET, "/api/links/", &headers, Vec::new())
        .await
        .expect_error(
            431,
            "headers_too_large",
            "The request has more than 100 headers.",
        );
}

#[tokio::test]
async fn a_header_value_with_a_control_byte_is_refused_by_hyper_with_a_bare_400() {
    // One of the README's exceptions: hyper rejects the request before the fake sees it and
    // offers no way to choose the answer.
    let api = Api::start().await;
    let mut stream = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    stream
        .write_all(b"GET /api/links/ HTTP/1.1\r\nHost: x\r\nX-Bad: a\x7fb\r\n\r\n")
        .await
        .expect("sent");
    let (received, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
}
