//! A query as a queryable receives it ([`Query`]), and replying to it ([`ReplyBuilder`]).

use std::sync::Arc;

use bytes::Bytes;

use crate::encoding::Encoding;
use crate::error::SessionError;
use crate::key_expr::OwnedKeyExpr;
use crate::reply::ReplyError;
use crate::routing::QueryInner;
use crate::sample::{Sample, SampleKind};
use crate::selector::Selector;

/// A query received by a queryable. Reply with [`Query::reply`]; dropping the last
/// clone tells the querier that this queryable has finished.
#[derive(Clone)]
pub struct Query {
    pub(crate) inner: Arc<QueryInner>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("key_expr", &self.inner.key_expr)
            .field("parameters", &self.inner.parameters)
            .finish()
    }
}

impl Query {
    /// The queried key expression.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.inner.key_expr
    }

    /// The selector's parameters (after `?`), possibly empty.
    pub fn parameters(&self) -> &str {
        &self.inner.parameters
    }

    /// The whole selector, `key[?parameters]`.
    pub fn selector(&self) -> Selector {
        Selector::new(self.inner.key_expr.clone(), self.inner.parameters.as_str())
    }

    /// The payload sent with the query, if any.
    pub fn payload(&self) -> Option<&Bytes> {
        self.inner.payload.as_ref()
    }

    /// The encoding of that payload.
    pub fn encoding(&self) -> &Encoding {
        &self.inner.encoding
    }

    /// User bytes attached to the query.
    pub fn attachment(&self) -> Option<&Bytes> {
        self.inner.attachment.as_ref()
    }

    fn sample(
        &self,
        key: OwnedKeyExpr,
        kind: SampleKind,
        payload: Bytes,
    ) -> Result<Sample, SessionError> {
        if !key.intersects(&self.inner.key_expr) {
            return Err(SessionError::ReplyKeyMismatch {
                reply: key.to_string(),
                query: self.inner.key_expr.to_string(),
            });
        }
        Ok(Sample::new(key, kind, payload))
    }

    fn send(&self, result: Result<Sample, ReplyError>) {
        self.inner.send(result);
    }

    /// Replies with a value on `key` (which must intersect the query's key).
    pub fn reply(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
        payload: impl Into<Bytes>,
    ) -> ReplyBuilder<'_> {
        let sample = key
            .try_into()
            .map_err(Into::into)
            .and_then(|k| self.sample(k, SampleKind::Put, payload.into()));
        ReplyBuilder {
            query: self,
            sample,
        }
    }

    /// Replies with a deletion of `key`.
    pub fn reply_del(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> ReplyBuilder<'_> {
        let sample = key
            .try_into()
            .map_err(Into::into)
            .and_then(|k| self.sample(k, SampleKind::Delete, Bytes::new()));
        ReplyBuilder {
            query: self,
            sample,
        }
    }

    /// Replies with an error; `.await` the builder to send it.
    pub fn reply_err(&self, payload: impl Into<Bytes>) -> ReplyErrBuilder<'_> {
        ReplyErrBuilder {
            query: self,
            error: ReplyError {
                payload: payload.into(),
                encoding: Encoding::default(),
            },
        }
    }

    /// Sends a reply; if the querier's transport queue was full, waits for its writer
    /// (congestion control `Block`, as every reply).
    async fn send_waiting(&self, result: Result<Sample, ReplyError>) {
        crate::routing::with_backpressure(|| self.send(result)).await
    }
}

/// An error reply being prepared; `.await` it to send.
#[must_use = "a reply is sent only when awaited"]
#[derive(Debug)]
pub struct ReplyErrBuilder<'a> {
    query: &'a Query,
    error: ReplyError,
}

impl ReplyErrBuilder<'_> {
    /// Sets the error payload's encoding.
    pub fn encoding(mut self, e: impl Into<Encoding>) -> Self {
        self.error.encoding = e.into();
        self
    }
}

impl<'a> std::future::IntoFuture for ReplyErrBuilder<'a> {
    type Output = Result<(), SessionError>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            self.query.send_waiting(Err(self.error)).await;
            Ok(())
        })
    }
}

/// A reply being prepared; `.await` it to send.
#[must_use = "a reply is sent only when awaited"]
#[derive(Debug)]
pub struct ReplyBuilder<'a> {
    query: &'a Query,
    sample: Result<Sample, SessionError>,
}

impl ReplyBuilder<'_> {
    /// Sets the reply's encoding.
    pub fn encoding(mut self, e: impl Into<Encoding>) -> Self {
        if let Ok(s) = &mut self.sample {
            s.encoding = e.into();
        }
        self
    }

    /// Attaches user bytes.
    pub fn attachment(mut self, a: impl Into<Bytes>) -> Self {
        if let Ok(s) = &mut self.sample {
            s.attachment = Some(a.into());
        }
        self
    }

    /// Sets the reply's timestamp.
    pub fn timestamp(mut self, ts: uhlc::Timestamp) -> Self {
        if let Ok(s) = &mut self.sample {
            s.timestamp = Some(ts);
        }
        self
    }
}

impl<'a> std::future::IntoFuture for ReplyBuilder<'a> {
    type Output = Result<(), SessionError>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let sample = self.sample?;
            self.query.send_waiting(Ok(sample)).await;
            Ok(())
        })
    }
}
