//! The load benchmark's baseline: bare hyper on the same runtime answering every request with
//! a fixed JSON body. The fake's throughput is reported as a share of this, measured in the
//! same run on the same machine.
//!
//! `cargo run --release -p mock-server --example baseline [ADDR] [BODY_FILE]` (prints the URL
//! it listens on). With `BODY_FILE`, that file's bytes are the fixed body instead of
//! `{"status":"ok"}`: the load benchmark uses it to answer the very bytes of the fake's
//! employments list, so that comparison measures the server and not the body size.

use std::convert::Infallible;

use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const BODY: &[u8] = br#"{"status":"ok"}"#;

static FIXED: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();

async fn answer(_: Request<Incoming>) -> Result<Response<axum::body::Body>, Infallible> {
    let body = FIXED.get().cloned().unwrap_or_default();
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let body = match std::env::args().nth(2) {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(BODY),
    };
    FIXED.set(body).ok();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true).ok();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            http1::Builder::new()
                .serve_connection(io, service_fn(answer))
                .await
                .ok();
        });
    }
}
