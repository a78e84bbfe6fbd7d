//! Subscribing: `Session::declare_subscriber` (a [`SubscriberBuilder`] to await) and the
//! declared [`Subscriber`].

use super::session::Session;
use super::undeclarer::Undeclarer;
use crate::error::SessionError;
use crate::handlers::{FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::routing::Dispatcher;
use crate::sample::{Locality, Sample};

impl Session {
    /// Declares a subscriber on `key` (a bounded FIFO channel unless `.callback()` or
    /// `.with()` says otherwise).
    pub fn declare_subscriber(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> SubscriberBuilder<'_, FifoChannel> {
        SubscriberBuilder {
            session: self,
            key: key.try_into().map_err(Into::into),
            handler: FifoChannel::default(),
            origin: Locality::Any,
        }
    }
}

/// A subscriber being declared; `.await` it.
#[must_use = "a subscriber is declared only when awaited"]
pub struct SubscriberBuilder<'a, H> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    handler: H,
    origin: Locality,
}

impl<H> std::fmt::Debug for SubscriberBuilder<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberBuilder")
            .field("key", &self.key)
            .finish()
    }
}

impl<'a, H> SubscriberBuilder<'a, H> {
    /// Receives samples through `f`, called on the task that delivers them.
    pub fn callback<F: Fn(Sample) + Send + Sync + 'static>(self, f: F) -> SubscriberBuilder<'a, F> {
        self.with(f)
    }

    /// Receives samples through `handler` (e.g. [`FifoChannel`], [`crate::handlers::RingChannel`]).
    pub fn with<H2>(self, handler: H2) -> SubscriberBuilder<'a, H2> {
        SubscriberBuilder {
            session: self.session,
            key: self.key,
            handler,
            origin: self.origin,
        }
    }

    /// Restricts where samples may come from.
    pub fn allowed_origin(mut self, origin: Locality) -> Self {
        self.origin = origin;
        self
    }
}

impl<'a, H> std::future::IntoFuture for SubscriberBuilder<'a, H>
where
    H: IntoHandler<Sample>,
{
    type Output = Result<Subscriber<H::Handler>, SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready((|| {
            self.session.check_open()?;
            let key = self.key?;
            let (callback, handler) = self.handler.into_handler();
            let routing = &self.session.inner.routing;
            let id = routing.add_subscriber(key.clone(), callback, self.origin);
            Ok(Subscriber {
                key,
                handler,
                handle: Undeclarer::new(routing, id, Dispatcher::remove_subscriber),
            })
        })())
    }
}

/// A declared subscriber. Dropping it undeclares it, locally and remotely.
pub struct Subscriber<H> {
    key: OwnedKeyExpr,
    handler: H,
    handle: Undeclarer,
}

impl<H> std::fmt::Debug for Subscriber<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("key", &self.key)
            .finish()
    }
}

impl<H> Subscriber<H> {
    /// The subscribed key expression.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// The receiving handle (e.g. a `flume::Receiver<Sample>`).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Undeclares the subscriber now.
    pub async fn undeclare(mut self) -> Result<(), SessionError> {
        self.handle.undeclare();
        Ok(())
    }
}

impl<H> std::ops::Deref for Subscriber<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}
