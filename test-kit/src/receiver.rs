//! The local webhook receiver: answers every POST, whatever its path, the way its
//! [`Behaviour`] says, records each request (path, headers, JSON body) and wakes waiters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use tokio::sync::Notify;

/// What the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// This status to every request.
    Answer(u16),
    /// 500 to every other request (the 1st, 3rd, … received), 200 to the rest.
    Alternate,
    /// 200 after this long.
    Slow(Duration),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request path, e.g. `/hooks`.
    pub path: String,
    pub headers: HeaderMap,
    /// The `Authorization` header, when present and visible ASCII.
    pub authorization: Option<String>,
    /// The `Content-Type` header, when present and visible ASCII.
    pub content_type: Option<String>,
    /// The JSON body; `null` when the body is not JSON.
    pub body: Value,
}

#[derive(Debug)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    arrived: Notify,
}

/// A receiver on a local address, recording every request until it is dropped.
#[derive(Debug)]
pub struct Receiver {
    /// Where it listens.
    pub address: SocketAddr,
    /// `http://<address>/hooks`, a URL to configure as the webhook target (any path works).
    pub url: String,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let entry = Received {
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
    };
    // The count decides Alternate's answer: taken under the same lock as the push, so
    // concurrent requests still alternate.
    let seen = match inbox.received.lock() {
        Ok(mut r) => {
            r.push(entry);
            r.len()
        }
        Err(_) => 0,
    };
    inbox.arrived.notify_waiters();
    let now = inbox
        .behaviour
        .lock()
        .map(|b| *b)
        .unwrap_or(Behaviour::Answer(200));
    match now {
        Behaviour::Alternate if seen % 2 == 1 => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::Alternate => StatusCode::OK,
        Behaviour::Answer(code) => {
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Behaviour::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
    }
}

impl Receiver {
    /// Listens on `listen` (port 0: any free port) and answers as `behaviour` says.
    pub async fn bind(listen: SocketAddr, behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let inbox = Arc::new(Inbox {
            received: Mutex::new(Vec::new()),
            behaviour: Mutex::new(behaviour),
            arrived: Notify::new(),
        });
        // A fallback rather than one route: contract-tests' users point a tunnel or Belvo's
        // dashboard at a path of their choosing.
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(Self {
            address,
            url: format!("http://{address}/hooks"),
            inbox,
            task,
        })
    }

    /// A receiver on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test cannot go on without one).
    pub async fn start(behaviour: Behaviour) -> Self {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), behaviour)
            .await
            .unwrap_or_else(|e| panic!("a loopback port: {e}"))
    }

    /// A receiver on an address chosen before (to bring a "down" receiver up).
    ///
    /// # Panics
    /// When the address is taken.
    pub async fn start_on(address: SocketAddr, behaviour: Behaviour) -> Self {
        Self::bind(address, behaviour)
            .await
            .unwrap_or_else(|e| panic!("the port {address} is free again: {e}"))
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inbox
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The JSON body of every request so far, in arrival order.
    pub fn payloads(&self) -> Vec<Value> {
        self.inbox
            .received
            .lock()
            .map(|r| r.iter().map(|r| r.body.clone()).collect())
            .unwrap_or_default()
    }

    /// Answers 500 to every other request from now on.
    pub fn fail_every_other(&self) {
        self.set(Behaviour::Alternate);
    }

    /// Answers as `behaviour` says from now on.
    pub fn set(&self, behaviour: Behaviour) {
        if let Ok(mut b) = self.inbox.behaviour.lock() {
            *b = behaviour;
        }
    }

    /// Waits until `done` holds for the requests, or `timeout` passes; returns them.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a request arriving in between still wakes us.
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let received = self.received();
            if done(&received) {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.received();
            }
        }
    }

    /// Waits until `done` holds for the payloads, or `timeout` passes; returns them.
    pub async fn wait(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_until(timeout, |all| {
            let payloads: Vec<Value> = all.iter().map(|r| r.body.clone()).collect();
            done(&payloads)
        })
        .await
        .into_iter()
        .map(|r| r.body)
        .collect()
    }

    /// Waits until at least `count` requests arrived, or `timeout` passes; returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(timeout, |all| all.len() >= count).await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Stop listening, so the port is free and nothing outlives the test.
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, body: &'static str) -> u16 {
        reqwest::Client::new()
            .post(url)
            .header("authorization", "Bearer t")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the receiver answers: {e}"))
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn records_path_headers_and_body_and_alternates_when_asked() {
        let receiver = Receiver::start(Behaviour::Answer(200)).await;
        receiver.fail_every_other();
        let statuses = [
            post(&receiver.url, r#"{"n":1}"#).await,
            post(&receiver.url, r#"{"n":2}"#).await,
            post(
                &format!("http://{}/elsewhere", receiver.address),
                "not json",
            )
            .await,
        ];
        assert_eq!(statuses, [500, 200, 500]);
        let got = receiver.wait_for(3, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].path, "/hooks");
        assert_eq!(got[2].path, "/elsewhere");
        assert_eq!(got[0].authorization.as_deref(), Some("Bearer t"));
        assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(got[0].headers["authorization"], "Bearer t");
        assert_eq!(
            receiver.payloads(),
            [
                serde_json::json!({"n": 1}),
                serde_json::json!({"n": 2}),
                Value::Null
            ]
        );
    }

    #[tokio::test]
    async fn waiting_ends_at_the_timeout_with_what_arrived() {
        let receiver = Receiver::start(Behaviour::Answer(204)).await;
        assert_eq!(post(&receiver.url, "{}").await, 204);
        let got = receiver
            .wait(Duration::from_millis(50), |p| p.len() >= 2)
            .await;
        assert_eq!(got, [serde_json::json!({})]);
    }
}
