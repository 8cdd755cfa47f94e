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

/// A webhook's `webhook_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookType {
    Owners,
    Employments,
    Link,
}

impl WebhookType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owners => "OWNERS",
            Self::Employments => "EMPLOYMENTS",
            Self::Link => "LINK",
        }
    }
}

/// A webhook's `webhook_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookCode {
    HistoricalUpdate,
    NewOwnersAvailable,
    NewEmploymentsAvailable,
    LinkDeleted,
    InvalidCredentials,
    TokenRequired,
}

impl WebhookCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HistoricalUpdate => "historical_update",
            Self::NewOwnersAvailable => "new_owners_available",
            Self::NewEmploymentsAvailable => "new_employments_available",
            Self::LinkDeleted => "link_deleted",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TokenRequired => "token_required",
        }
    }
}

/// Compared with the wire name (`"EMPLOYMENTS"`), as tests and filters have it.
impl PartialEq<&str> for WebhookType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<&str> for WebhookCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for WebhookType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for WebhookCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One webhook's meaning.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// `<RESOURCE>` `historical_update`: the data was fetched; `total` records are stored.
    HistoricalUpdate { resource: Resource, total: usize },
    /// `<RESOURCE>` `new_<resource>_available`: a scheduled refresh found `count` records new
    /// or changed (belvo-api.md §11.3).
    NewRecords { resource: Resource, count: usize },
    /// `LINK` `link_deleted`, after an asynchronous delete.
    LinkDeleted,
    /// `LINK` `token_required`: the institution wants a new MFA token to keep the recurrent
    /// link updated.
    TokenRequired,
    /// `LINK` `invalid_credentials`: a refresh found the login failing.
    InvalidCredentials {
        code: &'static str,
        message: String,
        status: u16,
    },
}

/// Belvo's message for a login that needs a token (the 428's, and the LINK webhook's).
pub const TOKEN_REQUIRED_MESSAGE: &str = "A MFA token is required by the institution to login";

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
    pub fn webhook_type(&self) -> WebhookType {
        match &self.notice {
            Notice::HistoricalUpdate { resource, .. } | Notice::NewRecords { resource, .. } => {
                match resource {
                    Resource::Owners => WebhookType::Owners,
                    Resource::Employments => WebhookType::Employments,
                }
            }
            Notice::LinkDeleted | Notice::InvalidCredentials { .. } | Notice::TokenRequired => {
                WebhookType::Link
            }
        }
    }

    pub fn process_type(&self) -> &'static str {
        match &self.notice {
            Notice::HistoricalUpdate { .. } => "historical_update",
            Notice::LinkDeleted => "link_deleted",
            Notice::NewRecords { .. }
            | Notice::InvalidCredentials { .. }
            | Notice::TokenRequired => "recurrent_update",
        }
    }

    pub fn webhook_code(&self) -> WebhookCode {
        match &self.notice {
            Notice::HistoricalUpdate { .. } => WebhookCode::HistoricalUpdate,
            Notice::NewRecords {
                resource: Resource::Owners,
                ..
            } => WebhookCode::NewOwnersAvailable,
            Notice::NewRecords {
                resource: Resource::Employments,
                ..
            } => WebhookCode::NewEmploymentsAvailable,
            Notice::LinkDeleted => WebhookCode::LinkDeleted,
            Notice::InvalidCredentials { .. } => WebhookCode::InvalidCredentials,
            Notice::TokenRequired => WebhookCode::TokenRequired,
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
            Notice::NewRecords {
                resource: Resource::Owners,
                count,
            } => json!({"new_owners": count}),
            Notice::NewRecords {
                resource: Resource::Employments,
                count,
            } => json!({"new_employments": count}),
            Notice::LinkDeleted => json!({}),
            Notice::TokenRequired => json!({
                "error_code": "token_required",
                "error_message": TOKEN_REQUIRED_MESSAGE,
                "status": 428
            }),
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
            "webhook_type": self.webhook_type().as_str(),
            "process_type": self.process_type(),
            "webhook_code": self.webhook_code().as_str(),
            "link_id": self.link_id,
            "request_id": self.request_id.hyphenated().to_string(),
            "external_id": self.external_id,
            "data": self.data(),
        })
    }
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
