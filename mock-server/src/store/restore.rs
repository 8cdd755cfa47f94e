//! The read back from the database at start-up: every tenant's links with their fetched data
//! and live sessions, and its widget tokens, straight into memory (no transaction: nothing is running yet).

use uuid::Uuid;

use super::Store;
use super::rows::Row;
use super::state::Op;
use super::tx::Tx;
use crate::db::{Durable, DurableError, Table};
use crate::tenant::TenantId;

impl Store {
    /// Loads `db` into the (empty) store. Returns the links whose rows carry sessions that
    /// expired while the server was down: their rows are rewritten later, by the writer
    /// ([`Store::rewrite`]), so start-up does not spend its time on housekeeping before it
    /// answers.
    pub fn restore(&self, db: &Durable) -> Result<Vec<(TenantId, Uuid, u64)>, DurableError> {
        let now = self.clock().now();
        let mut stale = Vec::new();
        for (tenant, _, body) in db.load(Table::Links)? {
            let Some(t) = self.tenants().find(|t| self.name(*t) == tenant) else {
                continue;
            };
            let Some(row) = Row::parse(&body) else {
                tracing::warn!("skipping a link row this build cannot read: {body:.120}");
                continue;
            };
            let link = row.link;
            let id = link.id;
            let seq = link.seq;
            let mut state = self.lock(t);
            state.next_seq = state.next_seq.max(link.seq + 1);
            // Through the ops, so the derived indexes are built as every change builds them.
            state.apply(Op::Link(id, Some(Box::new(link))));
            if let Some(data) = row.data {
                state.apply(Op::Data(id, Some(data)));
            }
            let before = row.sessions.len();
            for (key, session) in row
                .sessions
                .into_iter()
                .map(|s| s.into_session(id))
                .filter(|(_, s)| s.expires_at > now)
            {
                state.apply(Op::Session(key, Some(session)));
            }
            if state.sessions_of(id).count() < before {
                stale.push((t, id, seq));
            }
        }
        for (tenant, _, body) in db.load(Table::WidgetTokens)? {
            let Some(t) = self.tenants().find(|t| self.name(*t) == tenant) else {
                continue;
            };
            match serde_json::from_str::<super::tokens::WidgetToken>(&body) {
                Ok(token) => {
                    self.lock(t)
                        .apply(Op::Token(token.jti, Some(Box::new(token))));
                }
                Err(_) => {
                    tracing::warn!("skipping a token row this build cannot read: {body:.120}")
                }
            }
        }
        Ok(stale)
    }

    /// Writes the rows of links read back with expired sessions, as they are in memory.
    pub fn rewrite(&self, tx: &mut Tx<'_>, links: &[(TenantId, Uuid, u64)]) {
        for (tenant, id, seq) in links {
            // Only the link read back: a reset meanwhile may have given its seq to another.
            if tx
                .state(*tenant)
                .links
                .get(id)
                .is_some_and(|l| l.seq == *seq)
            {
                tx.touch(*tenant, *id, *seq);
            }
        }
    }

    /// How many links a tenant has.
    #[cfg(test)]
    pub(crate) fn link_count(&self, tenant: TenantId) -> usize {
        self.lock(tenant).links.len()
    }
}
