//! Answering queries: `Session::declare_queryable` (a [`QueryableBuilder`] to await) and
//! the declared [`Queryable`].

use std::sync::Arc;

use super::query::Query;
use super::session::Session;
use super::undeclarer::Undeclarer;
use crate::error::SessionError;
use crate::handlers::{FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::routing::{Dispatcher, LocalQueryable};
use crate::sample::Locality;

impl Session {
    /// Declares a queryable on `key`.
    pub fn declare_queryable(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> QueryableBuilder<'_, FifoChannel> {
        QueryableBuilder {
            session: self,
            key: key.try_into().map_err(Into::into),
            complete: false,
            origin: Locality::Any,
            handler: FifoChannel::default(),
        }
    }
}

/// A queryable being declared; `.await` it.
#[must_use = "a queryable is declared only when awaited"]
pub struct QueryableBuilder<'a, H> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    complete: bool,
    origin: Locality,
    handler: H,
}

impl<H> std::fmt::Debug for QueryableBuilder<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryableBuilder")
            .field("key", &self.key)
            .finish()
    }
}

impl<'a, H> QueryableBuilder<'a, H> {
    /// Declares that this queryable answers for every key its expression covers.
    pub fn complete(mut self, complete: bool) -> Self {
        self.complete = complete;
        self
    }

    /// Restricts where queries may come from.
    pub fn allowed_origin(mut self, origin: Locality) -> Self {
        self.origin = origin;
        self
    }

    /// Receives queries through `f`.
    pub fn callback<F: Fn(Query) + Send + Sync + 'static>(self, f: F) -> QueryableBuilder<'a, F> {
        self.with(f)
    }

    /// Receives queries through `handler`.
    pub fn with<H2>(self, handler: H2) -> QueryableBuilder<'a, H2> {
        QueryableBuilder {
            session: self.session,
            key: self.key,
            complete: self.complete,
            origin: self.origin,
            handler,
        }
    }
}

impl<H: IntoHandler<Query>> std::future::IntoFuture for QueryableBuilder<'_, H> {
    type Output = Result<Queryable<H::Handler>, SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready((|| {
            self.session.check_open()?;
            let key = self.key?;
            let (callback, handler) = self.handler.into_handler();
            let routing = &self.session.inner().routing;
            let id = routing.add_queryable(LocalQueryable {
                key: key.clone(),
                complete: self.complete,
                callback: Arc::new(move |inner| callback(Query { inner })),
                origin: self.origin,
            });
            Ok(Queryable {
                key,
                handler,
                handle: Undeclarer::new(routing, id, Dispatcher::remove_queryable),
            })
        })())
    }
}

/// A declared queryable. Dropping it undeclares it, locally and remotely.
pub struct Queryable<H> {
    key: OwnedKeyExpr,
    handler: H,
    handle: Undeclarer,
}

impl<H> std::fmt::Debug for Queryable<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queryable").field("key", &self.key).finish()
    }
}

impl<H> Queryable<H> {
    /// The key expression it answers for.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// Undeclares the queryable now.
    pub async fn undeclare(mut self) -> Result<(), SessionError> {
        self.handle.undeclare();
        Ok(())
    }
}

impl<H> std::ops::Deref for Queryable<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}
