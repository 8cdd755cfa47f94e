//! What Belvo notifies about (belvo-api.md §7), typed: the resources, and every webhook the
//! fake sends with its type, process, code and `data`.

use serde_json::{Value, json};
use uuid::Uuid;

/// The data a historical update fetches (a link's `fetch_resources` entries it serves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Owners,
    Employments,
}

impl Resource {
    /// As Belvo names it in `fetch_resources`, `resources` and `webhook_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owners => "OWNERS",
            Self::Employments => "EMPLOYMENTS",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Owners, Self::Employments]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// One webhook's meaning.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// `<RESOURCE>` `historical_update`: the data was fetched; `total` records are stored.
    HistoricalUpdate { resource: Resource, total: usize },
    /// `LINK` `link_deleted`, after an asynchronous delete.
    LinkDeleted,
    /// `LINK` `invalid_credentials`: a refresh found the login failing.
    InvalidCredentials {
        code: &'static str,
        message: String,
        status: u16,
    },
}

/// Something to notify a tenant's webhook URL about.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub link_id: Uuid,
    /// The request that caused it (hyphenated in the payload, as Belvo's examples show).
    pub request_id: Uuid,
    pub external_id: Option<String>,
    pub notice: Notice,
}

impl Event {
    pub fn webhook_type(&self) -> &'static str {
        match &self.notice {
            Notice::HistoricalUpdate { resource, .. } => resource.as_str(),
            Notice::LinkDeleted | Notice::InvalidCredentials { .. } => "LINK",
        }
    }

    pub fn process_type(&self) -> &'static str {
        match &self.notice {
            Notice::HistoricalUpdate { .. } => "historical_update",
            Notice::LinkDeleted => "link_deleted",
            Notice::InvalidCredentials { .. } => "recurrent_update",
        }
    }

    pub fn webhook_code(&self) -> &'static str {
        match &self.notice {
            Notice::HistoricalUpdate { .. } => "historical_update",
            Notice::LinkDeleted => "link_deleted",
            Notice::InvalidCredentials { .. } => "invalid_credentials",
        }
    }

    /// The payload's `data`.
    pub fn data(&self) -> Value {
        match &self.notice {
            Notice::HistoricalUpdate {
                resource: Resource::Owners,
                total,
            } => json!({"total_owners": total}),
            Notice::HistoricalUpdate {
                resource: Resource::Employments,
                total,
            } => json!({"total_employments": total}),
            Notice::LinkDeleted => json!({}),
            Notice::InvalidCredentials {
                code,
                message,
                status,
            } => json!({"error_code": code, "error_message": message, "status": status}),
        }
    }

    /// The body Belvo POSTs, under the delivery's `webhook_id`.
    pub fn payload(&self, webhook_id: &str) -> Value {
        json!({
            "webhook_id": webhook_id,
            "webhook_type": self.webhook_type(),
            "process_type": self.process_type(),
            "webhook_code": self.webhook_code(),
            "link_id": self.link_id,
            "request_id": self.request_id.hyphenated().to_string(),
            "external_id": self.external_id,
            "data": self.data(),
        })
    }
}

/// The `&'static` names a stored delivery may carry (`webhook_type`, `webhook_code`).
pub fn known_name(name: &str) -> Option<&'static str> {
    [
        "OWNERS",
        "EMPLOYMENTS",
        "LINK",
        "historical_update",
        "invalid_credentials",
        "link_deleted",
    ]
    .into_iter()
    .find(|k| *k == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_historical_update_payload_has_belvos_keys_in_order() {
        let event = Event {
            link_id: Uuid::nil(),
            request_id: Uuid::nil(),
            external_id: None,
            notice: Notice::HistoricalUpdate {
                resource: Resource::Employments,
                total: 3,
            },
        };
        let payload = event.payload("w");
        let keys: Vec<&str> = payload
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "webhook_id",
                "webhook_type",
                "process_type",
                "webhook_code",
                "link_id",
                "request_id",
                "external_id",
                "data"
            ]
        );
        assert_eq!(payload["data"], json!({"total_employments": 3}));
        assert_eq!(
            payload["request_id"],
            "00000000-0000-0000-0000-000000000000"
        );
    }
}
