//! The one builder every declaration goes through: [`Builder`] holds the session, the
//! key (or the error that converting it gave), the options of its kind and, for kinds
//! that deliver something, the handler. `.callback()`/`.with()`, `Debug` and awaiting
//! are written here once; each kind adds its own option setters and says what awaiting
//! makes ([`Resolve`]).

use std::fmt;
use std::future::{IntoFuture, Ready, ready};

use super::session::Session;
use crate::error::SessionError;
use crate::handlers::IntoHandler;
use crate::key_expr::OwnedKeyExpr;

pub(crate) mod sealed {
    /// Only this crate defines kinds of declarations.
    pub trait Sealed {}
}

/// Something being declared (or asked) on a key; `.await` it.
///
/// `O` holds the options of its kind (e.g. [`SubscriberOptions`](crate::declaration::SubscriberOptions))
/// and `H` the handler that receives what it delivers, for the kinds that deliver
/// something ([`Delivers`]). The public names are aliases: [`crate::SubscriberBuilder`],
/// [`crate::query::QueryableBuilder`], [`crate::query::GetBuilder`],
/// [`crate::PublisherBuilder`], [`crate::LivelinessSubscriberBuilder`],
/// [`crate::LivelinessGetBuilder`], [`crate::LivelinessTokenBuilder`] and
/// [`crate::ext::QueryingSubscriberBuilder`].
#[must_use = "nothing is declared or sent until it is awaited"]
pub struct Builder<'a, O, H = ()> {
    pub(crate) session: &'a Session,
    pub(crate) key: Result<OwnedKeyExpr, SessionError>,
    pub(crate) options: O,
    pub(crate) handler: H,
}

/// The kinds whose builder takes a handler: what the handler receives.
pub trait Delivers: sealed::Sealed {
    /// What the handler receives (a sample, a query, a reply).
    type Item;
}

/// What awaiting a [`Builder`] of this kind makes, with handler `H`.
pub trait Resolve<H>: sealed::Sealed + Sized {
    /// What the builder gives when awaited.
    type Output;

    /// Declares (or sends) on `key` in `session`, which is open.
    #[doc(hidden)]
    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError>;
}

impl<'a, O, H> Builder<'a, O, H> {
    /// A builder for `key` in `session`, converting the key now and reporting a bad one
    /// when awaited.
    pub(crate) fn of(
        session: &'a Session,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
        options: O,
        handler: H,
    ) -> Self {
        Builder {
            session,
            key: key.try_into().map_err(Into::into),
            options,
            handler,
        }
    }

    /// Resolves now, without a runtime (what awaiting does).
    pub(crate) fn resolve_now(self) -> Result<O::Output, SessionError>
    where
        O: Resolve<H>,
    {
        self.session.check_open()?;
        let key = self.key?;
        self.options.resolve(self.session, key, self.handler)
    }
}

impl<'a, O: Delivers, H> Builder<'a, O, H> {
    /// Receives through `f`, called on the task that delivers.
    pub fn callback<F>(self, f: F) -> Builder<'a, O, F>
    where
        F: Fn(O::Item) + Send + Sync + 'static,
    {
        self.with(f)
    }

    /// Receives through `handler` (e.g. [`crate::FifoChannel`], [`crate::RingChannel`]).
    pub fn with<H2: IntoHandler<O::Item>>(self, handler: H2) -> Builder<'a, O, H2> {
        Builder {
            session: self.session,
            key: self.key,
            options: self.options,
            handler,
        }
    }
}

impl<O: fmt::Debug, H> fmt::Debug for Builder<'_, O, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("key", &self.key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<O: Resolve<H>, H> IntoFuture for Builder<'_, O, H> {
    type Output = Result<O::Output, SessionError>;
    type IntoFuture = Ready<Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        ready(self.resolve_now())
    }
}
