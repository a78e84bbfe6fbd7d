//! The runtime: what joins a session's routing to its transports and its admin space.
//!
//! [`Runtime::start`] makes the [`Dispatcher`], listens and connects (and keeps
//! reconnecting for the session's life: `connect.rs`), and registers the admin space's
//! queryable. The transport manager calls
//! back into `Handler` for every transport that opens; each gets a face, and its
//! `FaceHandler` hands the transport's messages to the dispatcher and turns its events
//! (links added or removed, transport closed) into admin-space samples.

pub(crate) mod admin;
mod connect;

use std::num::NonZeroU128;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use plexus_transport::wire::network::{NetworkMessage, Push};
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, PushSink, Transport, TransportEvent, TransportHandler, TransportManager,
};

use crate::config::Config;
use crate::error::SessionError;
use crate::key_expr::OwnedKeyExpr;
use crate::routing::{
    Dispatcher, Face, FaceTx, LastRoute, LocalQueryable, QueryInner, Source, TransportTx,
};
use crate::sample::{Locality, Reliability, Sample};
use admin::Admin;

/// The state of one open session, shared by its handles.
pub(crate) struct Runtime {
    pub(crate) zid: ZenohId,
    pub(crate) whatami: WhatAmI,
    pub(crate) config: Config,
    manager: OnceLock<TransportManager>,
    pub(crate) closed: AtomicBool,
    /// Faces, tables and routes.
    pub(crate) routing: Arc<Dispatcher>,
    pub(crate) admin: Admin,
    /// Access control (`access_control`), when enabled.
    acl: Option<Arc<crate::acl::AclPolicy>>,
}

impl Runtime {
    pub(crate) fn manager(&self) -> Option<&TransportManager> {
        self.manager.get()
    }

    /// Delivers admin-space samples to this session's subscribers only.
    fn publish_admin(&self, samples: Vec<Sample>) {
        for sample in samples {
            self.routing.route(
                Source::Local,
                sample,
                Locality::SessionLocal,
                Reliability::Reliable,
            );
        }
    }

    /// Closes every transport and ends the session's tasks; returns once they ended
    /// (also when another close is under way).
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.routing.end_tasks().await;
        if let Some(m) = self.manager() {
            m.close().await;
        }
    }

    /// Runs `f` as a task of this session: it ends when the session closes.
    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.routing.spawn(f);
    }

    /// Opens a session with `config`: listens, connects (see `connect.rs`),
    /// and returns once the peers it connected to have sent their declarations.
    pub(crate) async fn start(config: Config) -> Result<Arc<Runtime>, SessionError> {
        let zid = config.id().unwrap_or_else(ZenohId::random);
        let whatami = config.mode();
        let hlc = config.timestamping().then(|| {
            let id = NonZeroU128::new(zid.to_u128()).map(uhlc::ID::from);
            let mut b = uhlc::HLCBuilder::new();
            if let Some(id) = id {
                b = b.with_id(id);
            }
            b.build()
        });
        if config.scouting_multicast_enabled() == Some(true) {
            tracing::warn!("multicast scouting is not supported by Plexus; use connect/endpoints");
        }
        let acl = crate::acl::AclPolicy::compile(config.access_control())?;
        let inner = Arc::new(Runtime {
            acl,
            zid,
            whatami,
            manager: OnceLock::new(),
            closed: AtomicBool::new(false),
            routing: Arc::new(
                Dispatcher::new(zid, whatami, hlc, config.queries_default_timeout())
                    .with_drop_future_timestamp(config.drop_future_timestamp()),
            ),
            admin: Admin::new(zid, config.adminspace().max_closed_transports),
            config: config.clone(),
        });
        // The admin space answers this session only.
        for key in admin::queryable_keys(&zid) {
            let weak = Arc::downgrade(&inner);
            let key = OwnedKeyExpr::new(key)?;
            inner.routing.add_queryable(LocalQueryable {
                key,
                complete: true,
                callback: Arc::new(move |q: Arc<QueryInner>| {
                    if let Some(s) = weak.upgrade() {
                        s.admin.answer(&q.key_expr, |sample| q.send(Ok(sample)));
                    }
                }),
                origin: Locality::SessionLocal,
            });
        }
        let manager = TransportManager::new(
            config.transport_config(zid)?,
            Arc::new(Handler(Arc::downgrade(&inner))),
        );
        let _ = inner.manager.set(manager.clone());
        for ep in config.listen_endpoints() {
            manager.listen(&ep).await?;
        }
        // Routers weigh their links to the routers `transport_weights` names.
        inner
            .routing
            .set_mesh_weights(config.transport_weights().clone());
        // ... and, where `rtt_weights` enables it, by the RTTs those links measure.
        inner
            .routing
            .set_mesh_rtt_weights(config.rtt_weights().clone());
        // Routers announce their listeners in their link state.
        inner
            .routing
            .set_mesh_locators(manager.locators().iter().map(|l| l.to_string()).collect());
        let connected = match connect::start(&inner, &manager, &config).await {
            Ok(c) => c,
            Err(e) => {
                inner.close().await;
                return Err(e);
            }
        };
        // Like Zenoh, return once the peers we connected to have told us what they
        // declared, so that a put or get right after open reaches them.
        if whatami != WhatAmI::Client {
            let waits: Vec<_> = connected
                .iter()
                .filter(|t| t.whatami() != WhatAmI::Client)
                .filter_map(|t| {
                    inner
                        .routing
                        .face(&t.zid())
                        .map(|f| f.initial_declarations.subscribe())
                })
                .collect();
            let all = async {
                for mut w in waits {
                    let _ = w.wait_for(|done| *done).await;
                }
            };
            if tokio::time::timeout(std::time::Duration::from_secs(1), all)
                .await
                .is_err()
            {
                tracing::debug!("some peers did not finish their initial declarations within 1 s");
            }
        }
        Ok(inner)
    }
}

/// What access-control subjects are matched against: the transport's zid and usrpwd
/// user, and its links' protocols, certificate common names and (when `interfaces`
/// is set, as only subjects naming interfaces need them) network interfaces.
fn face_facts(transport: &Transport, interfaces: bool) -> crate::acl::FaceFacts {
    let mut links: Vec<Arc<plexus_link::LinkInfo>> =
        transport.links().into_iter().map(|l| l.info).collect();
    if links.is_empty() {
        // Its first link is listed before the session hears of it, unless the
        // transport closed (and dropped its links) as it opened.
        links.push(transport.first_link().clone());
    }
    crate::acl::FaceFacts {
        zid: Some(transport.zid()),
        username: transport.auth_user().map(str::to_owned),
        cert_common_names: links
            .iter()
            .filter_map(|l| l.auth_identifier().map(str::to_owned))
            .collect(),
        link_protocols: links
            .iter()
            .map(|l| l.dst().protocol().to_owned())
            .collect(),
        interfaces: if interfaces {
            let addrs: Vec<std::net::IpAddr> = links
                .iter()
                .filter_map(|l| l.src().address().parse::<std::net::SocketAddr>().ok())
                .map(|a| a.ip())
                .collect();
            crate::acl::interfaces_of(&addrs)
        } else {
            Vec::new()
        },
    }
}

/// Feeds the RTTs the transport to another router measures (its lowest over its links)
/// into the mesh's link weights, until it closes.
fn follow_rtt(s: &Runtime, transport: &Transport) {
    let routing = Arc::downgrade(&s.routing);
    let t = transport.clone();
    s.spawn(async move {
        let mut updates = t.rtt_updates();
        loop {
            tokio::select! {
                _ = t.closed() => return,
                changed = updates.changed() => if changed.is_err() { return },
            }
            let Some(us) = t.links().iter().filter_map(|l| l.rtt_us).min() else {
                continue;
            };
            let Some(r) = routing.upgrade() else {
                return;
            };
            r.mesh_rtt_sample(
                &t.zid(),
                std::time::Duration::from_micros(us),
                std::time::Instant::now(),
            );
        }
    });
}

/// Receives new transports for a session.
struct Handler(Weak<Runtime>);

/// Receives one face's messages and events.
struct FaceHandler {
    session: Weak<Runtime>,
    /// The session's routing, reached without going through the runtime on the
    /// per-message path.
    routing: Weak<Dispatcher>,
    face: Arc<Face>,
}

impl TransportHandler for Handler {
    fn opened(&self, transport: &Transport) -> Arc<dyn PeerHandler> {
        let session = self.0.upgrade();
        let acl = session
            .as_ref()
            .and_then(|s| s.acl.as_ref())
            .and_then(|policy| policy.face(&face_facts(transport, policy.uses_interfaces())));
        let face = Arc::new(
            Face::new(
                transport.zid(),
                transport.whatami(),
                FaceTx::Transport(TransportTx::new(transport.clone())),
            )
            .with_acl(acl),
        );
        if let Some(s) = &session {
            s.routing.face_opened(face.clone());
            if s.routing.is_mesh_face(&face) && s.routing.follows_rtt() {
                follow_rtt(s, transport);
            }
            let samples = s.admin.transport_opened(transport);
            s.publish_admin(samples);
        }
        Arc::new(FaceHandler {
            session: self.0.clone(),
            routing: session
                .as_ref()
                .map(|s| Arc::downgrade(&s.routing))
                .unwrap_or_default(),
            face,
        })
    }
}

/// Routes the PUSHes of one of a face's batches.
struct FacePushes<'a> {
    routing: &'a Dispatcher,
    face: &'a Arc<Face>,
    last: LastRoute,
}

impl PushSink for FacePushes<'_> {
    fn push(&mut self, push: &mut Push) {
        self.routing.handle_push_in(self.face, push, &mut self.last);
    }
}

/// Drops what arrives after the session's routing went away.
struct Dropped;

impl PushSink for Dropped {
    fn push(&mut self, _: &mut Push) {}
}

impl PeerHandler for FaceHandler {
    fn message(&self, msg: NetworkMessage) {
        if let Some(r) = self.routing.upgrade() {
            r.handle_message(&self.face, msg);
        }
    }

    fn push(&self, push: &mut Push) {
        if let Some(r) = self.routing.upgrade() {
            r.handle_push(&self.face, push);
        }
    }

    fn batch(&self, read: &mut dyn FnMut(&mut dyn PushSink)) {
        // The routing is reached once per batch, and the batch's route kept across it.
        match self.routing.upgrade() {
            Some(routing) => read(&mut FacePushes {
                routing: &routing,
                face: &self.face,
                last: LastRoute::default(),
            }),
            None => read(&mut Dropped),
        }
    }

    fn event(&self, event: TransportEvent) {
        let Some(s) = self.session.upgrade() else {
            return;
        };
        let zid = self.face.zid;
        let samples = match event {
            TransportEvent::LinkAdded(link) => s.admin.link_added(zid, &link),
            TransportEvent::LinkRemoved { link, cause } => s.admin.link_removed(zid, &link, &cause),
            TransportEvent::Closed { cause } => {
                s.routing.face_closed(zid);
                s.admin.transport_closed(zid, &cause)
            }
            _ => Vec::new(),
        };
        s.publish_admin(samples);
    }
}
