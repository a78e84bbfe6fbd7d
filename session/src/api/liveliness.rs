//! Liveliness as users see it: [`Liveliness`] (from `Session::liveliness`), tokens,
//! liveliness subscribers and liveliness queries. What travels on the wire, and how a
//! key's liveliness is tracked, is in the routing layer (`routing/liveliness.rs`).

use std::time::Duration;

use super::session::Session;
use super::undeclarer::Undeclarer;
use crate::error::SessionError;
use crate::handlers::{FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::reply::Reply;
use crate::routing::Dispatcher;
use crate::sample::Sample;

impl Session {
    /// Liveliness: tokens, liveliness subscribers and liveliness queries.
    pub fn liveliness(&self) -> Liveliness<'_> {
        Liveliness { session: self }
    }
}

/// Declares liveliness tokens and watches them; see [`Session::liveliness`].
#[derive(Debug)]
pub struct Liveliness<'a> {
    session: &'a Session,
}

impl<'a> Liveliness<'a> {
    /// Declares a token on `key`: other sessions see the key alive until the token is
    /// dropped, undeclared, or this session's transport to them closes.
    pub async fn declare_token(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> Result<LivelinessToken, SessionError> {
        let key = key.try_into().map_err(Into::into)?;
        self.session.check_open()?;
        let routing = &self.session.inner().routing;
        let id = routing.add_token(key.clone());
        Ok(LivelinessToken {
            key,
            handle: Undeclarer::new(routing, id, Dispatcher::remove_token),
        })
    }

    /// Subscribes to the liveliness of the keys matching `key`: a Put when a key gets
    /// its first token, a Delete when its last one goes.
    pub fn declare_subscriber(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> LivelinessSubscriberBuilder<'a, FifoChannel> {
        LivelinessSubscriberBuilder {
            session: self.session,
            key: key.try_into().map_err(Into::into),
            history: false,
            handler: FifoChannel::default(),
        }
    }

    /// Asks which keys matching `key` have a token now; each answer is a Put reply.
    pub fn get(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> LivelinessGetBuilder<'a, FifoChannel> {
        LivelinessGetBuilder {
            session: self.session,
            key: key.try_into().map_err(Into::into),
            timeout: None,
            handler: FifoChannel::default(),
        }
    }
}

/// A declared liveliness token. Dropping it undeclares it.
pub struct LivelinessToken {
    key: OwnedKeyExpr,
    handle: Undeclarer,
}

impl std::fmt::Debug for LivelinessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivelinessToken")
            .field("key", &self.key)
            .finish()
    }
}

impl LivelinessToken {
    /// The token's key.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// Undeclares the token now.
    pub async fn undeclare(mut self) -> Result<(), SessionError> {
        self.handle.undeclare();
        Ok(())
    }
}

/// A liveliness subscriber being declared; `.await` it.
#[must_use = "a liveliness subscriber is declared only when awaited"]
pub struct LivelinessSubscriberBuilder<'a, H> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    history: bool,
    handler: H,
}

impl<H> std::fmt::Debug for LivelinessSubscriberBuilder<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivelinessSubscriberBuilder")
            .field("key", &self.key)
            .field("history", &self.history)
            .finish()
    }
}

impl<'a, H> LivelinessSubscriberBuilder<'a, H> {
    /// Also receive a Put for each matching key alive when the subscriber is declared.
    pub fn history(mut self, history: bool) -> Self {
        self.history = history;
        self
    }

    /// Receives the samples through `f`.
    pub fn callback<F: Fn(Sample) + Send + Sync + 'static>(
        self,
        f: F,
    ) -> LivelinessSubscriberBuilder<'a, F> {
        self.with(f)
    }

    /// Receives the samples through `handler`.
    pub fn with<H2>(self, handler: H2) -> LivelinessSubscriberBuilder<'a, H2> {
        LivelinessSubscriberBuilder {
            session: self.session,
            key: self.key,
            history: self.history,
            handler,
        }
    }
}

impl<H: IntoHandler<Sample>> std::future::IntoFuture for LivelinessSubscriberBuilder<'_, H> {
    type Output = Result<LivelinessSubscriber<H::Handler>, SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready((|| {
            self.session.check_open()?;
            let key = self.key?;
            let (callback, handler) = self.handler.into_handler();
            let routing = &self.session.inner().routing;
            let id = routing.add_live_sub(key.clone(), self.history, callback);
            Ok(LivelinessSubscriber {
                key,
                handler,
                handle: Undeclarer::new(routing, id, Dispatcher::remove_live_sub),
            })
        })())
    }
}

/// A declared liveliness subscriber. Dropping it undeclares it.
pub struct LivelinessSubscriber<H> {
    key: OwnedKeyExpr,
    handler: H,
    handle: Undeclarer,
}

impl<H> std::fmt::Debug for LivelinessSubscriber<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivelinessSubscriber")
            .field("key", &self.key)
            .finish()
    }
}

impl<H> LivelinessSubscriber<H> {
    /// The key expression watched.
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

impl<H> std::ops::Deref for LivelinessSubscriber<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}

/// A liveliness query being sent; `.await` it to get the reply handler, which closes
/// when every face has answered or the timeout has passed.
#[must_use = "a liveliness query is sent only when awaited"]
pub struct LivelinessGetBuilder<'a, H> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    timeout: Option<Duration>,
    handler: H,
}

impl<H> std::fmt::Debug for LivelinessGetBuilder<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivelinessGetBuilder")
            .field("key", &self.key)
            .finish()
    }
}

impl<'a, H> LivelinessGetBuilder<'a, H> {
    /// How long to wait for answers (the config's `queries_default_timeout` by default).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Receives the replies through `f`.
    pub fn callback<F: Fn(Reply) + Send + Sync + 'static>(
        self,
        f: F,
    ) -> LivelinessGetBuilder<'a, F> {
        self.with(f)
    }

    /// Receives the replies through `handler`.
    pub fn with<H2>(self, handler: H2) -> LivelinessGetBuilder<'a, H2> {
        LivelinessGetBuilder {
            session: self.session,
            key: self.key,
            timeout: self.timeout,
            handler,
        }
    }
}

impl<H: IntoHandler<Reply>> std::future::IntoFuture for LivelinessGetBuilder<'_, H> {
    type Output = Result<H::Handler, SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready((|| {
            self.session.check_open()?;
            let key = self.key?;
            let (callback, handler) = self.handler.into_handler();
            let inner = self.session.inner();
            let timeout = self
                .timeout
                .unwrap_or_else(|| inner.config.queries_default_timeout());
            inner.routing.live_get(key, timeout, callback);
            Ok(handler)
        })())
    }
}
