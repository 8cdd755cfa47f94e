//! Webhooks: per-tenant configuration, the delivery journal (every event with its attempts)
//! and the dispatcher that POSTs due deliveries with retries.
//!
//! Nothing here knows the store: events arrive typed ([`crate::event::Event`]) from the app's
//! writer, which persists them with the change that caused them (an outbox) before the
//! journal schedules them. The dispatcher is the only async part, and the only place that
//! speaks HTTP to receivers.

mod attempts;
mod delivery;
pub(crate) mod dispatcher;
mod journal;

pub use delivery::{Attempt, Delivery, DeliveryStatus, Job, Settings, WebhookConfig};
pub use journal::Journal;
