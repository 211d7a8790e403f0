//! Hooks for tests of what saves leave behind (feature `test-hooks`): the operations an
//! incremental save issues on its file, recorded in order, from which a test builds
//! the file a power loss at any point could leave.

use std::sync::{Arc, Mutex};

/// One operation an incremental save issued on its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoOp {
    /// `bytes` written at `offset`.
    Write {
        /// Where.
        offset: u64,
        /// What.
        bytes: Vec<u8>,
    },
    /// `fdatasync`: every operation before it is durable.
    Sync,
    /// The file cut (or extended) to this length.
    SetLen(u64),
}

/// A shared log of [`IoOp`]s; see [`SaveOptions::io_log`](crate::SaveOptions::io_log).
#[derive(Debug, Clone, Default)]
pub struct IoLog(Arc<Mutex<Vec<IoOp>>>);

impl IoLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The operations recorded so far, leaving the log empty.
    #[must_use]
    pub fn take(&self) -> Vec<IoOp> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub(crate) fn push(&self, op: IoOp) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(op);
    }
}
