//! The admin space other processes can read, in Zenoh 1.x's layout:
//!
//! | key | value |
//! |---|---|
//! | `@/<zid>/<mode>` | this process and its sessions, as a Zenoh 1.10.2 router answers, plus RTT, times and counters |
//! | `@/<zid>/<mode>/metrics` | the metrics in OpenMetrics text |
//! | `@/<zid>/<mode>/transports/closed` | the last closed transports (a Plexus extension) |
//! | `@/<zid>/session/**` | the session's connectivity resources (the spec's), for remote readers |
//!
//! `<mode>` is `router`, `peer` or `client`. With `adminspace/permissions/read` false only
//! this process may query it (its REST plugin and page still work); remote queries get
//! no reply, as with Zenoh.
//!
//! Puts and deletes on `@/<zid>/<mode>/config/<key>` change the configuration as in Zenoh
//! when `adminspace/permissions/write` is true; Plexus changes only [`WRITABLE_KEYS`] at
//! runtime and refuses the others with a log line naming them.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use plexus::{
    Config, Encoding, Locality, OwnedKeyExpr, Query, Queryable, Sample, SampleKind, Session,
    Subscriber, WhatAmI, ZenohId,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::monitor::Monitor;

/// Zenoh's encoding of the metrics resource.
pub const METRICS_ENCODING: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How many queries may wait for the admin space before new ones are refused (answered
/// with no reply).
const PENDING_QUERIES: usize = 64;

/// The admin space of a session, served while this value lives.
pub struct AdminSpace {
    _root: Queryable<()>,
    _relay: Option<Queryable<()>>,
    _config: Subscriber<()>,
    tasks: Vec<JoinHandle<()>>,
    prefix: String,
}

impl std::fmt::Debug for AdminSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSpace")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Drop for AdminSpace {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A queryable callback that hands queries to a task through a bounded channel; a
/// query that finds it full is dropped, which ends it for the querier.
fn bounded_queue() -> (
    impl Fn(Query) + Send + Sync + 'static,
    flume::Receiver<Query>,
) {
    let (tx, rx) = flume::bounded(PENDING_QUERIES);
    let callback = move |q: Query| {
        if let Err(flume::TrySendError::Full(q)) = tx.try_send(q) {
            tracing::warn!(
                "admin space: too many queries waiting; dropped {}",
                q.key_expr()
            );
        }
    };
    (callback, rx)
}

impl AdminSpace {
    /// Declares the admin space's queryables on `monitor`'s session. `plugins` is the
    /// `plugins` value of `@/<zid>/<mode>` (Zenoh's: plugin id → `{name, path}`).
    pub async fn serve(
        monitor: &Monitor,
        plugins: Value,
    ) -> Result<AdminSpace, plexus::SessionError> {
        let session = monitor.session();
        let conf = session.config().adminspace();
        let prefix = format!("@/{}/{}", session.zid(), session.mode().as_str());
        let origin = if conf.read {
            Locality::Any
        } else {
            Locality::SessionLocal
        };
        let (callback, rx) = bounded_queue();
        let root = session
            .declare_queryable(format!("{prefix}/**"))
            .allowed_origin(origin)
            .callback(callback)
            .await?;
        let metadata = Arc::new(Mutex::new(session.config().metadata().clone()));
        let ctx = Context {
            monitor: monitor.clone(),
            prefix: OwnedKeyExpr::new(prefix.clone())?,
            plugins,
            metadata: metadata.clone(),
        };
        let mut tasks = vec![tokio::spawn(async move {
            while let Ok(q) = rx.recv_async().await {
                ctx.answer(&q).await;
            }
        })];
        // The session's own connectivity resources answer only this session; remote
        // readers go through this relay, which asks them and passes the replies on.
        let relay = if conf.read {
            let (callback, rx) = bounded_queue();
            let q = session
                .declare_queryable(format!("@/{}/session/**", session.zid()))
                .allowed_origin(Locality::Remote)
                .callback(callback)
                .await?;
            let s = session.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok(q) = rx.recv_async().await {
                    relay(&s, &q).await;
                }
            }));
            Some(q)
        } else {
            None
        };
        // Puts on `<prefix>/config/<key>` (Zenoh's): applied when writing is permitted.
        let (tx, rx) = flume::bounded::<Sample>(PENDING_QUERIES);
        let config = session
            .declare_subscriber(format!("{prefix}/config/**"))
            .callback(move |s: Sample| {
                if let Err(flume::TrySendError::Full(s)) = tx.try_send(s) {
                    tracing::debug!(
                        "admin space: too many writes waiting; dropped {}",
                        s.key_expr()
                    );
                }
            })
            .await?;
        let mut writes = ConfigWrites {
            prefix: format!("{prefix}/config/"),
            allowed: conf.write,
            config: session.config().clone(),
            metadata,
            refusals_logged: 0,
        };
        tasks.push(tokio::spawn(async move {
            while let Ok(s) = rx.recv_async().await {
                writes.apply(&s);
            }
        }));
        Ok(AdminSpace {
            _root: root,
            _relay: relay,
            _config: config,
            tasks,
            prefix,
        })
    }

    /// `@/<zid>/<mode>`, the root of the served keys.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// Passes a remote query on `@/<zid>/session/**` to the session's own admin queryable.
async fn relay(session: &Session, q: &Query) {
    let replies = match session
        .get(q.selector())
        .allowed_destination(Locality::SessionLocal)
        .timeout(Duration::from_secs(5))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("admin space relay: {e}");
            return;
        }
    };
    while let Ok(reply) = replies.recv_async().await {
        let Ok(s) = reply.result() else { continue };
        let mut r = q
            .reply(s.key_expr().clone(), s.payload().clone())
            .encoding(s.encoding().clone());
        if let Some(ts) = s.timestamp() {
            r = r.timestamp(*ts);
        }
        if let Err(e) = r.await {
            tracing::debug!("admin space relay: {e}");
        }
    }
}

struct Context {
    monitor: Monitor,
    prefix: OwnedKeyExpr,
    plugins: Value,
    /// `metadata` as shown in `@/<zid>/<mode>` (writable through the admin space).
    metadata: Arc<Mutex<Value>>,
}

/// The configuration keys a put on the admin space changes while the process runs.
pub const WRITABLE_KEYS: &[&str] = &["metadata"];

/// How many refused admin-space writes are logged at WARN (the rest go to DEBUG, so a
/// remote writer cannot fill the log).
const REFUSALS_AT_WARN: u32 = 10;

/// Applies puts and deletes on `@/<zid>/<mode>/config/<key>`, as Zenoh's admin space
/// does when `adminspace/permissions/write` is true. Plexus changes at runtime only the
/// keys in [`WRITABLE_KEYS`]; a put on any other key (or with a value that does not
/// parse) is refused with a log line naming it.
struct ConfigWrites {
    prefix: String,
    allowed: bool,
    /// The configuration with the writes applied so far (values are checked against it).
    config: Config,
    metadata: Arc<Mutex<Value>>,
    refusals_logged: u32,
}

impl ConfigWrites {
    fn apply(&mut self, s: &Sample) {
        let key_expr = s.key_expr().as_str();
        if !self.allowed {
            self.refuse(format_args!(
                "admin space: the write on {key_expr} was ignored: adminspace/permissions/write is false"
            ));
            return;
        }
        let Some(key) = key_expr.strip_prefix(&self.prefix) else {
            return;
        };
        if !WRITABLE_KEYS.contains(&key) {
            self.refuse(format_args!(
                "admin space: the write on {key_expr} was refused: Plexus changes only {WRITABLE_KEYS:?} at runtime"
            ));
            return;
        }
        let value = match s.kind() {
            SampleKind::Put => match std::str::from_utf8(s.payload()) {
                Ok(text) => text.to_owned(),
                Err(_) => {
                    self.refuse(format_args!(
                        "admin space: the value put on {key_expr} is not UTF-8 text"
                    ));
                    return;
                }
            },
            // A delete puts the default back.
            SampleKind::Delete => "null".to_owned(),
        };
        let mut updated = self.config.clone();
        if let Err(e) = updated.insert_json5(key, &value) {
            self.refuse(format_args!(
                "admin space: the write on {key_expr} was refused: {e}"
            ));
            return;
        }
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) = updated.metadata().clone();
        self.config = updated;
        tracing::info!("admin space: configuration key {key} set to {value}");
    }

    fn refuse(&mut self, what: std::fmt::Arguments<'_>) {
        if self.refusals_logged < REFUSALS_AT_WARN {
            self.refusals_logged += 1;
            tracing::warn!("{what}");
        } else {
            tracing::debug!("{what}");
        }
    }
}

impl Context {
    async fn answer(&self, q: &Query) {
        let session = self.monitor.session();
        let key = q.key_expr();
        let sub = |suffix: &str| OwnedKeyExpr::new(format!("{}/{suffix}", self.prefix));
        if self.prefix.intersects(key) {
            let metadata = self
                .metadata
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let body = router_json(&self.monitor, &self.plugins, &metadata).to_string();
            reply(
                q,
                self.prefix.clone(),
                body.into_bytes(),
                Encoding::APPLICATION_JSON,
            )
            .await;
        }
        if let Ok(k) = sub("metrics")
            && k.intersects(key)
        {
            let mut text = self.monitor.metrics_text(true);
            if param(q.parameters(), "descriptors") == Some("false") {
                text = text
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .chain(["# EOF"])
                    .map(|l| format!("{l}\n"))
                    .collect();
            }
            reply(q, k, text.into_bytes(), Encoding::from(METRICS_ENCODING)).await;
        }
        // The router graph, under Zenoh 1.0–1.9's name and 1.10's.
        if let Some(dot) = session.info().linkstate_dot() {
            for name in ["linkstate/routers", "linkstate/north"] {
                if let Ok(k) = sub(name)
                    && k.intersects(key)
                {
                    reply(q, k, dot.clone().into_bytes(), Encoding::TEXT_PLAIN).await;
                }
            }
        }
        if let Ok(k) = sub("transports/closed")
            && k.intersects(key)
        {
            let closed = session.info().closed_transports();
            let body = serde_json::to_vec(&closed).unwrap_or_else(|_| b"[]".to_vec());
            reply(q, k, body, Encoding::APPLICATION_JSON).await;
        }
    }
}

async fn reply(q: &Query, key: OwnedKeyExpr, body: Vec<u8>, encoding: Encoding) {
    if let Err(e) = q.reply(key, body).encoding(encoding).await {
        tracing::debug!("admin space: cannot reply: {e}");
    }
}

/// The value of parameter `name` in `a=b;c=d` (Zenoh's selector parameters, `&` also
/// accepted).
pub(crate) fn param<'a>(parameters: &'a str, name: &str) -> Option<&'a str> {
    parameters
        .split([';', '&'])
        .filter_map(|p| match p.split_once('=') {
            Some((k, v)) => Some((k, v)),
            None => (!p.is_empty()).then_some((p, "")),
        })
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The region Zenoh 1.10.2 reports for a remote process in its default layout (Plexus
/// has no regions): `north` between routers (and everything a client sees), a
/// router's or peer's clients and a router's peers in `south:0:<kind>`.
fn region(local: WhatAmI, remote: WhatAmI) -> String {
    match (local, remote) {
        (WhatAmI::Client, _) | (_, WhatAmI::Router) | (WhatAmI::Peer, WhatAmI::Peer) => {
            "north".into()
        }
        (_, r) => format!("south:0:{}", r.as_str()),
    }
}

/// `@/<zid>/<mode>`: Zenoh 1.10.2's fields (`zid`, `version`, `metadata`, `locators`,
/// `sessions` with `peer`, `whatami`, `links` of `{src, dst}`, `weight`, `shm`, `region`,
/// and `plugins`), and for each session and link what Plexus knows more: times, lease,
/// RTT now and its recent history, counters.
pub(crate) fn router_json(monitor: &Monitor, plugins: &Value, metadata: &Value) -> Value {
    let session = monitor.session();
    let info = session.info();
    let mut links: HashMap<ZenohId, Vec<Value>> = HashMap::new();
    for l in info.links() {
        let history = monitor.rtt_history(l.zid, l.id);
        links.entry(l.zid).or_default().push(json!({
            "src": l.src,
            "dst": l.dst,
            "id": l.id,
            "mtu": l.mtu,
            "is_reliable": l.is_reliable,
            "is_streamed": l.is_streamed,
            "created_at": l.created_at,
            "rtt_us": l.rtt_us,
            "rtt_history": history,
            "auth_identifier": l.auth_identifier,
            "stats": {"tx_bytes": l.tx_bytes, "rx_bytes": l.rx_bytes},
        }));
    }
    let sessions: Vec<Value> = info
        .transports()
        .into_iter()
        .map(|t| {
            json!({
                "peer": t.zid.to_string(),
                "whatami": t.whatami.as_str(),
                "links": links.remove(&t.zid).unwrap_or_default(),
                "weight": null,
                "shm": t.is_shm,
                "region": region(session.mode(), t.whatami),
                "is_qos": t.is_qos,
                "created_at": t.created_at,
                "lease_ms": t.lease_ms,
                "auth_identifier": t.auth_identifier,
                "stats": t.stats,
            })
        })
        .collect();
    let mut v = json!({
        "zid": session.zid().to_string(),
        "version": format!("plexus v{}", env!("CARGO_PKG_VERSION")),
        "metadata": metadata,
        "locators": session.locators().iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        "sessions": sessions,
        "plugins": plugins,
    });
    // Routers: the mesh graph with our links' RTTs (a Plexus field).
    if let Some(graph) = info.linkstate_json() {
        v["linkstate"] = graph;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_regions() {
        assert_eq!(param("a=1;descriptors=false", "descriptors"), Some("false"));
        assert_eq!(param("_raw&x=2", "_raw"), Some(""));
        assert_eq!(param("x=2", "_raw"), None);
        assert_eq!(region(WhatAmI::Router, WhatAmI::Client), "south:0:client");
        assert_eq!(region(WhatAmI::Router, WhatAmI::Peer), "south:0:peer");
        assert_eq!(region(WhatAmI::Router, WhatAmI::Router), "north");
        assert_eq!(region(WhatAmI::Client, WhatAmI::Router), "north");
    }
}
