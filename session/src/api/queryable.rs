//! Answering queries: `Session::declare_queryable` (a [`QueryableBuilder`] to await) and
//! the declared [`Queryable`].

use std::sync::Arc;

use super::builder::{Builder, Delivers, Resolve, sealed::Sealed};
use super::declared::{Declared, kind};
use super::query::Query;
use super::session::Session;
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
        Builder::of(
            self,
            key,
            QueryableOptions::default(),
            FifoChannel::default(),
        )
    }
}

/// A queryable being declared; `.await` it.
pub type QueryableBuilder<'a, H> = Builder<'a, QueryableOptions, H>;

/// A declared queryable. Dropping it undeclares it, locally and remotely.
pub type Queryable<H> = Declared<kind::Queryable, H>;

/// The options of a queryable (set through [`QueryableBuilder`]).
#[derive(Clone, Debug, Default)]
pub struct QueryableOptions {
    complete: bool,
    origin: Locality,
}

impl<H> QueryableBuilder<'_, H> {
    /// Declares that this queryable answers for every key its expression covers.
    pub fn complete(mut self, complete: bool) -> Self {
        self.options.complete = complete;
        self
    }

    /// Restricts where queries may come from.
    pub fn allowed_origin(mut self, origin: Locality) -> Self {
        self.options.origin = origin;
        self
    }
}

impl Sealed for QueryableOptions {}

impl Delivers for QueryableOptions {
    type Item = Query;
}

impl<H: IntoHandler<Query>> Resolve<H> for QueryableOptions {
    type Output = Queryable<H::Handler>;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError> {
        let (callback, handler) = handler.into_handler();
        let routing = &session.inner.routing;
        let id = routing.add_queryable(LocalQueryable {
            key: key.clone(),
            complete: self.complete,
            callback: Arc::new(move |inner| callback(Query { inner })),
            origin: self.origin,
        });
        Ok(Declared::new(
            key,
            handler,
            routing,
            id,
            Dispatcher::remove_queryable,
        ))
    }
}
