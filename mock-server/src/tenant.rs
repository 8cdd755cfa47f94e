//! Which key pair a request belongs to: the tenant id every layer passes around.

/// A tenant: the position of its key pair among the configured ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(usize);

impl TenantId {
    /// The tenant at this position of the configured key pairs.
    pub(crate) fn from_index(index: usize) -> Self {
        Self(index)
    }

    pub(crate) fn index(self) -> usize {
        self.0
    }
}
