//! Queries: queryables, `get`, replies, consolidation, and forwarding between faces.
//!
//! A query in flight is a [`QueryExec`]: it knows where replies go (the application's
//! handler, or the face that sent the REQUEST) and how many targets have not finished
//! yet. Each face asked holds one count until its RESPONSE_FINAL; each local queryable
//! holds one until its [`Query`] handle is dropped. At zero, or at the timeout, the
//! query ends: the handler's channel closes, or RESPONSE_FINAL goes back to the face.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::ZenohId;
use plexus_transport::wire::network::{
    NetQos, NetworkMessage, QueryTarget as WireTarget, Request, ResponderId, Response,
    ResponseBody, ResponseFinal, WireExpr,
};
use plexus_transport::wire::zenoh::{self as wz, Consolidation as WireConsolidation};

use crate::encoding::Encoding;
use crate::error::SessionError;
use crate::handlers::{Callback, FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::sample::{Locality, Sample, SampleKind};
use crate::session::{Face, Session, SessionInner, Source, Undeclarer, control_reliable};

/// Which queryables a query goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueryTarget {
    /// One complete queryable if there is one, else every matching queryable.
    #[default]
    BestMatching,
    /// Every matching queryable.
    All,
    /// Every complete queryable whose key includes the query's.
    AllComplete,
}

/// How replies for the same key are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConsolidationMode {
    /// `Latest`, unless the selector asks for a time range (`_time=`), then `None`.
    #[default]
    Auto,
    /// Every reply as it comes.
    None,
    /// A reply only if newer than the last one delivered for its key.
    Monotonic,
    /// Only the newest reply per key, delivered when the query ends.
    Latest,
}

impl ConsolidationMode {
    fn resolve(self, parameters: &str) -> ConsolidationMode {
        match self {
            ConsolidationMode::Auto if parameters.contains("_time=") => ConsolidationMode::None,
            ConsolidationMode::Auto => ConsolidationMode::Latest,
            other => other,
        }
    }

    fn to_wire(self) -> WireConsolidation {
        match self {
            ConsolidationMode::Auto => WireConsolidation::Auto,
            ConsolidationMode::None => WireConsolidation::None,
            ConsolidationMode::Monotonic => WireConsolidation::Monotonic,
            ConsolidationMode::Latest => WireConsolidation::Latest,
        }
    }
}

fn target_to_wire(t: QueryTarget) -> WireTarget {
    match t {
        QueryTarget::BestMatching => WireTarget::BestMatching,
        QueryTarget::All => WireTarget::All,
        QueryTarget::AllComplete => WireTarget::AllComplete,
    }
}

fn target_from_wire(t: WireTarget) -> QueryTarget {
    match t {
        WireTarget::BestMatching => QueryTarget::BestMatching,
        WireTarget::All => QueryTarget::All,
        WireTarget::AllComplete => QueryTarget::AllComplete,
    }
}

/// An error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError {
    payload: Bytes,
    encoding: Encoding,
}

impl ReplyError {
    /// The error's payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The payload's encoding.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }
}

/// One reply to a `get`.
#[derive(Clone, Debug)]
pub struct Reply {
    result: Result<Sample, ReplyError>,
    replier_id: Option<ZenohId>,
}

impl Reply {
    pub(crate) fn new(result: Result<Sample, ReplyError>, replier_id: Option<ZenohId>) -> Self {
        Reply { result, replier_id }
    }

    /// The sample, or the error the queryable replied with.
    pub fn result(&self) -> Result<&Sample, &ReplyError> {
        self.result.as_ref()
    }

    /// Consumes the reply into its result.
    pub fn into_result(self) -> Result<Sample, ReplyError> {
        self.result
    }

    /// The id of the session that replied, when known.
    pub fn replier_id(&self) -> Option<ZenohId> {
        self.replier_id
    }
}

/// Where the replies of a query in flight go.
enum Sink {
    Local {
        callback: Mutex<Option<Callback<Reply>>>,
        mode: ConsolidationMode,
        seen: Mutex<HashMap<OwnedKeyExpr, Reply>>,
    },
    Remote {
        face: Arc<Face>,
        request_id: u32,
    },
}

/// A query in flight.
pub(crate) struct QueryExec {
    sink: Sink,
    outstanding: AtomicUsize,
    finished: AtomicBool,
    responder: ZenohId,
}

fn newer(old: &Reply, new: &Reply) -> bool {
    let ts = |r: &Reply| r.result.as_ref().ok().and_then(|s| s.timestamp().copied());
    ts(old) < ts(new)
}

impl QueryExec {
    fn new(sink: Sink, responder: ZenohId) -> Arc<Self> {
        Arc::new(QueryExec {
            sink,
            // One count held by the dispatcher until every target was asked.
            outstanding: AtomicUsize::new(1),
            finished: AtomicBool::new(false),
            responder,
        })
    }

    /// A query of this session's, whose replies go to `callback`.
    pub(crate) fn local(
        callback: Callback<Reply>,
        mode: ConsolidationMode,
        responder: ZenohId,
    ) -> Arc<Self> {
        QueryExec::new(
            Sink::Local {
                callback: Mutex::new(Some(callback)),
                mode,
                seen: Mutex::new(HashMap::new()),
            },
            responder,
        )
    }

    pub(crate) fn add_outstanding(&self, n: usize) {
        self.outstanding.fetch_add(n, Ordering::AcqRel);
    }

    /// One target finished.
    pub(crate) fn done_one(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish();
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Delivers one reply.
    pub(crate) fn reply(&self, reply: Reply) {
        if self.is_finished() {
            return;
        }
        match &self.sink {
            Sink::Local {
                callback,
                mode,
                seen,
            } => {
                let key = match &reply.result {
                    Ok(s) => Some(s.key_expr().clone()),
                    Err(_) => None,
                };
                let deliver = match (mode, key) {
                    (ConsolidationMode::Monotonic, Some(key)) => {
                        let mut seen = lock(seen);
                        match seen.get(&key) {
                            Some(old) if !newer(old, &reply) => false,
                            _ => {
                                seen.insert(key, reply.clone());
                                true
                            }
                        }
                    }
                    (ConsolidationMode::Latest, Some(key)) => {
                        let mut seen = lock(seen);
                        let replace = seen.get(&key).is_none_or(|old| newer(old, &reply));
                        if replace {
                            seen.insert(key, reply.clone());
                        }
                        false
                    }
                    _ => true,
                };
                if deliver && let Some(cb) = lock(callback).clone() {
                    cb(reply);
                }
            }
            Sink::Remote { face, request_id } => {
                let (wire_expr, body) = match reply.result {
                    Ok(s) => (
                        WireExpr::key(s.key_expr().as_str()),
                        ResponseBody::Reply(wz::Reply {
                            consolidation: None,
                            body: crate::session::push_body_of(&s),
                        }),
                    ),
                    Err(e) => (
                        WireExpr::key(""),
                        ResponseBody::Err(wz::Err {
                            encoding: e.encoding.to_wire(),
                            source_info: None,
                            payload: e.payload,
                        }),
                    ),
                };
                let responder = reply.replier_id.unwrap_or(self.responder);
                face.send(
                    NetworkMessage::Response(Response {
                        request_id: *request_id,
                        wire_expr,
                        qos: NetQos::RESPONSE,
                        timestamp: None,
                        responder: Some(ResponderId {
                            zid: responder,
                            eid: 0,
                        }),
                        body,
                    }),
                    control_reliable(),
                );
            }
        }
    }

    /// Ends the query once: flushes consolidated replies, closes the handler or sends
    /// RESPONSE_FINAL.
    pub(crate) fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        match &self.sink {
            Sink::Local {
                callback,
                seen,
                mode,
            } => {
                let cb = lock(callback).take();
                if let Some(cb) = cb
                    && *mode == ConsolidationMode::Latest
                {
                    let mut replies: Vec<Reply> = lock(seen).drain().map(|(_, r)| r).collect();
                    replies.sort_by(|a, b| {
                        let k =
                            |r: &Reply| r.result.as_ref().ok().map(|s| s.key_expr().to_string());
                        k(a).cmp(&k(b))
                    });
                    for r in replies {
                        cb(r);
                    }
                }
            }
            Sink::Remote { face, request_id } => {
                face.send(
                    NetworkMessage::ResponseFinal(ResponseFinal {
                        request_id: *request_id,
                        qos: NetQos::RESPONSE,
                        timestamp: None,
                    }),
                    control_reliable(),
                );
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A local queryable's registration.
pub(crate) struct LocalQueryable {
    pub(crate) key: OwnedKeyExpr,
    pub(crate) complete: bool,
    pub(crate) callback: Callback<Query>,
    pub(crate) origin: Locality,
}

/// What a query asks, as the queryable sees it.
struct QueryInner {
    key_expr: OwnedKeyExpr,
    parameters: String,
    payload: Option<Bytes>,
    encoding: Encoding,
    attachment: Option<Bytes>,
    exec: Arc<QueryExec>,
    responder: ZenohId,
}

impl Drop for QueryInner {
    fn drop(&mut self) {
        self.exec.done_one();
    }
}

/// A query received by a queryable. Reply with [`Query::reply`]; dropping the last
/// clone tells the querier that this queryable has finished.
#[derive(Clone)]
pub struct Query {
    inner: Arc<QueryInner>,
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
    pub fn selector(&self) -> String {
        if self.inner.parameters.is_empty() {
            self.inner.key_expr.to_string()
        } else {
            format!("{}?{}", self.inner.key_expr, self.inner.parameters)
        }
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
        Ok(Sample {
            key_expr: key,
            payload,
            kind,
            encoding: Encoding::default(),
            timestamp: None,
            attachment: None,
            priority: crate::sample::Priority::Data,
            congestion_control: crate::sample::CongestionControl::Block,
            express: false,
        })
    }

    /// Sends a reply built by the session itself (the admin space).
    pub(crate) fn send_sample(&self, sample: Sample) {
        self.send(Ok(sample));
    }

    fn send(&self, result: Result<Sample, ReplyError>) {
        self.inner.exec.reply(Reply {
            result,
            replier_id: Some(self.inner.responder),
        });
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

    /// Replies with an error.
    pub async fn reply_err(&self, payload: impl Into<Bytes>) -> Result<(), SessionError> {
        self.send(Err(ReplyError {
            payload: payload.into(),
            encoding: Encoding::default(),
        }));
        Ok(())
    }
}

/// A reply being prepared; `.await` it to send.
#[must_use = "a reply is sent only when awaited"]
pub struct ReplyBuilder<'a> {
    query: &'a Query,
    sample: Result<Sample, SessionError>,
}

impl std::fmt::Debug for ReplyBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyBuilder").finish()
    }
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

impl std::future::IntoFuture for ReplyBuilder<'_> {
    type Output = Result<(), SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready(self.sample.map(|s| self.query.send(Ok(s))))
    }
}

/// Everything needed to dispatch one query to its targets.
pub(crate) struct Dispatch {
    pub(crate) key: OwnedKeyExpr,
    pub(crate) parameters: String,
    pub(crate) target: QueryTarget,
    pub(crate) consolidation: ConsolidationMode,
    pub(crate) payload: Option<Bytes>,
    pub(crate) encoding: Encoding,
    pub(crate) attachment: Option<Bytes>,
    pub(crate) timeout: Duration,
    pub(crate) destination: Locality,
}

impl SessionInner {
    /// Sends a query to the local queryables and faces it targets.
    fn dispatch(self: &Arc<Self>, src: Source<'_>, d: Dispatch, exec: Arc<QueryExec>) {
        let from_remote = matches!(src, Source::Face(_));
        let (mut locals, mut faces) =
            self.query_targets(src, &d.key, d.target, d.destination, from_remote);
        if d.target == QueryTarget::BestMatching {
            // One complete queryable that covers the key answers alone, if there is one.
            if let Some(pos) = locals
                .iter()
                .position(|q| q.complete && q.key.includes(&d.key))
            {
                locals = vec![locals.swap_remove(pos)];
                faces.clear();
            } else if let Some(pos) = faces
                .iter()
                .position(|f| f.has_complete_queryable_for(&d.key))
            {
                faces = vec![faces.swap_remove(pos)];
                locals.clear();
            }
        }
        exec.add_outstanding(locals.len() + faces.len());
        for face in faces {
            let rid = self.next_request_id();
            self.pending_insert(rid, face.zid(), exec.clone());
            face.send(
                NetworkMessage::Request(Request {
                    id: rid,
                    wire_expr: WireExpr::key(d.key.as_str()),
                    qos: NetQos::REQUEST,
                    timestamp: None,
                    target: target_to_wire(d.target),
                    budget: None,
                    timeout_ms: Some(d.timeout.as_millis() as u64),
                    node_id: 0,
                    body: wz::Query {
                        consolidation: Some(d.consolidation.to_wire()),
                        parameters: d.parameters.clone(),
                        source_info: None,
                        body: d.payload.clone().map(|payload| wz::QueryBody {
                            encoding: d.encoding.to_wire(),
                            payload,
                        }),
                        attachment: d.attachment.clone(),
                    },
                }),
                control_reliable(),
            );
        }
        for q in locals {
            let query = Query {
                inner: Arc::new(QueryInner {
                    key_expr: d.key.clone(),
                    parameters: d.parameters.clone(),
                    payload: d.payload.clone(),
                    encoding: d.encoding.clone(),
                    attachment: d.attachment.clone(),
                    exec: exec.clone(),
                    responder: self.zid,
                }),
            };
            (q.callback)(query);
        }
        // Bounded: the query ends at its timeout whatever the targets do.
        let weak = Arc::downgrade(self);
        let timed = exec.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d.timeout).await;
            if !timed.is_finished() {
                timed.finish();
                if let Some(s) = weak.upgrade() {
                    s.pending_forget(&timed);
                }
            }
        });
        exec.done_one();
    }

    /// A REQUEST arrived from a face.
    pub(crate) fn handle_request(
        self: &Arc<Self>,
        face: &Arc<Face>,
        req: Request,
        key: OwnedKeyExpr,
    ) {
        let timeout = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| self.config.queries_default_timeout());
        let exec = QueryExec::new(
            Sink::Remote {
                face: face.clone(),
                request_id: req.id,
            },
            self.zid,
        );
        let (payload, encoding) = match req.body.body {
            Some(b) => (Some(b.payload), Encoding::from_wire(b.encoding)),
            None => (None, Encoding::default()),
        };
        let d = Dispatch {
            key,
            parameters: req.body.parameters,
            target: target_from_wire(req.target),
            consolidation: ConsolidationMode::None,
            payload,
            encoding,
            attachment: req.body.attachment,
            timeout,
            destination: Locality::Any,
        };
        self.dispatch(Source::Face(face), d, exec);
    }

    /// A RESPONSE arrived for one of our requests.
    pub(crate) fn handle_response(&self, face: &Arc<Face>, resp: Response) {
        let Some(exec) = self.pending_get(resp.request_id) else {
            tracing::debug!(
                "from {}: response to unknown request {}",
                face.zid(),
                resp.request_id
            );
            return;
        };
        let replier_id = resp.responder.map(|r| r.zid);
        let result = match resp.body {
            ResponseBody::Reply(r) => {
                let key = face
                    .resolve(&resp.wire_expr)
                    .and_then(|k| OwnedKeyExpr::new(k).ok());
                let Some(key) = key else {
                    tracing::debug!("from {}: reply with an unusable key", face.zid());
                    return;
                };
                Ok(crate::session::sample_of(key, r.body, NetQos::RESPONSE))
            }
            ResponseBody::Err(e) => Err(ReplyError {
                payload: e.payload,
                encoding: Encoding::from_wire(e.encoding),
            }),
        };
        exec.reply(Reply { result, replier_id });
    }

    /// RESPONSE_FINAL arrived for one of our requests.
    pub(crate) fn handle_response_final(&self, rf: ResponseFinal) {
        if let Some(exec) = self.pending_remove(rf.request_id) {
            exec.done_one();
        }
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
            inner.dispatch(Source::Local, d, exec);
            Ok(handler)
        })())
    }
}

/// A queryable being declared; `.await` it.
#[must_use = "a queryable is declared only when awaited"]
pub struct QueryableBuilder<'a, H> {
    pub(crate) session: &'a Session,
    pub(crate) key: Result<OwnedKeyExpr, SessionError>,
    pub(crate) complete: bool,
    pub(crate) origin: Locality,
    pub(crate) handler: H,
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
            let inner = self.session.inner();
            let id = inner.add_queryable(LocalQueryable {
                key: key.clone(),
                complete: self.complete,
                callback,
                origin: self.origin,
            });
            Ok(Queryable {
                key,
                handler,
                handle: Undeclarer::new(inner, id, SessionInner::remove_queryable),
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
