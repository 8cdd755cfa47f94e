//! The read back from the database at start-up: every tenant's links, live sessions and
//! fetched data, straight into memory (no transaction: nothing is running yet).

use uuid::Uuid;

use super::Store;
use super::links::{Link, LinkStatus};
use super::records::LinkData;
use super::sessions::MfaSession;
use crate::db::{Durable, DurableError, Table, Write};
use crate::tenant::TenantId;

impl Store {
    /// Loads `db` into the (empty) store. Returns the rows of sessions that expired while the
    /// server was down: they are deleted later, by the writer, so start-up does not spend its
    /// time on housekeeping before it answers.
    pub fn restore(&self, db: &Durable) -> Result<Vec<Write>, DurableError> {
        let tenant_of = |name: &str| self.tenants().find(|t| self.name(*t) == name);
        for (tenant, _, body) in db.load(Table::Links)? {
            let (Some(t), Some(link)) = (tenant_of(&tenant), Link::from_row(&body)) else {
                continue;
            };
            let mut state = self.lock(t);
            state.next_seq = state.next_seq.max(link.seq + 1);
            if link.status == LinkStatus::Unconfirmed {
                state.unconfirmed.insert((link.created_at, link.id));
            }
            state.links.insert(link.id, Box::new(link));
        }
        for (tenant, key, body) in db.load(Table::LinkData)? {
            let (Some(t), Ok(link), Ok(data)) = (
                tenant_of(&tenant),
                Uuid::try_parse(&key),
                serde_json::from_str::<LinkData>(&body),
            ) else {
                continue;
            };
            let mut state = self.lock(t);
            for id in data.ids() {
                state.record_links.insert(id, link);
            }
            state.data.insert(link, data);
        }
        let now = self.clock().now();
        let mut expired = Vec::new();
        for (tenant, key, body) in db.load(Table::Sessions)? {
            let (Some(t), Ok(session)) = (
                tenant_of(&tenant),
                serde_json::from_str::<MfaSession>(&body),
            ) else {
                continue;
            };
            if session.expires_at > now {
                let mut state = self.lock(t);
                state.expiries.insert((session.expires_at, key.clone()));
                state.sessions.insert(key, session);
            } else {
                expired.push(Write::Delete(Table::Sessions, tenant, key));
            }
        }
        Ok(expired)
    }

    /// How many links a tenant has (for the start-up banner and tests).
    pub fn link_count(&self, tenant: TenantId) -> usize {
        self.lock(tenant).links.len()
    }
}
