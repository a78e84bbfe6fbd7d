//! A query in flight: a [`QueryExec`] knows where replies go (the application's
//! callback, or the face that sent the REQUEST) and how many targets have not finished
//! yet. Each face asked holds one count until its RESPONSE_FINAL; each local queryable
//! holds one until its [`QueryInner`] is dropped. At zero, or at the timeout, the query
//! ends: the callback is dropped (closing a channel handler), or RESPONSE_FINAL goes
//! back to the face.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use plexus_transport::wire::ZenohId;
use plexus_transport::wire::network::{
    NetQos, NetworkMessage, PushBody, ResponderId, Response, ResponseBody, WireExpr,
};
use plexus_transport::wire::zenoh as wz;

use super::callbacks::ReplyCallback;
use super::convert::push_body_of;
use super::face::{Face, control, response_final};
use crate::acl::{AclMessage, Flow};
use crate::encoding::Encoding;
use crate::key_expr::OwnedKeyExpr;
use crate::reply::{ConsolidationMode, PassedExts, Reply, ReplyError};
use crate::sample::Sample;
use crate::sync::lock;

/// Where the replies of a query in flight go.
pub(super) enum Sink {
    Local {
        callback: Mutex<Option<ReplyCallback>>,
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
    pub(super) fn new(sink: Sink, responder: ZenohId) -> Arc<Self> {
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
        callback: ReplyCallback,
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
                if let Ok(s) = &reply.result
                    && !face.acl_allows(Flow::Egress, AclMessage::Reply, s.key_expr())
                {
                    tracing::debug!(
                        "to {}: access control denied a reply on {}",
                        face.zid,
                        s.key_expr()
                    );
                    return;
                }
                let PassedExts { net, body, value } = reply.passed;
                let (wire_expr, body) = match reply.result {
                    Ok(s) => {
                        let mut value_body = push_body_of(&s);
                        match &mut value_body {
                            PushBody::Put(p) => p.unknown_exts = value,
                            PushBody::Del(d) => d.unknown_exts = value,
                        }
                        (
                            WireExpr::key(s.key_expr().as_str()),
                            ResponseBody::Reply(wz::Reply {
                                consolidation: None,
                                body: value_body,
                                unknown_exts: body,
                            }),
                        )
                    }
                    Err(e) => (
                        WireExpr::key(""),
                        ResponseBody::Err(wz::Err {
                            encoding: e.encoding.to_wire(),
                            source_info: None,
                            payload: e.payload,
                            unknown_exts: body,
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
                        unknown_exts: net,
                    }),
                    control(),
                );
            }
        }
    }

    /// True when the replies go to another face (this session routes the query).
    pub(crate) fn forwards(&self) -> bool {
        matches!(self.sink, Sink::Remote { .. })
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
                face.send(response_final(*request_id), control());
            }
        }
    }
}

/// What a query asks, as a local queryable receives it (the api's `Query` wraps it).
/// Dropping the last reference tells the query that this queryable has finished.
pub(crate) struct QueryInner {
    pub(crate) key_expr: OwnedKeyExpr,
    pub(crate) parameters: String,
    pub(crate) payload: Option<Bytes>,
    pub(crate) encoding: Encoding,
    pub(crate) attachment: Option<Bytes>,
    pub(super) exec: Arc<QueryExec>,
    pub(super) responder: ZenohId,
}

impl Drop for QueryInner {
    fn drop(&mut self) {
        self.exec.done_one();
    }
}

impl QueryInner {
    /// Sends one reply (a sample, or an error) to the querier.
    pub(crate) fn send(&self, result: Result<Sample, ReplyError>) {
        self.exec.reply(Reply::new(result, Some(self.responder)));
    }
}

/// Receives the queries of a local queryable.
pub(crate) type QueryCallback = Arc<dyn Fn(Arc<QueryInner>) + Send + Sync>;
