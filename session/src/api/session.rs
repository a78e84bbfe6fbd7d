//! The session handle: opening and closing, and what a session says about itself.
//! Declaring and publishing are in the files named after what they make
//! (`publisher.rs`, `subscriber.rs`, `queryable.rs`, `get.rs`, `liveliness.rs`, `info.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use plexus_link::Locator;
use plexus_transport::wire::{WhatAmI, ZenohId};
use uhlc::Timestamp;

use crate::config::Config;
use crate::error::SessionError;
use crate::runtime::Runtime;

/// Opens a session with `config`: listens, connects (retrying in the background), and
/// starts serving.
pub async fn open(config: Config) -> Result<Session, SessionError> {
    Session::open(config).await
}

/// A handle to an open session. Cheap to clone; the session closes when the last
/// handle is dropped or [`Session::close`] is called.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Runtime>,
    _guard: Arc<CloseGuard>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("zid", &self.inner.zid)
            .field("mode", &self.inner.whatami)
            .finish()
    }
}

/// Closes the session when the last [`Session`] handle goes away.
struct CloseGuard(Arc<Runtime>);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        let inner = self.0.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { inner.close().await });
        } else {
            inner.closed.store(true, Ordering::Release);
        }
    }
}

impl Session {
    async fn open(config: Config) -> Result<Session, SessionError> {
        let inner = Runtime::start(config).await?;
        Ok(Session {
            _guard: Arc::new(CloseGuard(inner.clone())),
            inner,
        })
    }

    /// This session's id.
    pub fn zid(&self) -> ZenohId {
        self.inner.zid
    }

    /// This session's mode.
    pub fn mode(&self) -> WhatAmI {
        self.inner.whatami
    }

    /// The configuration the session was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The locators the session listens on (ports resolved).
    pub fn locators(&self) -> Vec<Locator> {
        self.inner
            .manager()
            .map(|m| m.locators())
            .unwrap_or_default()
    }

    /// A new timestamp from the session's clock, if timestamping is on.
    pub fn new_timestamp(&self) -> Option<Timestamp> {
        self.inner.routing.hlc.as_ref().map(|h| h.new_timestamp())
    }

    /// Closes every transport; later operations fail with [`SessionError::Closed`].
    pub async fn close(&self) {
        self.inner.close().await;
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    pub(crate) fn check_open(&self) -> Result<(), SessionError> {
        if self.is_closed() {
            Err(SessionError::Closed)
        } else {
            Ok(())
        }
    }
}
