//! One tenant's state in memory, and the only way it changes: [`Op`]s, each applied whole
//! and answered with its exact inverse, so a change that cannot be persisted is undone.
//! The derived indexes (links in creation order, unconfirmed links, scheduled refreshes,
//! session expiries, record owners, tokens in issue order) are kept here, in one place, by the ops that touch what they index.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::Error;
use super::links::{Link, LinkStatus};
use super::records::LinkData;
use super::sessions::MfaSession;
use super::tokens::WidgetToken;

/// One tenant's links, sessions and fetched data.
#[derive(Debug, Default)]
pub(crate) struct TenantState {
    /// A B-tree, not a hash map, as `sessions`: it grows a node at a time, where a hash map's
    /// doubling moved every entry at once under the tenant lock (in a 10 s registration
    /// flood that took the 428's p99 from 7–8 ms to 15–19 ms). Boxed: nodes hold pointers,
    /// not whole links.
    pub(super) links: BTreeMap<Uuid, Box<Link>>,
    /// The links in creation order (`seq`): a list walks a page of it, not every link.
    pub(super) by_seq: BTreeMap<u64, Uuid>,
    pub(super) sessions: BTreeMap<String, MfaSession>,
    /// Each link's sessions (a link's row carries them).
    pub(super) link_sessions: BTreeSet<(Uuid, String)>,
    /// Session expiries in order, for sweeping.
    pub(super) expiries: BTreeSet<(DateTime<Utc>, String)>,
    /// Links created unconfirmed, by creation time, for sweeping the abandoned ones.
    pub(super) unconfirmed: BTreeSet<(DateTime<Utc>, Uuid)>,
    /// Recurrent links by their next scheduled refresh ([`Link::next_refresh`]).
    pub(super) due: BTreeSet<(DateTime<Utc>, Uuid)>,
    pub(super) next_seq: u64,
    /// When the recent sync deletions happened (rolling minute).
    pub(super) sync_deletes: VecDeque<DateTime<Utc>>,
    /// Owners and employments fetched, by link.
    pub(super) data: HashMap<Uuid, LinkData>,
    /// Which link each owner or employment id belongs to.
    pub(super) record_links: HashMap<Uuid, Uuid>,
    /// Widget access tokens by their `jti`.
    pub(super) tokens: HashMap<Uuid, WidgetToken>,
    /// The tokens in the order they were issued (and so expire), for the cap and sweeping.
    pub(super) token_order: BTreeSet<(DateTime<Utc>, Uuid)>,
    /// Bumped after every committed change: caches of rendered bodies compare it. Shared
    /// with the tenant so readers need no lock, and kept across a reset: a version that went
    /// back to an earlier number could match a body rendered before the reset.
    pub(super) version: Arc<AtomicU64>,
}

/// Everything a reset takes away (and an undone reset puts back).
#[derive(Debug, Default)]
pub(crate) struct Contents {
    links: BTreeMap<Uuid, Box<Link>>,
    by_seq: BTreeMap<u64, Uuid>,
    sessions: BTreeMap<String, MfaSession>,
    link_sessions: BTreeSet<(Uuid, String)>,
    expiries: BTreeSet<(DateTime<Utc>, String)>,
    unconfirmed: BTreeSet<(DateTime<Utc>, Uuid)>,
    due: BTreeSet<(DateTime<Utc>, Uuid)>,
    next_seq: u64,
    sync_deletes: VecDeque<DateTime<Utc>>,
    data: HashMap<Uuid, LinkData>,
    record_links: HashMap<Uuid, Uuid>,
    tokens: HashMap<Uuid, WidgetToken>,
    token_order: BTreeSet<(DateTime<Utc>, Uuid)>,
}

/// One change of a tenant's state: set a key to a value (`None` removes it).
#[derive(Debug)]
pub(crate) enum Op {
    Link(Uuid, Option<Box<Link>>),
    Data(Uuid, Option<LinkData>),
    Session(String, Option<MfaSession>),
    /// Boxed: a token is far bigger than the other ops.
    Token(Uuid, Option<Box<WidgetToken>>),
    NextSeq(u64),
    SyncDeletes(VecDeque<DateTime<Utc>>),
    /// Forget everything (a reset); its inverse puts it all back.
    Clear,
    Restore(Box<Contents>),
}

impl TenantState {
    pub(super) fn bump(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// The sessions of one link.
    pub(super) fn sessions_of(&self, link: Uuid) -> impl Iterator<Item = (&String, &MfaSession)> {
        self.link_sessions
            .range((link, String::new())..)
            .take_while(move |(l, _)| *l == link)
            .filter_map(|(_, id)| self.sessions.get_key_value(id))
    }

    pub(super) fn link(&self, id: Uuid) -> Result<&Link, Error> {
        self.links.get(&id).map(|l| &**l).ok_or(Error::NotFound)
    }

    /// Applies `op` and returns the op that undoes it.
    pub(super) fn apply(&mut self, op: Op) -> Op {
        match op {
            Op::Link(id, link) => {
                let new_unconfirmed = link
                    .as_ref()
                    .filter(|l| l.status == LinkStatus::Unconfirmed)
                    .map(|l| l.created_at);
                let new_seq = link.as_ref().map(|l| l.seq);
                let new_due = link.as_ref().and_then(|l| l.next_refresh());
                let old = match link {
                    Some(link) => self.links.insert(id, link),
                    None => self.links.remove(&id),
                };
                if let Some(old) = &old {
                    self.by_seq.remove(&old.seq);
                    if let Some(due) = old.next_refresh() {
                        self.due.remove(&(due, id));
                    }
                    if old.status == LinkStatus::Unconfirmed {
                        self.unconfirmed.remove(&(old.created_at, id));
                    }
                }
                if let Some(seq) = new_seq {
                    self.by_seq.insert(seq, id);
                }
                if let Some(due) = new_due {
                    self.due.insert((due, id));
                }
                if let Some(created_at) = new_unconfirmed {
                    self.unconfirmed.insert((created_at, id));
                }
                Op::Link(id, old)
            }
            Op::Data(link, data) => {
                let old = self.data.remove(&link);
                for id in old.iter().flat_map(LinkData::ids) {
                    self.record_links.remove(&id);
                }
                if let Some(data) = data {
                    for id in data.ids() {
                        self.record_links.insert(id, link);
                    }
                    self.data.insert(link, data);
                }
                Op::Data(link, old)
            }
            Op::Session(id, session) => {
                let old = self.sessions.remove(&id);
                if let Some(old) = &old {
                    self.expiries.remove(&(old.expires_at, id.clone()));
                    self.link_sessions.remove(&(old.link, id.clone()));
                }
                if let Some(session) = session {
                    self.expiries.insert((session.expires_at, id.clone()));
                    self.link_sessions.insert((session.link, id.clone()));
                    self.sessions.insert(id.clone(), session);
                }
                Op::Session(id, old)
            }
            Op::Token(jti, token) => {
                let old = self.tokens.remove(&jti);
                if let Some(old) = &old {
                    self.token_order.remove(&(old.issued_at, jti));
                }
                if let Some(token) = token {
                    self.token_order.insert((token.issued_at, jti));
                    self.tokens.insert(jti, *token);
                }
                Op::Token(jti, old.map(Box::new))
            }
            Op::NextSeq(seq) => Op::NextSeq(std::mem::replace(&mut self.next_seq, seq)),
            Op::SyncDeletes(times) => {
                Op::SyncDeletes(std::mem::replace(&mut self.sync_deletes, times))
            }
            Op::Clear => Op::Restore(Box::new(Contents {
                links: std::mem::take(&mut self.links),
                by_seq: std::mem::take(&mut self.by_seq),
                sessions: std::mem::take(&mut self.sessions),
                link_sessions: std::mem::take(&mut self.link_sessions),
                expiries: std::mem::take(&mut self.expiries),
                unconfirmed: std::mem::take(&mut self.unconfirmed),
                due: std::mem::take(&mut self.due),
                next_seq: std::mem::take(&mut self.next_seq),
                sync_deletes: std::mem::take(&mut self.sync_deletes),
                data: std::mem::take(&mut self.data),
                record_links: std::mem::take(&mut self.record_links),
                tokens: std::mem::take(&mut self.tokens),
                token_order: std::mem::take(&mut self.token_order),
            })),
            Op::Restore(contents) => {
                let c = *contents;
                self.links = c.links;
                self.by_seq = c.by_seq;
                self.sessions = c.sessions;
                self.link_sessions = c.link_sessions;
                self.expiries = c.expiries;
                self.unconfirmed = c.unconfirmed;
                self.due = c.due;
                self.next_seq = c.next_seq;
                self.sync_deletes = c.sync_deletes;
                self.data = c.data;
                self.record_links = c.record_links;
                self.tokens = c.tokens;
                self.token_order = c.token_order;
                Op::Clear
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(at: i64) -> MfaSession {
        MfaSession {
            link: Uuid::nil(),
            expires_at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn every_op_is_undone_exactly_by_its_inverse() {
        let mut state = TenantState::default();
        let first = state.apply(Op::Session("s".into(), Some(session(10))));
        let second = state.apply(Op::Session("s".into(), Some(session(20))));
        assert_eq!(state.expiries.len(), 1, "the index follows the session");
        state.apply(second);
        assert_eq!(
            state.sessions.get("s").map(|s| s.expires_at.timestamp()),
            Some(10)
        );
        state.apply(first);
        assert!(state.sessions.is_empty() && state.expiries.is_empty());

        state.apply(Op::NextSeq(5));
        let undo = state.apply(Op::Clear);
        assert_eq!(state.next_seq, 0);
        state.apply(undo);
        assert_eq!(state.next_seq, 5);
    }
}
