//! A subscriber that also queries for the samples published before it was declared.
//!
//! The [`QueryingSubscriber`] mirrors `zenoh_ext::QueryingSubscriber`:
//!
//! 1. it declares a subscriber on its key expression, **then** sends a query (by default
//!    for the same key expression), so nothing published in between is lost;
//! 2. while a query runs, live samples are buffered;
//! 3. when the query ends (every target answered, or the timeout passed), the buffered
//!    live samples and the query's replies are merged: samples with the same key and
//!    timestamp are delivered once, samples without a timestamp are all delivered (they
//!    cannot be told apart), and the merged set is delivered untimestamped samples first,
//!    then in timestamp order;
//! 4. later live samples are delivered as they come.
//!
//! [`QueryingSubscriber::query`] sends the query again; live samples are buffered until
//! every query in flight has ended, and the merge covers all of them. De-duplication
//! only applies within one merge: a sample delivered earlier is delivered again if a
//! later query returns it (as in Zenoh).
//!
//! ```no_run
//! # async fn f(session: plexus::Session) -> Result<(), plexus::SessionError> {
//! use plexus::ext::SessionExt;
//!
//! let sub = session.declare_querying_subscriber("demo/**").await?;
//! while let Ok(sample) = sub.recv_async().await {
//!     println!("{}: {:?}", sample.key_expr(), sample.payload());
//! }
//! # Ok(()) }
//! ```

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::api::builder::{Builder, Delivers, Resolve, sealed::Sealed};
use crate::api::session::Session;
use crate::api::subscriber::Subscriber;
use crate::error::SessionError;
use crate::handlers::{Callback, FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::reply::{ConsolidationMode, QueryTarget, Reply};
use crate::sample::{Locality, Sample};
use crate::sync::lock;

mod private {
    pub trait Sealed {}
    impl Sealed for crate::api::session::Session {}
}

/// Declares [`QueryingSubscriber`]s from a [`Session`]:
/// `session.declare_querying_subscriber("key/**")`.
pub trait SessionExt: private::Sealed {
    /// Starts declaring a querying subscriber on `key`; `.await` the builder.
    fn declare_querying_subscriber<K>(&self, key: K) -> QueryingSubscriberBuilder<'_, FifoChannel>
    where
        K: TryInto<OwnedKeyExpr>,
        K::Error: Into<SessionError>;
}

impl SessionExt for Session {
    fn declare_querying_subscriber<K>(&self, key: K) -> QueryingSubscriberBuilder<'_, FifoChannel>
    where
        K: TryInto<OwnedKeyExpr>,
        K::Error: Into<SessionError>,
    {
        QueryingSubscriberBuilder::new(self, key)
    }
}

/// Merges the live samples buffered during queries with the queries' replies.
///
/// Samples with the same key and timestamp are kept once (the first one seen, replies
/// before live samples). Samples without a timestamp are never duplicates. The result
/// holds the untimestamped samples first (replies, then live samples, each in arrival
/// order), then the timestamped ones in timestamp order (stable).
fn merge(buffer: Vec<Sample>, replies: Vec<Sample>) -> Vec<Sample> {
    let mut seen: HashSet<(OwnedKeyExpr, uhlc::Timestamp)> = HashSet::new();
    let mut merged: Vec<Sample> = replies
        .into_iter()
        .chain(buffer)
        .filter(|s| match s.timestamp() {
            None => true,
            Some(ts) => seen.insert((s.key_expr().clone(), *ts)),
        })
        .collect();
    // `None < Some(_)`, and `sort_by_key` is stable.
    merged.sort_by_key(|s| s.timestamp().copied());
    merged
}

/// What the subscriber callback and the queries share.
struct State {
    /// Queries started and not ended yet.
    pending: usize,
    /// Live samples received while `pending > 0`.
    buffer: Vec<Sample>,
    /// Replies of the queries that ended while others were still pending.
    replies: Vec<Sample>,
    /// Samples to hand to the callback, in delivery order.
    out: VecDeque<Sample>,
    /// True while some thread hands `out` to the callback.
    delivering: bool,
    /// The application's callback; `None` once undeclared.
    callback: Option<Callback<Sample>>,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn new(callback: Callback<Sample>, pending: usize) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                pending,
                buffer: Vec::new(),
                replies: Vec::new(),
                out: VecDeque::new(),
                delivering: false,
                callback: Some(callback),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// A live sample arrived: buffer it while a query runs, else deliver it.
    fn on_sample(&self, sample: Sample) {
        let mut st = self.lock();
        if st.callback.is_none() {
            return;
        }
        if st.pending > 0 {
            st.buffer.push(sample);
            return;
        }
        st.out.push_back(sample);
        self.drain(st);
    }

    /// A query is about to start.
    fn query_started(&self) {
        self.lock().pending += 1;
    }

    /// A query ended with `replies`; when it was the last one in flight, the merge of
    /// everything buffered is delivered.
    fn on_query_end(&self, replies: Vec<Sample>) {
        let mut st = self.lock();
        st.replies.extend(replies);
        st.pending = st.pending.saturating_sub(1);
        if st.pending > 0 {
            return;
        }
        let buffer = std::mem::take(&mut st.buffer);
        let replies = std::mem::take(&mut st.replies);
        if st.callback.is_none() {
            return;
        }
        st.out.extend(merge(buffer, replies));
        self.drain(st);
    }

    /// Hands `out` to the callback, outside the lock. Only one thread delivers at a
    /// time: the others only queue, so samples reach the callback in the order they
    /// were queued, and a callback that calls back into the subscriber cannot deadlock.
    fn drain<'a>(&'a self, mut st: MutexGuard<'a, State>) {
        if st.delivering {
            return;
        }
        st.delivering = true;
        loop {
            let Some(cb) = st.callback.clone() else {
                st.out.clear();
                break;
            };
            if st.out.is_empty() {
                break;
            }
            let batch = std::mem::take(&mut st.out);
            drop(st);
            // If the callback panics, let the next caller deliver what is left.
            let reset = ResetOnPanic(self);
            for sample in batch {
                cb(sample);
            }
            std::mem::forget(reset);
            drop(cb);
            st = self.lock();
        }
        st.delivering = false;
    }

    /// Stops delivery; returns the callback so it is dropped outside the lock.
    fn close(&self) -> Option<Callback<Sample>> {
        let mut st = self.lock();
        st.buffer.clear();
        st.replies.clear();
        st.out.clear();
        st.callback.take()
    }
}

/// Clears `delivering` when a callback panics (forgotten on the normal path).
struct ResetOnPanic<'a>(&'a Shared);

impl Drop for ResetOnPanic<'_> {
    fn drop(&mut self) {
        self.0.lock().delivering = false;
    }
}

/// One query in flight. It lives in the `get` callback, which the session drops when
/// the query ends; dropping it hands the replies to the merge.
struct QueryRun {
    shared: Arc<Shared>,
    replies: Mutex<Vec<Sample>>,
}

impl QueryRun {
    fn on_reply(&self, reply: Reply) {
        match reply.into_result() {
            Ok(sample) => lock(&self.replies).push(sample),
            Err(e) => tracing::warn!(
                "querying subscriber: error reply ignored: {:?}",
                String::from_utf8_lossy(e.payload())
            ),
        }
    }
}

impl Drop for QueryRun {
    fn drop(&mut self) {
        let replies = std::mem::take(&mut *lock(&self.replies));
        self.shared.on_query_end(replies);
    }
}

/// How the querying subscriber queries.
#[derive(Clone, Debug)]
struct QueryParams {
    selector: String,
    target: QueryTarget,
    consolidation: ConsolidationMode,
    timeout: Option<Duration>,
    origin: Locality,
}

/// Sends one query for `selector`; `pending` must already count it. Whatever happens,
/// the query's end (or failure to start) is reported to `shared`.
fn start_query(
    shared: &Arc<Shared>,
    session: &Session,
    params: &QueryParams,
    selector: &str,
) -> Result<(), SessionError> {
    let run = QueryRun {
        shared: shared.clone(),
        replies: Mutex::new(Vec::new()),
    };
    let mut get = session
        .get(selector)
        .target(params.target)
        .consolidation(params.consolidation)
        .allowed_destination(params.origin)
        .callback(move |reply| run.on_reply(reply));
    get.options.timeout = params.timeout;
    // `get` completes immediately; the query's end drops the callback and `run`.
    get.resolve_now()
}

/// A [`QueryingSubscriber`] being declared; `.await` it.
///
/// Defaults: query selector = the key expression, target [`QueryTarget::BestMatching`],
/// consolidation [`ConsolidationMode::None`] (the merge sees every reply), the session's
/// query timeout, origin [`Locality::Any`], handler [`FifoChannel`].
pub type QueryingSubscriberBuilder<'a, H> = Builder<'a, QueryingSubscriberOptions, H>;

/// The options of a querying subscriber (set through [`QueryingSubscriberBuilder`]).
#[derive(Clone, Debug)]
pub struct QueryingSubscriberOptions {
    selector: Option<String>,
    target: QueryTarget,
    consolidation: ConsolidationMode,
    timeout: Option<Duration>,
    origin: Locality,
}

impl Default for QueryingSubscriberOptions {
    fn default() -> Self {
        QueryingSubscriberOptions {
            selector: None,
            target: QueryTarget::BestMatching,
            consolidation: ConsolidationMode::None,
            timeout: None,
            origin: Locality::Any,
        }
    }
}

impl<'a> QueryingSubscriberBuilder<'a, FifoChannel> {
    /// Starts declaring a querying subscriber on `key` in `session`.
    pub fn new<K>(session: &'a Session, key: K) -> Self
    where
        K: TryInto<OwnedKeyExpr>,
        K::Error: Into<SessionError>,
    {
        Builder::of(
            session,
            key,
            QueryingSubscriberOptions::default(),
            FifoChannel::default(),
        )
    }
}

impl<H> QueryingSubscriberBuilder<'_, H> {
    /// The selector queried (`key[?parameters]`); the key expression by default.
    pub fn query_selector(mut self, selector: impl Into<String>) -> Self {
        self.options.selector = Some(selector.into());
        self
    }

    /// Which queryables the query goes to ([`QueryTarget::BestMatching`] by default).
    pub fn query_target(mut self, target: QueryTarget) -> Self {
        self.options.target = target;
        self
    }

    /// How the query's replies are consolidated ([`ConsolidationMode::None`] by default).
    pub fn query_consolidation(mut self, consolidation: ConsolidationMode) -> Self {
        self.options.consolidation = consolidation;
        self
    }

    /// How long a query may run (the session's `queries_default_timeout` by default).
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Where samples may come from and where queries may go (both by default).
    pub fn allowed_origin(mut self, origin: Locality) -> Self {
        self.options.origin = origin;
        self
    }
}

impl Sealed for QueryingSubscriberOptions {}

/// Samples reach the handler's callback on whichever task delivers (a publisher's, a
/// transport's, or the one that ends a query), one call at a time and in delivery
/// order.
impl Delivers for QueryingSubscriberOptions {
    type Item = Sample;
}

impl<H: IntoHandler<Sample>> Resolve<H> for QueryingSubscriberOptions {
    type Output = QueryingSubscriber<H::Handler>;

    fn resolve(
        self,
        session: &Session,
        key: OwnedKeyExpr,
        handler: H,
    ) -> Result<Self::Output, SessionError> {
        let params = QueryParams {
            selector: self.selector.unwrap_or_else(|| key.to_string()),
            target: self.target,
            consolidation: self.consolidation,
            timeout: self.timeout,
            origin: self.origin,
        };
        let (callback, handler) = handler.into_handler();
        // The initial query is counted before the subscriber exists, so samples that
        // arrive before the query is sent are buffered and merged too.
        let shared = Shared::new(callback, 1);
        let live = shared.clone();
        let subscriber = session
            .declare_subscriber(key.clone())
            .allowed_origin(self.origin)
            .callback(move |sample| live.on_sample(sample))
            .resolve_now();
        let subscriber = match subscriber {
            Ok(s) => s,
            Err(e) => {
                drop(shared.close());
                return Err(e);
            }
        };
        let qs = QueryingSubscriber {
            subscriber: Some(subscriber),
            shared,
            session: session.clone(),
            key,
            params,
            handler,
        };
        start_query(&qs.shared, &qs.session, &qs.params, &qs.params.selector)?;
        Ok(qs)
    }
}

/// A subscriber that, when declared and on [`QueryingSubscriber::query`], also queries
/// for past samples and merges them with the live ones (see the [module
/// documentation](crate::ext)).
///
/// It dereferences to its handler (a `flume::Receiver<Sample>` by default). Dropping it
/// undeclares the subscriber and stops delivery; queries still in flight are ignored.
///
/// The handler's callback must not block for long: while it runs, other samples for this
/// subscriber are queued behind it. It may call back into the subscriber (e.g.
/// [`QueryingSubscriber::query`]); what that delivers is queued after the current sample.
///
/// It holds a [`Session`] handle (to send later queries), so the session stays open while
/// it exists, like a [`crate::Publisher`].
pub struct QueryingSubscriber<H> {
    subscriber: Option<Subscriber<()>>,
    shared: Arc<Shared>,
    session: Session,
    key: OwnedKeyExpr,
    params: QueryParams,
    handler: H,
}

impl<H> std::fmt::Debug for QueryingSubscriber<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryingSubscriber")
            .field("key", &self.key)
            .field("selector", &self.params.selector)
            .finish()
    }
}

impl<H> QueryingSubscriber<H> {
    /// The subscribed key expression.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// The receiving handle (e.g. a `flume::Receiver<Sample>`).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Sends the initial query again. Returns once it is sent: live samples are buffered
    /// until it (and any other query in flight) ends, then the merge is delivered.
    /// Samples delivered before are delivered again if the query returns them.
    pub async fn query(&self) -> Result<(), SessionError> {
        self.query_with(&self.params.selector).await
    }

    /// Like [`QueryingSubscriber::query`], for another selector (same target,
    /// consolidation, timeout and origin).
    pub async fn query_with(&self, selector: &str) -> Result<(), SessionError> {
        self.shared.query_started();
        start_query(&self.shared, &self.session, &self.params, selector)
    }

    /// Undeclares the subscriber now.
    pub async fn undeclare(mut self) -> Result<(), SessionError> {
        match self.subscriber.take() {
            Some(s) => s.undeclare().await,
            None => Ok(()),
        }
    }
}

impl<H> std::ops::Deref for QueryingSubscriber<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}

impl<H> Drop for QueryingSubscriber<H> {
    fn drop(&mut self) {
        // Stop live samples first, then delivery.
        drop(self.subscriber.take());
        drop(self.shared.close());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SampleKind;
    use bytes::Bytes;
    use std::num::NonZeroU128;

    fn ts(t: u64) -> uhlc::Timestamp {
        uhlc::Timestamp::new(
            uhlc::NTP64(t),
            uhlc::ID::from(NonZeroU128::new(7).expect("non-zero")),
        )
    }

    fn sample(key: &str, payload: &str, t: Option<u64>) -> Sample {
        let mut s = Sample::new(
            OwnedKeyExpr::new(key).expect("key"),
            SampleKind::Put,
            Bytes::from(payload.to_string()),
        );
        s.timestamp = t.map(ts);
        s
    }

    fn payloads(v: &[Sample]) -> Vec<String> {
        v.iter()
            .map(|s| String::from_utf8_lossy(s.payload()).into_owned())
            .collect()
    }

    #[test]
    fn merge_drops_same_key_and_timestamp_keeping_the_reply() {
        let live = vec![sample("a/x", "live", Some(5))];
        let replies = vec![sample("a/x", "reply", Some(5))];
        let m = merge(live, replies);
        assert_eq!(payloads(&m), ["reply"]);
    }

    #[test]
    fn merge_keeps_same_timestamp_on_other_keys_and_other_timestamps() {
        let live = vec![sample("a/y", "y5", Some(5)), sample("a/x", "x6", Some(6))];
        let replies = vec![sample("a/x", "x5", Some(5))];
        let m = merge(live, replies);
        assert_eq!(payloads(&m), ["x5", "y5", "x6"]);
    }

    #[test]
    fn merge_drops_duplicates_among_replies() {
        let replies = vec![
            sample("a/x", "first", Some(3)),
            sample("a/x", "second", Some(3)),
        ];
        assert_eq!(payloads(&merge(Vec::new(), replies)), ["first"]);
    }

    #[test]
    fn merge_passes_every_untimestamped_sample_first() {
        let live = vec![
            sample("a/x", "l1", None),
            sample("a/x", "t2", Some(2)),
            sample("a/x", "l2", None),
        ];
        let replies = vec![
            sample("a/x", "t1", Some(1)),
            sample("a/x", "r1", None),
            sample("a/x", "r1", None),
        ];
        let m = merge(live, replies);
        assert_eq!(payloads(&m), ["r1", "r1", "l1", "l2", "t1", "t2"]);
    }

    #[test]
    fn merge_orders_by_timestamp() {
        let live = vec![sample("a/b", "4", Some(4)), sample("a/a", "2", Some(2))];
        let replies = vec![
            sample("a/c", "5", Some(5)),
            sample("a/d", "1", Some(1)),
            sample("a/e", "3", Some(3)),
        ];
        assert_eq!(payloads(&merge(live, replies)), ["1", "2", "3", "4", "5"]);
    }

    fn collecting() -> (Callback<Sample>, Arc<Mutex<Vec<String>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let cb: Callback<Sample> = Arc::new(move |s: Sample| {
            g.lock()
                .unwrap()
                .push(String::from_utf8_lossy(s.payload()).into_owned())
        });
        (cb, got)
    }

    #[test]
    fn buffers_while_queries_run_and_merges_when_the_last_ends() {
        let (cb, got) = collecting();
        let shared = Shared::new(cb, 1);
        shared.on_sample(sample("a/x", "live3", Some(3)));
        assert!(got.lock().unwrap().is_empty(), "buffered while querying");
        shared.query_started();
        shared.on_query_end(vec![sample("a/x", "h1", Some(1))]);
        assert!(got.lock().unwrap().is_empty(), "one query still in flight");
        shared.on_sample(sample("a/x", "live4", Some(4)));
        shared.on_query_end(vec![
            sample("a/x", "h2", Some(2)),
            sample("a/x", "dup3", Some(3)),
        ]);
        assert_eq!(*got.lock().unwrap(), ["h1", "h2", "dup3", "live4"]);
        shared.on_sample(sample("a/x", "live5", Some(5)));
        assert_eq!(
            got.lock().unwrap().last().map(String::as_str),
            Some("live5")
        );
    }

    #[test]
    fn a_callback_may_call_back_in_without_deadlock_and_order_holds() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let shared_slot: Arc<Mutex<Option<Arc<Shared>>>> = Arc::new(Mutex::new(None));
        let (g, slot) = (got.clone(), shared_slot.clone());
        let cb: Callback<Sample> = Arc::new(move |s: Sample| {
            let p = String::from_utf8_lossy(s.payload()).into_owned();
            g.lock().unwrap().push(p.clone());
            if p == "first" {
                let sh = slot.lock().unwrap().clone().expect("set");
                sh.on_sample(sample("a/x", "nested", None));
            }
        });
        let shared = Shared::new(cb, 0);
        *shared_slot.lock().unwrap() = Some(shared.clone());
        shared.on_sample(sample("a/x", "first", None));
        shared.on_sample(sample("a/x", "second", None));
        assert_eq!(*got.lock().unwrap(), ["first", "nested", "second"]);
        drop(shared_slot.lock().unwrap().take());
    }

    #[test]
    fn closed_delivers_nothing() {
        let (cb, got) = collecting();
        let shared = Shared::new(cb, 1);
        shared.on_sample(sample("a/x", "live", Some(3)));
        drop(shared.close());
        shared.on_query_end(vec![sample("a/x", "h", Some(1))]);
        shared.on_sample(sample("a/x", "late", Some(4)));
        assert!(got.lock().unwrap().is_empty());
    }
}
