//! Liveliness: tokens that say "this process is here" on a key, subscribers told when a
//! key's first token appears (a Put) and when its last one goes (a Delete), and queries
//! for the tokens alive now.
//!
//! On the wire (Zenoh 1.x):
//! - a token is a `D_TOKEN` declaration, withdrawn by `U_TOKEN` or by its transport closing;
//! - tokens go to peers and routers unconditionally, and to a client only once it has
//!   said (with an INTEREST in tokens) that it wants them;
//! - a liveliness subscriber sends an INTEREST in tokens on its key (`Future`, or
//!   `CurrentFuture` with history);
//! - a liveliness query sends an INTEREST(`Current`), answered by `D_TOKEN`s carrying the
//!   interest id and closed by `D_FINAL` with the same id.
//!
//! Subscribers see a key's state, not individual tokens: two processes holding a token on
//! the same key give one Put, and the Delete comes when both are gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::network::{
    DeclareBody, Interest, InterestMode, InterestOptions, NetQos, NetworkMessage, WireExpr,
};
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::callbacks::{ReplyCallback, SampleCallback};
use super::dispatcher::{Dispatcher, LIVELINESS_GETS};
use super::face::{Face, Source, control, declare_msg};
use super::mesh::Mesh;
use super::query_exec::QueryExec;
use super::tables::{LiveSub, Tables};
use crate::acl::{AclMessage, Flow};
use crate::key_expr::OwnedKeyExpr;
use crate::reply::{ConsolidationMode, Reply};
use crate::sample::{Sample, SampleKind};
use crate::sync::{lock, read, write};

/// The sample a liveliness subscriber or query gets for a key coming alive or dying.
fn token_sample(key: OwnedKeyExpr, kind: SampleKind) -> Sample {
    Sample::new(key, kind, Bytes::new())
}

fn interest_msg(id: u32, mode: InterestMode, key: Option<&OwnedKeyExpr>) -> NetworkMessage {
    let final_ = mode == InterestMode::Final;
    NetworkMessage::Interest(Interest {
        id,
        mode,
        options: InterestOptions(if final_ {
            0
        } else {
            InterestOptions::KEYEXPRS | InterestOptions::TOKENS
        }),
        wire_expr: key.filter(|_| !final_).map(|k| WireExpr::key(k.as_str())),
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id: 0,
    })
}

impl Dispatcher {
    /// Whether liveliness interests go to `face`. Peers and clients are sent every token
    /// unconditionally by peers and routers, so only routers are asked; Zenoh 1.10.2
    /// clients and peers refuse (panic on) interests coming from that direction. Routers
    /// of a mesh send each other no interests: every router holds every token.
    fn asks(&self, face: &Face) -> bool {
        face.whatami == WhatAmI::Router && !self.is_mesh_face(face)
    }

    /// True if a token on `key` is held here, by another router of the mesh, or by a
    /// face (other than `to`) whose declarations may go to `to`.
    fn token_reaches(
        &self,
        t: &Tables,
        mesh: Option<&Mesh>,
        key: &OwnedKeyExpr,
        to: &Face,
    ) -> bool {
        (self.forwards(Source::Local, to) && t.live.tokens.values().any(|k| k == key))
            || (!self.is_mesh_face(to) && mesh.is_some_and(|m| m.others_token(key)))
            || t.faces.values().any(|g| {
                g.zid != to.zid
                    && self.forwards(Source::Face(g), to)
                    && lock(&g.state).live.remote.values().any(|k| k == key)
            })
    }

    /// Brings everything that depends on the tokens of `key` up to date: tells the
    /// liveliness subscribers if the key came alive or died, and declares or
    /// undeclares the key to each face.
    pub(super) fn token_changed(&self, key: &OwnedKeyExpr) {
        let mut callbacks: Vec<(SampleCallback, SampleKind)> = Vec::new();
        let mut sends: Vec<(Arc<Face>, NetworkMessage)> = Vec::new();
        {
            // The mesh lock before the tables lock.
            let mut mesh = self.mesh_lock();
            let mut t = write(&self.tables);
            let south_alive = t.live.tokens.values().any(|k| k == key)
                || t.faces
                    .values()
                    .any(|g| lock(&g.state).live.remote.values().any(|k| k == key));
            let alive = south_alive || mesh.as_ref().is_some_and(|m| m.others_token(key));
            if let Some(m) = mesh.as_mut() {
                let neighbours: HashMap<ZenohId, Arc<Face>> = t
                    .faces
                    .values()
                    .filter(|f| self.is_mesh_face(f))
                    .map(|f| (f.zid, f.clone()))
                    .collect();
                sends.extend(self.mesh_own_token(m, &neighbours, key, south_alive));
            }
            let changed = if alive {
                t.live.alive.insert(key.clone())
            } else {
                t.live.alive.remove(key)
            };
            if changed {
                let kind = if alive {
                    SampleKind::Put
                } else {
                    SampleKind::Delete
                };
                callbacks.extend(
                    t.live
                        .subs
                        .values()
                        .filter(|s| s.key.intersects(key))
                        .map(|s| (s.callback.clone(), kind)),
                );
            }
            for f in t.faces.values() {
                if self.is_mesh_face(f) {
                    continue;
                }
                let desired = self.token_reaches(&t, mesh.as_deref(), key, f)
                    && f.acl_allows(Flow::Egress, AclMessage::LivelinessToken, key);
                let mut st = lock(&f.state);
                let wanted = f.whatami != WhatAmI::Client
                    || st
                        .live
                        .interests
                        .values()
                        .any(|k| k.as_ref().is_none_or(|k| k.intersects(key)));
                let declared = st.live.declared.id(key);
                let body = match (desired && wanted, declared) {
                    (true, None) => st
                        .live
                        .declared
                        .acquire(key, || Some(f.next_decl_id()))
                        .map(|id| DeclareBody::Token {
                            id,
                            wire_expr: WireExpr::key(key.as_str()),
                        }),
                    (false, Some(id)) => {
                        st.live.declared.remove(key);
                        Some(DeclareBody::UndeclareToken {
                            id,
                            wire_expr: Some(WireExpr::key(key.as_str())),
                        })
                    }
                    _ => None,
                };
                if let Some(body) = body {
                    sends.push((f.clone(), declare_msg(None, body)));
                }
            }
        }
        for (face, msg) in sends {
            face.send(msg, control());
        }
        for (cb, kind) in callbacks {
            cb(token_sample(key.clone(), kind));
        }
    }

    /// A face declared a token, or answered one of our liveliness queries with one.
    pub(super) fn remote_token_declared(
        &self,
        face: &Arc<Face>,
        interest: Option<u32>,
        id: u32,
        key: OwnedKeyExpr,
    ) {
        if let Some(i) = interest {
            let get = read(&self.tables).live.gets.get(i, face.zid);
            if let Some(exec) = get {
                exec.reply(Reply::new(
                    Ok(token_sample(key, SampleKind::Put)),
                    Some(face.zid),
                ));
                return;
            }
        }
        let old = {
            let mut st = lock(&face.state);
            let old = st.live.remote.get(&id).map(|k| k.len());
            if let Err(why) = st.budget.admit(old, key.len()) {
                let what = format_args!("token {id}");
                super::limits::log_refusal(&face.zid, &mut st.budget, what, &key, why);
                return;
            }
            st.live.remote.insert(id, key.clone())
        };
        if let Some(old) = old
            && old != key
        {
            self.token_changed(&old);
        }
        self.token_changed(&key);
    }

    /// A face withdrew a token.
    pub(super) fn remote_token_undeclared(&self, face: &Arc<Face>, id: u32) {
        let old = {
            let mut st = lock(&face.state);
            let old = st.live.remote.remove(&id);
            if let Some(old) = &old {
                st.budget.release(old.len());
            }
            old
        };
        match old {
            Some(key) => self.token_changed(&key),
            None => tracing::debug!("from {}: undeclared unknown token {id}", face.zid),
        }
    }

    /// A face finished answering interest `id` (`D_FINAL`).
    pub(super) fn interest_final(&self, face: &Arc<Face>, id: u32) {
        let get = write(&self.tables).live.gets.remove(id, face.zid);
        if let Some(exec) = get {
            exec.done_one();
        }
    }

    /// A face sent an INTEREST: answer its token part. The caller closes a current
    /// interest with `D_FINAL` afterwards.
    pub(super) fn token_interest(&self, face: &Arc<Face>, i: &Interest) {
        if i.mode == InterestMode::Final {
            let mut st = lock(&face.state);
            if let Some(old) = st.live.interests.remove(&i.id) {
                st.budget.release(old.as_ref().map_or(0, |k| k.len()));
            }
            return;
        }
        if i.options.0 & InterestOptions::TOKENS == 0 {
            return;
        }
        let key = match &i.wire_expr {
            None => None,
            Some(we) => match face
                .resolve(we)
                .and_then(|k| OwnedKeyExpr::autocanonize(k).ok())
            {
                Some(k) => Some(k),
                None => {
                    tracing::debug!("from {}: interest {} with an unusable key", face.zid, i.id);
                    return;
                }
            },
        };
        let future = matches!(i.mode, InterestMode::Future | InterestMode::CurrentFuture);
        // A future interest is a liveliness subscriber, a current one a liveliness query;
        // an interest without a key is checked as one on `**`.
        let kind = if future {
            AclMessage::DeclareLivelinessSubscriber
        } else {
            AclMessage::LivelinessQuery
        };
        if face.acl.is_some() {
            let checked = key.clone().or_else(|| OwnedKeyExpr::new("**").ok());
            if checked.is_none_or(|k| !face.acl_allows(Flow::Ingress, kind, &k)) {
                tracing::debug!("from {}: access control denied interest {}", face.zid, i.id);
                return;
            }
        }
        if future {
            let mut st = lock(&face.state);
            let len = key.as_ref().map_or(0, |k| k.len());
            let old = st
                .live
                .interests
                .get(&i.id)
                .map(|k| k.as_ref().map_or(0, |k| k.len()));
            if let Err(why) = st.budget.admit(old, len) {
                let what = format_args!("interest {}", i.id);
                let shown = key.as_ref().map_or("**", |k| k.as_str());
                super::limits::log_refusal(&face.zid, &mut st.budget, what, shown, why);
                return;
            }
            st.live.interests.insert(i.id, key.clone());
        }
        if !matches!(i.mode, InterestMode::Current | InterestMode::CurrentFuture) {
            return;
        }
        let mut replies = Vec::new();
        {
            let mesh = self.mesh_lock();
            let t = read(&self.tables);
            let current: Vec<&OwnedKeyExpr> = t
                .live
                .alive
                .iter()
                .filter(|k| key.as_ref().is_none_or(|key| key.intersects(*k)))
                .filter(|k| self.token_reaches(&t, mesh.as_deref(), k, face))
                .filter(|k| face.acl_allows(Flow::Egress, AclMessage::LivelinessToken, k))
                .collect();
            let mut st = lock(&face.state);
            for k in current {
                // A token answering a future interest is declared: it will be undeclared.
                let id = match st.live.declared.id(k) {
                    Some(id) => id,
                    None => {
                        let id = face.next_decl_id();
                        if future {
                            st.live.declared.acquire(k, || Some(id));
                        }
                        id
                    }
                };
                replies.push(declare_msg(
                    Some(i.id),
                    DeclareBody::Token {
                        id,
                        wire_expr: WireExpr::key(k.as_str()),
                    },
                ));
            }
        }
        for msg in replies {
            face.send(msg, control());
        }
    }

    /// Tells a face that just opened about our tokens and liveliness subscribers.
    pub(super) fn liveliness_to_new_face(&self, face: &Arc<Face>) {
        let (alive, subs): (Vec<OwnedKeyExpr>, Vec<(u32, OwnedKeyExpr)>) = {
            let t = read(&self.tables);
            (
                t.live.alive.iter().cloned().collect(),
                t.live
                    .subs
                    .iter()
                    .map(|(id, s)| (*id, s.key.clone()))
                    .collect(),
            )
        };
        for k in &alive {
            self.token_changed(k);
        }
        // What the new face holds is new to us, so ask for its current tokens too.
        for (id, key) in subs.iter().filter(|(_, k)| {
            self.asks(face)
                && face.acl_allows(Flow::Egress, AclMessage::DeclareLivelinessSubscriber, k)
        }) {
            face.send(
                interest_msg(*id, InterestMode::CurrentFuture, Some(key)),
                control(),
            );
        }
    }

    /// A face closed: its tokens die. (The liveliness queries it will not answer end
    /// in `Dispatcher::face_closed`, with its requests.)
    pub(super) fn liveliness_face_closed(&self, face: &Arc<Face>) {
        let keys: Vec<OwnedKeyExpr> = {
            let mut st = lock(&face.state);
            st.live.declared.clear();
            st.live.interests.clear();
            st.live.remote.drain().map(|(_, k)| k).collect()
        };
        for k in &keys {
            self.token_changed(k);
        }
    }

    /// Declares a token of this session; returns its id.
    pub(crate) fn add_token(&self, key: OwnedKeyExpr) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        write(&self.tables).live.tokens.insert(id, key.clone());
        self.token_changed(&key);
        id
    }

    /// Undeclares this session's token `id`.
    pub(crate) fn remove_token(&self, id: u32) {
        let key = write(&self.tables).live.tokens.remove(&id);
        if let Some(key) = key {
            self.token_changed(&key);
        }
    }

    /// Declares a liveliness subscriber of this session; returns its id.
    pub(crate) fn add_live_sub(
        &self,
        key: OwnedKeyExpr,
        history: bool,
        callback: SampleCallback,
    ) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let current: Vec<OwnedKeyExpr> = {
            let mut t = write(&self.tables);
            t.live.subs.insert(
                id,
                LiveSub {
                    key: key.clone(),
                    callback: callback.clone(),
                },
            );
            if history {
                t.live
                    .alive
                    .iter()
                    .filter(|k| k.intersects(&key))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            }
        };
        for k in current {
            callback(token_sample(k, SampleKind::Put));
        }
        let mode = if history {
            InterestMode::CurrentFuture
        } else {
            InterestMode::Future
        };
        for face in self.faces().iter().filter(|f| {
            self.asks(f)
                && f.acl_allows(Flow::Egress, AclMessage::DeclareLivelinessSubscriber, &key)
        }) {
            face.send(interest_msg(id, mode, Some(&key)), control());
        }
        id
    }

    /// Undeclares this session's liveliness subscriber `id`.
    pub(crate) fn remove_live_sub(&self, id: u32) {
        let removed = write(&self.tables).live.subs.remove(&id);
        if let Some(sub) = removed {
            // Not to a face that access control kept the declaration from.
            for face in self.faces().iter().filter(|f| {
                self.asks(f)
                    && f.acl_allows(
                        Flow::Egress,
                        AclMessage::DeclareLivelinessSubscriber,
                        &sub.key,
                    )
            }) {
                face.send(interest_msg(id, InterestMode::Final, None), control());
            }
        }
    }

    /// Sends a liveliness query: the tokens alive on `key`, answered to `callback`.
    pub(crate) fn live_get(
        self: &Arc<Self>,
        key: OwnedKeyExpr,
        timeout: Duration,
        callback: ReplyCallback,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Tokens seen from several places are one answer.
        let exec = QueryExec::local(callback, ConsolidationMode::Monotonic, self.zid);
        let faces: Vec<Arc<Face>> = self
            .faces()
            .into_iter()
            .filter(|f| {
                self.asks(f) && f.acl_allows(Flow::Egress, AclMessage::LivelinessQuery, &key)
            })
            .collect();
        let known: Vec<OwnedKeyExpr> = {
            let mut t = write(&self.tables);
            for f in &faces {
                t.live.gets.insert(id, f.zid, exec.clone());
            }
            t.live
                .alive
                .iter()
                .filter(|k| k.intersects(&key))
                .cloned()
                .collect()
        };
        exec.add_outstanding(faces.len());
        for k in known {
            exec.reply(Reply::new(Ok(token_sample(k, SampleKind::Put)), None));
        }
        for f in &faces {
            f.send(
                interest_msg(id, InterestMode::Current, Some(&key)),
                control(),
            );
        }
        self.end_at_timeout(&exec, timeout, LIVELINESS_GETS);
        exec.done_one();
    }
}
