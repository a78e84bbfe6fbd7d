//! Undeclaring a declared entity exactly once, when asked or when its handle is dropped.

use std::sync::{Arc, Weak};

use crate::routing::Dispatcher;

/// Undeclares one declared entity (subscriber, queryable, token…) exactly once: when
/// asked, or when its handle is dropped.
pub(crate) struct Undeclarer {
    session: Weak<Dispatcher>,
    id: u32,
    undo: fn(&Dispatcher, u32),
    done: bool,
}

impl Undeclarer {
    pub(crate) fn new(session: &Arc<Dispatcher>, id: u32, undo: fn(&Dispatcher, u32)) -> Self {
        Undeclarer {
            session: Arc::downgrade(session),
            id,
            undo,
            done: false,
        }
    }

    pub(crate) fn undeclare(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let Some(inner) = self.session.upgrade() {
            (self.undo)(&inner, self.id);
        }
    }
}

impl Drop for Undeclarer {
    fn drop(&mut self) {
        self.undeclare();
    }
}
