//! Querying: `Session::get` (a [`GetBuilder`] to await for the reply handler).

use std::time::Duration;

use bytes::Bytes;

use super::session::Session;
use crate::encoding::Encoding;
use crate::error::SessionError;
use crate::handlers::{FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::reply::{ConsolidationMode, QueryTarget, Reply};
use crate::routing::{Dispatch, QueryExec, Source};
use crate::sample::Locality;

impl Session {
    /// Sends a query; `.await` the builder to get the reply handler (a bounded FIFO
    /// channel unless `.callback()` or `.with()` says otherwise). The handler's channel
    /// closes when every target has answered or the timeout has passed.
    pub fn get(&self, selector: &str) -> GetBuilder<'_, FifoChannel> {
        GetBuilder::new(self, selector)
    }
}

/// A `get` being prepared; `.await` it to send the query and get the reply handler.
#[must_use = "a query is sent only when awaited"]
pub struct GetBuilder<'a, H> {
    pub(crate) session: &'a Session,
    pub(crate) selector: Result<(OwnedKeyExpr, String), SessionError>,
    pub(crate) target: QueryTarget,
    pub(crate) consolidation: ConsolidationMode,
    pub(crate) timeout: Option<Duration>,
    pub(crate) payload: Option<Bytes>,
    pub(crate) encoding: Encoding,
    pub(crate) attachment: Option<Bytes>,
    pub(crate) destination: Locality,
    pub(crate) handler: H,
}

impl<H> std::fmt::Debug for GetBuilder<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetBuilder")
            .field("selector", &self.selector)
            .finish()
    }
}

impl<'a> GetBuilder<'a, FifoChannel> {
    pub(crate) fn new(session: &'a Session, selector: &str) -> Self {
        let selector = match selector.split_once('?') {
            Some((k, p)) => OwnedKeyExpr::autocanonize_str(k).map(|k| (k, p.to_string())),
            None => OwnedKeyExpr::autocanonize_str(selector).map(|k| (k, String::new())),
        }
        .map_err(SessionError::from);
        GetBuilder {
            session,
            selector,
            target: QueryTarget::default(),
            consolidation: ConsolidationMode::default(),
            timeout: None,
            payload: None,
            encoding: Encoding::default(),
            attachment: None,
            destination: Locality::Any,
            handler: FifoChannel::default(),
        }
    }
}

impl<'a, H> GetBuilder<'a, H> {
    /// Which queryables to ask.
    pub fn target(mut self, t: QueryTarget) -> Self {
        self.target = t;
        self
    }

    /// How to merge replies for the same key.
    pub fn consolidation(mut self, c: ConsolidationMode) -> Self {
        self.consolidation = c;
        self
    }

    /// How long to wait for replies (the config's `queries_default_timeout` by default).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Sends a payload with the query.
    pub fn payload(mut self, p: impl Into<Bytes>) -> Self {
        self.payload = Some(p.into());
        self
    }

    /// The encoding of the payload.
    pub fn encoding(mut self, e: impl Into<Encoding>) -> Self {
        self.encoding = e.into();
        self
    }

    /// Attaches user bytes.
    pub fn attachment(mut self, a: impl Into<Bytes>) -> Self {
        self.attachment = Some(a.into());
        self
    }

    /// Restricts which queryables may answer (this session's, remote ones, or both).
    pub fn allowed_destination(mut self, d: Locality) -> Self {
        self.destination = d;
        self
    }

    /// Receives replies through `f`.
    pub fn callback<F: Fn(Reply) + Send + Sync + 'static>(self, f: F) -> GetBuilder<'a, F> {
        self.with(f)
    }

    /// Receives replies through `handler`.
    pub fn with<H2>(self, handler: H2) -> GetBuilder<'a, H2> {
        GetBuilder {
            session: self.session,
            selector: self.selector,
            target: self.target,
            consolidation: self.consolidation,
            timeout: self.timeout,
            payload: self.payload,
            encoding: self.encoding,
            attachment: self.attachment,
            destination: self.destination,
            handler,
        }
    }
}

impl<H: IntoHandler<Reply>> std::future::IntoFuture for GetBuilder<'_, H> {
    type Output = Result<H::Handler, SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready((|| {
            self.session.check_open()?;
            let (key, parameters) = self.selector?;
            let inner = self.session.inner();
            let (callback, handler) = self.handler.into_handler();
            let mode = self.consolidation.resolve(&parameters);
            let exec = QueryExec::local(callback, mode, inner.zid);
            let d = Dispatch {
                key,
                parameters,
                target: self.target,
                consolidation: self.consolidation,
                payload: self.payload,
                encoding: self.encoding,
                attachment: self.attachment,
                timeout: self
                    .timeout
                    .unwrap_or_else(|| inner.config.queries_default_timeout()),
                destination: self.destination,
            };
            inner.routing.dispatch(Source::Local, d, exec);
            Ok(handler)
        })())
    }
}
