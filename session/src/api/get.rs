//! Querying: `Session::get` (a [`GetBuilder`] to await for the reply handler).

use std::time::Duration;

use bytes::Bytes;

use super::builder::{Builder, Delivers, Resolve, sealed::Sealed};
use super::session::Session;
use crate::encoding::Encoding;
use crate::error::SessionError;
use crate::handlers::{FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::reply::{ConsolidationMode, QueryTarget, Reply};
use crate::routing::{Dispatch, QueryExec, Source};
use crate::sample::Locality;
use crate::selector::Selector;

impl Session {
    /// Sends a query for `selector` (`key[?parameters]`); `.await` the builder to get the
    /// reply handler (a bounded FIFO channel unless `.callback()` or `.with()` says
    /// otherwise). The handler's channel closes when every target has answered or the
    /// timeout has passed.
    pub fn get(
        &self,
        selector: impl TryInto<Selector, Error = impl Into<SessionError>>,
    ) -> GetBuilder<'_, FifoChannel> {
        let (key, parameters) = match selector.try_into() {
            Ok(s) => {
                let (key, parameters) = s.into_parts();
                (Ok(key), parameters)
            }
            Err(e) => (Err(e.into()), String::new()),
        };
        Builder {
            session: self,
            key,
            options: GetOptions {
                parameters,
                ..GetOptions::default()
            },
            handler: FifoChannel::default(),
        }
    }
}

/// A `get` being prepared; `.await` it to send the query and get the reply handler.
pub type GetBuilder<'a, H> = Builder<'a, GetOptions, H>;

/// The options of a query (set through [`GetBuilder`]).
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    parameters: String,
    target: QueryTarget,
    consolidation: ConsolidationMode,
    pub(crate) timeout: Option<Duration>,
    payload: Option<Bytes>,
    encoding: Encoding,
    attachment: Option<Bytes>,
    destination: Locality,
}

impl<H> GetBuilder<'_, H> {
    /// Which queryables to ask.
    pub fn target(mut self, t: QueryTarget) -> Self {
        self.options.target = t;
        self
    }

    /// How to merge replies for the same key.
    pub fn consolidation(mut self, c: ConsolidationMode) -> Self {
        self.options.consolidation = c;
        self
    }

    /// How long to wait for replies (the config's `queries_default_timeout` by default).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.options.timeout = Some(t);
        self
    }

    /// Sends a payload with the query.
    pub fn payload(mut self, p: impl Into<Bytes>) -> Self {
        self.options.payload = Some(p.into());
        self
    }

    /// The encoding of the payload.
    pub fn encoding(mut self, e: impl Into<Encoding>) -> Self {
        self.options.encoding = e.into();
        self
    }

    /// Attaches user bytes.
    pub fn attachment(mut self, a: impl Into<Bytes>) -> Self {
        self.options.attachment = Some(a.into());
        self
    }

    /// Restricts which queryables may answer (this session's, remote ones, or both).
    pub fn allowed_destination(mut self, d: Locality) -> Self {
        self.options.destination = d;
        self
    }
}

impl Sealed for GetOptions {}

impl Delivers for GetOptions {
    type Item = Reply;
}

impl<H: IntoHandler<Reply>> Resolve<H> for GetOptions {
    type Output = H::Handler;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError> {
        let inner = &session.inner;
        let (callback, handler) = handler.into_handler();
        let mode = self.consolidation.resolve(&self.parameters);
        let exec = QueryExec::local(callback, mode, inner.zid);
        let d = Dispatch {
            key,
            parameters: self.parameters,
            target: self.target,
            consolidation: self.consolidation,
            payload: self.payload,
            encoding: self.encoding,
            attachment: self.attachment,
            timeout: self
                .timeout
                .unwrap_or_else(|| inner.config.queries_default_timeout()),
            destination: self.destination,
            passed: Default::default(),
        };
        inner.routing.dispatch(Source::Local, d, exec);
        Ok(handler)
    }
}
