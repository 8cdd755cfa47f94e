//! The load benchmark's baseline: bare hyper on the same runtime answering every request with
//! a fixed JSON body. The fake's throughput is reported as a share of this, measured in the
//! same run on the same machine.
//!
//! With `BASELINE_WORKERS=N` it deals connections to N single-threaded runtimes with the fake's
//! own [`mock_server::server::Workers`], the fake's layout; without, it is the canonical
//! `#[tokio::main]` server on tokio's multi-thread scheduler.
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

async fn serve_connection(stream: tokio::net::TcpStream) {
    http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(answer))
        .await
        .ok();
}

fn main() -> std::io::Result<()> {
    // BASELINE_WORKERS=N: connections dealt to N single-threaded runtimes, as the fake does;
    // otherwise the canonical layout, tokio's multi-thread scheduler.
    let workers = match std::env::var("BASELINE_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) => Some(mock_server::server::Workers::start(n)?),
        None => None,
    };
    let runtime = match workers {
        Some(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(accept(workers.as_ref()))
}

async fn accept(workers: Option<&mock_server::server::Workers>) -> std::io::Result<()> {
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
        match workers {
            Some(workers) => workers.serve(stream, serve_connection),
            None => {
                tokio::spawn(serve_connection(stream));
            }
        }
    }
}
