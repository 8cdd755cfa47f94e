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
async fn connections_over_the_cap_wait_until_a_served_one_closes() {
    let api = with_limits(|l| l.max_connections = 1).await;
    let first = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    // Accepted by the kernel, but not served while `first` holds the only slot.
    let mut second = TcpStream::connect(api.server.address())
        .await
        .expect("connects");
    second
        .write_all(get("/api/links/", &api).as_bytes())
        .await
        .expect("sent");
    let mut head = [0u8; 12];
    let early = tokio::time::timeout(TIMEOUT, second.read_exact(&mut head)).await;
    assert!(
        early.is_err(),
        "the second connection was served while the first held the slot"
    );
    drop(first);
    let served = tokio::time::timeout(Duration::from_secs(10), second.read_exact(&mut head)).await;
    assert!(matches!(served, Ok(Ok(_))), "served once the first closed");
    assert_eq!(&head, b"HTTP/1.1 200");
}
