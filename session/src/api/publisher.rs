//! Publishing: `Session::put`/`delete` (a [`PutBuilder`] to await) and declared
//! [`Publisher`]s, which keep their route while the routing generation holds.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use plexus_transport::wire::network::{NetQos, PushBody};
use plexus_transport::wire::zenoh::{Del, Put};

use super::builder::{Builder, Resolve, sealed::Sealed};
use super::session::Session;
use crate::encoding::Encoding;
use crate::error::SessionError;
use crate::key_expr::OwnedKeyExpr;
use crate::routing::{Route, Source, to_wire_ts, with_backpressure};
use crate::sample::{CongestionControl, Locality, Priority, Reliability, SampleKind};
use crate::sync::lock;

impl Session {
    /// Publishes `payload` on `key`.
    pub fn put(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
        payload: impl Into<Bytes>,
    ) -> PutBuilder<'_> {
        PutBuilder::new(
            self,
            key.try_into().map_err(Into::into),
            SampleKind::Put,
            payload.into(),
        )
    }

    /// Publishes the deletion of `key`.
    pub fn delete(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> PutBuilder<'_> {
        PutBuilder::new(
            self,
            key.try_into().map_err(Into::into),
            SampleKind::Delete,
            Bytes::new(),
        )
    }

    /// Declares a publisher on `key`; `.await` the builder, after setting the options
    /// its publications will have.
    pub fn declare_publisher(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> PublisherBuilder<'_> {
        Builder::of(self, key, PublisherOptions::default(), ())
    }

    /// Publishes on `key` (routed now); then, if a transport's queue was full, waits
    /// for its writer (`Block`: until it takes what waits; `Drop`: at most
    /// `wait_before_drop`), so a publisher faster than the network is slowed down,
    /// never reordered.
    async fn publish(
        &self,
        key: OwnedKeyExpr,
        kind: SampleKind,
        payload: Bytes,
        o: &PublisherOptions,
    ) -> Result<(), SessionError> {
        let route = self
            .inner
            .routing
            .compute_route(Source::Local, &key, o.destination);
        with_backpressure(|| self.publish_now(&route, key, kind, payload, o)).await
    }

    /// Publishes along `route` without waiting.
    fn publish_now(
        &self,
        route: &Route,
        key: OwnedKeyExpr,
        kind: SampleKind,
        payload: Bytes,
        o: &PublisherOptions,
    ) -> Result<(), SessionError> {
        self.check_open()?;
        let timestamp = o
            .timestamp
            .or_else(|| self.new_timestamp())
            .as_ref()
            .and_then(to_wire_ts);
        let body = match kind {
            SampleKind::Put => PushBody::Put(Put {
                timestamp,
                encoding: o.encoding.to_wire(),
                source_info: None,
                attachment: o.attachment.clone(),
                payload,
                unknown_exts: Default::default(),
            }),
            SampleKind::Delete => PushBody::Del(Del {
                timestamp,
                source_info: None,
                attachment: o.attachment.clone(),
                unknown_exts: Default::default(),
            }),
        };
        let qos = NetQos::new(o.priority, o.congestion_control, o.express);
        self.inner
            .routing
            .deliver(route, key, body, qos, o.reliability);
        Ok(())
    }
}

/// The options of a publication (set through [`PutBuilder`] or [`PublisherBuilder`]).
#[derive(Clone, Debug)]
pub struct PublisherOptions {
    encoding: Encoding,
    attachment: Option<Bytes>,
    timestamp: Option<uhlc::Timestamp>,
    priority: Priority,
    congestion_control: CongestionControl,
    express: bool,
    reliability: Reliability,
    destination: Locality,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        PublisherOptions {
            encoding: Encoding::default(),
            attachment: None,
            timestamp: None,
            priority: Priority::Data,
            congestion_control: CongestionControl::Drop,
            express: false,
            reliability: Reliability::Reliable,
            destination: Locality::Any,
        }
    }
}

macro_rules! put_options_setters {
    () => {
        /// Sets the payload's encoding.
        pub fn encoding(mut self, e: impl Into<Encoding>) -> Self {
            self.options.encoding = e.into();
            self
        }
        /// Attaches user bytes.
        pub fn attachment(mut self, a: impl Into<Bytes>) -> Self {
            self.options.attachment = Some(a.into());
            self
        }
        /// Sets the priority.
        pub fn priority(mut self, p: Priority) -> Self {
            self.options.priority = p;
            self
        }
        /// Sets the congestion control (`Drop` by default).
        pub fn congestion_control(mut self, c: CongestionControl) -> Self {
            self.options.congestion_control = c;
            self
        }
        /// Sends without waiting to fill a batch.
        pub fn express(mut self, e: bool) -> Self {
            self.options.express = e;
            self
        }
        /// Sets the reliability (`Reliable` by default).
        pub fn reliability(mut self, r: Reliability) -> Self {
            self.options.reliability = r;
            self
        }
        /// Restricts where the publication goes.
        pub fn allowed_destination(mut self, d: Locality) -> Self {
            self.options.destination = d;
            self
        }
    };
}

/// A publication being prepared; `.await` it to send.
#[must_use = "a put does nothing until awaited"]
#[derive(Debug)]
pub struct PutBuilder<'a> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    kind: SampleKind,
    payload: Bytes,
    options: PublisherOptions,
}

impl<'a> PutBuilder<'a> {
    fn new(
        session: &'a Session,
        key: Result<OwnedKeyExpr, SessionError>,
        kind: SampleKind,
        payload: Bytes,
    ) -> Self {
        PutBuilder {
            session,
            key,
            kind,
            payload,
            options: PublisherOptions::default(),
        }
    }

    put_options_setters!();

    /// Sets the timestamp (else the session's clock stamps it when timestamping is on).
    pub fn timestamp(mut self, ts: uhlc::Timestamp) -> Self {
        self.options.timestamp = Some(ts);
        self
    }
}

impl<'a> std::future::IntoFuture for PutBuilder<'a> {
    type Output = Result<(), SessionError>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let key = self.key?;
            self.session
                .publish(key, self.kind, self.payload, &self.options)
                .await
        })
    }
}

/// A publisher being declared; `.await` it.
pub type PublisherBuilder<'a> = Builder<'a, PublisherOptions>;

impl PublisherBuilder<'_> {
    put_options_setters!();
}

impl Sealed for PublisherOptions {}

impl Resolve<()> for PublisherOptions {
    type Output = Publisher;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        (): (),
    ) -> Result<Publisher, SessionError> {
        // Like Zenoh, a publisher declares its key once so that publications carry an id.
        session.inner.routing.declare_expr(&key);
        Ok(Publisher {
            session: session.clone(),
            key,
            options: self,
            route: Mutex::new(None),
        })
    }
}

/// A publisher with fixed key and options. Dropping it undeclares its key.
pub struct Publisher {
    session: Session,
    key: OwnedKeyExpr,
    options: PublisherOptions,
    /// Where the last publication went, reused while the routing generation holds.
    route: Mutex<Option<Arc<Route>>>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.session.inner.routing.undeclare_expr(&self.key);
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("key", &self.key).finish()
    }
}

impl Publisher {
    /// The publisher's key.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// True when at least one subscriber the publisher may reach matches its key:
    /// local ones, and remote ones whose declarations arrived (a client counts its
    /// router as matching).
    pub fn matching_status(&self) -> bool {
        self.session
            .inner
            .routing
            .has_matching_subscriber(&self.key, self.options.destination)
    }

    /// Waits until [`Publisher::matching_status`] differs from `current`, and returns it.
    /// Returns `current` if the session closes first.
    pub async fn matching_changed(&self, current: bool) -> bool {
        let mut changes = self.session.inner.routing.subs_watch();
        loop {
            let now = self.matching_status();
            if now != current {
                return now;
            }
            if changes.changed().await.is_err() {
                return current;
            }
        }
    }

    /// Publishes a value.
    pub fn put(
        &self,
        payload: impl Into<Bytes>,
    ) -> impl Future<Output = Result<(), SessionError>> + Send + '_ {
        self.publish(SampleKind::Put, payload.into())
    }

    /// Publishes now; then, if a transport's queue was full, waits for its writer.
    /// (The future stays small: it is built for every publication.)
    async fn publish(&self, kind: SampleKind, payload: Bytes) -> Result<(), SessionError> {
        let route = self.route();
        with_backpressure(|| {
            self.session
                .publish_now(&route, self.key.clone(), kind, payload, &self.options)
        })
        .await
    }

    /// Publishes a value now, without waiting: usable from a callback. A message that
    /// finds a transport's queue full is still queued: from a subscriber's or
    /// queryable's callback, the task that runs it waits for that transport before it
    /// reads more; elsewhere, up to a slack of one more queue's worth, past which the
    /// message is dropped and counted in the transport's `dropped` (use
    /// [`Publisher::put`] to wait instead).
    pub fn try_put(&self, payload: impl Into<Bytes>) -> Result<(), SessionError> {
        let route = self.route();
        self.session.publish_now(
            &route,
            self.key.clone(),
            SampleKind::Put,
            payload.into(),
            &self.options,
        )
    }

    /// Publishes a deletion.
    pub async fn delete(&self) -> Result<(), SessionError> {
        self.publish(SampleKind::Delete, Bytes::new()).await
    }

    /// Undeclares the publisher now (as dropping it does).
    pub async fn undeclare(self) -> Result<(), SessionError> {
        drop(self);
        Ok(())
    }

    /// The cached route, recomputed when subscriptions or faces changed.
    fn route(&self) -> Arc<Route> {
        let inner = &self.session.inner.routing;
        let mut cached = lock(&self.route);
        match &*cached {
            Some(r) if r.is_current(inner) && r.destination == self.options.destination => {
                r.clone()
            }
            _ => {
                let r = Arc::new(inner.compute_route(
                    Source::Local,
                    &self.key,
                    self.options.destination,
                ));
                *cached = Some(r.clone());
                r
            }
        }
    }
}
