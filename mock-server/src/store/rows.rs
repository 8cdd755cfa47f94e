//! The database rows: a widget token, and a link with its fetched data and its open MFA
//! sessions, so a change of a link writes one row, keyed by the link's `seq` (creation order), so new rows
//! land at the end of the table and its index instead of on random pages: a group commit of
//! registrations touches a few pages, not one per registration.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::links::Link;
use super::records::LinkData;
use super::sessions::MfaSession;
use super::state::TenantState;

#[derive(serde::Serialize)]
struct RowRef<'a> {
    #[serde(flatten)]
    link: &'a Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a LinkData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sessions: Vec<SessionRef<'a>>,
}

#[derive(serde::Serialize)]
struct SessionRef<'a> {
    id: &'a str,
    expires_at: DateTime<Utc>,
}

/// A link row read back.
pub(super) struct Row {
    pub link: Link,
    pub data: Option<LinkData>,
    pub sessions: Vec<SessionRow>,
}

/// What a row carries besides the link's own fields.
#[derive(serde::Deserialize)]
struct Extras {
    #[serde(default)]
    data: Option<LinkData>,
    #[serde(default)]
    sessions: Vec<SessionRow>,
}

impl Row {
    /// Reads a row (the link's fields and its extras are read from the same object; rows of
    /// schema 1 have no extras). `None` for a row this build cannot understand.
    pub fn parse(body: &str) -> Option<Self> {
        let link: Link = serde_json::from_str(body).ok()?;
        let extras: Extras = serde_json::from_str(body).ok()?;
        Some(Self {
            link,
            data: extras.data,
            sessions: extras.sessions,
        })
    }
}

#[derive(serde::Deserialize)]
pub(super) struct SessionRow {
    pub id: String,
    pub expires_at: DateTime<Utc>,
}

impl SessionRow {
    pub fn into_session(self, link: Uuid) -> (String, MfaSession) {
        (
            self.id,
            MfaSession {
                link,
                expires_at: self.expires_at,
            },
        )
    }
}

/// The row key of the link with this `seq`: zero-padded, so keys sort in creation order.
pub(super) fn key(seq: u64) -> String {
    format!("{seq:020}")
}

/// The row of link `id` as it is in memory now; `None` when the link is gone.
pub(super) fn link_row(state: &TenantState, id: Uuid) -> Option<String> {
    let link = state.links.get(&id)?;
    let row = RowRef {
        link,
        data: state.data.get(&id),
        sessions: state
            .sessions_of(id)
            .map(|(sid, s)| SessionRef {
                id: sid,
                expires_at: s.expires_at,
            })
            .collect(),
    };
    Some(serde_json::to_string(&row).unwrap_or_default())
}

/// The row of widget token `jti` as it is in memory now (the token as JSON); `None` when it
/// is gone. Tokens have a table of their own, keyed by `jti`.
pub(super) fn token_row(state: &TenantState, jti: Uuid) -> Option<String> {
    state
        .tokens
        .get(&jti)
        .map(|token| serde_json::to_string(token).unwrap_or_default())
}
