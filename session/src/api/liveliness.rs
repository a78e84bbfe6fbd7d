//! Liveliness as users see it: [`Liveliness`] (from `Session::liveliness`), tokens,
//! liveliness subscribers and liveliness queries. What travels on the wire, and how a
//! key's liveliness is tracked, is in the routing layer (`routing/liveliness.rs`).

use std::time::Duration;

use super::builder::{Builder, Delivers, Resolve, sealed::Sealed};
use super::declared::{Declared, kind};
use super::session::Session;
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
    pub fn declare_token(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> LivelinessTokenBuilder<'a> {
        Builder::of(self.session, key, TokenOptions, ())
    }

    /// Subscribes to the liveliness of the keys matching `key`: a Put when a key gets
    /// its first token, a Delete when its last one goes.
    pub fn declare_subscriber(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> LivelinessSubscriberBuilder<'a, FifoChannel> {
        Builder::of(
            self.session,
            key,
            LivelinessSubscriberOptions::default(),
            FifoChannel::default(),
        )
    }

    /// Asks which keys matching `key` have a token now; each answer is a Put reply.
    pub fn get(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> LivelinessGetBuilder<'a, FifoChannel> {
        Builder::of(
            self.session,
            key,
            LivelinessGetOptions::default(),
            FifoChannel::default(),
        )
    }
}

/// A liveliness token being declared; `.await` it.
pub type LivelinessTokenBuilder<'a> = Builder<'a, TokenOptions>;

/// A declared liveliness token. Dropping it undeclares it.
pub type LivelinessToken = Declared<kind::LivelinessToken>;

/// A liveliness subscriber being declared; `.await` it.
pub type LivelinessSubscriberBuilder<'a, H> = Builder<'a, LivelinessSubscriberOptions, H>;

/// A declared liveliness subscriber. Dropping it undeclares it.
pub type LivelinessSubscriber<H> = Declared<kind::LivelinessSubscriber, H>;

/// A liveliness query being sent; `.await` it to get the reply handler, which closes
/// when every face has answered or the timeout has passed.
pub type LivelinessGetBuilder<'a, H> = Builder<'a, LivelinessGetOptions, H>;

/// The options of a liveliness token (it has none).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenOptions;

/// The options of a liveliness subscriber (set through [`LivelinessSubscriberBuilder`]).
#[derive(Clone, Debug, Default)]
pub struct LivelinessSubscriberOptions {
    history: bool,
}

/// The options of a liveliness query (set through [`LivelinessGetBuilder`]).
#[derive(Clone, Debug, Default)]
pub struct LivelinessGetOptions {
    timeout: Option<Duration>,
}

impl<H> LivelinessSubscriberBuilder<'_, H> {
    /// Also receive a Put for each matching key alive when the subscriber is declared.
    pub fn history(mut self, history: bool) -> Self {
        self.options.history = history;
        self
    }
}

impl<H> LivelinessGetBuilder<'_, H> {
    /// How long to wait for answers (the config's `queries_default_timeout` by default).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.options.timeout = Some(t);
        self
    }
}

impl Sealed for TokenOptions {}
impl Sealed for LivelinessSubscriberOptions {}
impl Sealed for LivelinessGetOptions {}

impl Delivers for LivelinessSubscriberOptions {
    type Item = Sample;
}

impl Delivers for LivelinessGetOptions {
    type Item = Reply;
}

impl Resolve<()> for TokenOptions {
    type Output = LivelinessToken;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: (),
    ) -> Result<Self::Output, SessionError> {
        let routing = &session.inner.routing;
        let id = routing.add_token(key.clone());
        Ok(Declared::new(
            key,
            handler,
            routing,
            id,
            Dispatcher::remove_token,
        ))
    }
}

impl<H: IntoHandler<Sample>> Resolve<H> for LivelinessSubscriberOptions {
    type Output = LivelinessSubscriber<H::Handler>;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError> {
        let (callback, handler) = handler.into_handler();
        let routing = &session.inner.routing;
        let id = routing.add_live_sub(key.clone(), self.history, callback);
        Ok(Declared::new(
            key,
            handler,
            routing,
            id,
            Dispatcher::remove_live_sub,
        ))
    }
}

impl<H: IntoHandler<Reply>> Resolve<H> for LivelinessGetOptions {
    type Output = H::Handler;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError> {
        let (callback, handler) = handler.into_handler();
        let inner = &session.inner;
        let timeout = self
            .timeout
            .unwrap_or_else(|| inner.config.queries_default_timeout());
        inner.routing.live_get(key, timeout, callback);
        Ok(handler)
    }
}
