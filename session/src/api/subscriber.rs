//! Subscribing: `Session::declare_subscriber` (a [`SubscriberBuilder`] to await) and the
//! declared [`Subscriber`].

use super::builder::{Builder, Delivers, Resolve, sealed::Sealed};
use super::declared::{Declared, kind};
use super::session::Session;
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
        Builder::of(
            self,
            key,
            SubscriberOptions::default(),
            FifoChannel::default(),
        )
    }
}

/// A subscriber being declared; `.await` it.
pub type SubscriberBuilder<'a, H> = Builder<'a, SubscriberOptions, H>;

/// A declared subscriber. Dropping it undeclares it, locally and remotely.
pub type Subscriber<H> = Declared<kind::Subscriber, H>;

/// The options of a subscriber (set through [`SubscriberBuilder`]).
#[derive(Clone, Debug, Default)]
pub struct SubscriberOptions {
    origin: Locality,
}

impl<H> SubscriberBuilder<'_, H> {
    /// Restricts where samples may come from.
    pub fn allowed_origin(mut self, origin: Locality) -> Self {
        self.options.origin = origin;
        self
    }
}

impl Sealed for SubscriberOptions {}

impl Delivers for SubscriberOptions {
    type Item = Sample;
}

impl<H: IntoHandler<Sample>> Resolve<H> for SubscriberOptions {
    type Output = Subscriber<H::Handler>;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError> {
        let (callback, handler) = handler.into_handler();
        let routing = &session.inner.routing;
        let id = routing.add_subscriber(key.clone(), callback, self.origin);
        Ok(Declared::new(
            key,
            handler,
            routing,
            id,
            Dispatcher::remove_subscriber,
        ))
    }
}
