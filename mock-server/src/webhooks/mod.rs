//! Webhooks: per-tenant configuration, the delivery journal (every event with its attempts)
//! and the dispatcher that POSTs due deliveries with retries.
//!
//! The journal is plain synchronous state the store writes events into; the dispatcher is the
//! only async part, and the only place that speaks HTTP to receivers.

pub mod dispatcher;
pub mod journal;

pub use journal::{Attempt, Delivery, DeliveryStatus, Event, Journal, Settings, WebhookConfig};
