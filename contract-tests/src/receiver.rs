//! The local webhook receiver: records every JSON body POSTed to it and wakes waiters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Inbox {
    payloads: Mutex<Vec<Value>>,
    arrived: Notify,
}

/// A receiver listening on a local address, answering 200 to every POST.
#[derive(Debug)]
pub struct Receiver {
    pub address: SocketAddr,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(State(inbox): State<Arc<Inbox>>, body: Bytes) -> StatusCode {
    let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut payloads) = inbox.payloads.lock() {
        payloads.push(payload);
    }
    inbox.arrived.notify_waiters();
    StatusCode::OK
}

impl Receiver {
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let inbox = Arc::new(Inbox::default());
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(Self {
            address,
            inbox,
            task,
        })
    }

    pub fn payloads(&self) -> Vec<Value> {
        self.inbox
            .payloads
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Waits until `done` holds for the payloads, or `timeout` passes; returns them.
    pub async fn wait(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let payloads = self.payloads();
            if done(&payloads) {
                return payloads;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.payloads();
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
