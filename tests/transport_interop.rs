//! Interop of Plexus transports with Zenoh 1.10.2 sessions over TCP on loopback, and of
//! multilink transports (two links, each proven with Zenoh's multilink extension)
//! between Plexus and Zenoh sessions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ep;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::transport::CloseReason;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    CloseCause, PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler,
    TransportManager,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// What the Plexus side observed, in order.
#[derive(Debug)]
enum Seen {
    Opened(ZenohId, WhatAmI),
    Event(TransportEvent),
    Message,
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl TransportHandler for Recorder {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        let _ = self.0.send(Seen::Opened(t.zid(), t.whatami()));
        Arc::new(Recorder(self.0.clone()))
    }
}

impl PeerHandler for Recorder {
    fn message(&self, _msg: NetworkMessage) {
        let _ = self.0.send(Seen::Message);
    }
    fn event(&self, event: TransportEvent) {
        let _ = self.0.send(Seen::Event(event));
    }
}

fn plexus(lease: Duration) -> (TransportManager, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut cfg = TransportConfig::new(ZenohId::random(), WhatAmI::Peer);
    cfg.lease = lease;
    (TransportManager::new(cfg, Arc::new(Recorder(tx))), rx)
}

/// A Zenoh peer with a lease of 1 s.
fn zenoh_config(connect: Option<&str>, listen: Option<&str>) -> zenoh::Config {
    let mut c = common::zenoh_config("peer", connect, listen);
    c.insert_json5("transport/link/tx/lease", "1000")
        .expect("lease");
    c
}

/// Waits (bounded) for the next observation that is not a network message.
async fn next_event(rx: &mut mpsc::UnboundedReceiver<Seen>, within: Duration) -> Seen {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("timed out waiting for a transport event")
            .expect("event channel closed");
        if !matches!(seen, Seen::Message) {
            return seen;
        }
    }
}

/// Asserts that no close event arrives for `quiet` (the transport stays up).
async fn stays_up(rx: &mut mpsc::UnboundedReceiver<Seen>, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return,
            Ok(Some(Seen::Message)) => continue,
            Ok(other) => panic!("transport changed while idle: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_peer_connects_to_plexus_listener() {
    let (mgr, mut rx) = plexus(Duration::from_secs(1));
    let ep = ep("tcp/127.0.0.1:0");
    let locator = mgr.listen(&ep).await.expect("listen");

    let session = zenoh::open(zenoh_config(Some(&locator.to_string()), None))
        .await
        .expect("zenoh open");
    let zenoh_zid: ZenohId = session.zid().to_string().parse().expect("zid");

    match next_event(&mut rx, Duration::from_secs(10)).await {
        Seen::Opened(zid, whatami) => {
            assert_eq!(zid, zenoh_zid);
            assert_eq!(whatami, WhatAmI::Peer);
        }
        other => panic!("expected the transport to open, got {other:?}"),
    }
    match next_event(&mut rx, Duration::from_secs(5)).await {
        Seen::Event(TransportEvent::LinkAdded(link)) => {
            assert_eq!(link.info.dst().protocol(), "tcp");
        }
        other => panic!("expected a link, got {other:?}"),
    }
    // Both leases are 1 s: keep-alives must keep the idle transport up.
    stays_up(&mut rx, Duration::from_secs(3)).await;
    assert_eq!(mgr.transports().len(), 1);

    session.close().await.expect("zenoh close");
    match next_event(&mut rx, Duration::from_secs(5)).await {
        Seen::Event(TransportEvent::LinkRemoved { cause, .. }) => {
            assert_eq!(cause, CloseCause::ByPeer(CloseReason::Generic));
        }
        other => panic!("expected the link to go, got {other:?}"),
    }
    match next_event(&mut rx, Duration::from_secs(5)).await {
        Seen::Event(TransportEvent::Closed { cause }) => {
            assert_eq!(cause, CloseCause::ByPeer(CloseReason::Generic));
        }
        other => panic!("expected the transport to close, got {other:?}"),
    }
    assert!(mgr.transports().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_connects_to_zenoh_listener() {
    let session = zenoh::open(zenoh_config(None, Some("tcp/127.0.0.1:0")))
        .await
        .expect("zenoh open");
    let locators = session.info().locators().await;
    let locator = locators
        .iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("zenoh reports its tcp listener")
        .to_string();
    let events = session
        .info()
        .transport_events_listener()
        .history(false)
        .await
        .expect("zenoh events listener");

    let (mgr, mut rx) = plexus(Duration::from_secs(1));
    let ep = ep(&locator);
    let transport = timeout(Duration::from_secs(10), mgr.connect(&ep))
        .await
        .expect("connect timed out")
        .expect("connect");
    assert_eq!(transport.zid().to_string(), session.zid().to_string());
    assert_eq!(transport.whatami(), WhatAmI::Peer);
    assert!(transport.is_qos());

    let opened = timeout(Duration::from_secs(5), events.recv_async())
        .await
        .expect("zenoh saw no transport")
        .expect("zenoh events");
    assert_eq!(opened.kind(), zenoh::sample::SampleKind::Put);
    assert!(matches!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Seen::Opened(..)
    ));
    assert!(matches!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Seen::Event(TransportEvent::LinkAdded(_))
    ));

    stays_up(&mut rx, Duration::from_secs(3)).await;
    assert!(!transport.is_closed());

    transport.close().await;
    let closed = timeout(Duration::from_secs(5), events.recv_async())
        .await
        .expect("zenoh did not see the close")
        .expect("zenoh events");
    assert_eq!(closed.kind(), zenoh::sample::SampleKind::Delete);
    assert_eq!(transport.close_cause(), Some(CloseCause::Local));
    session.close().await.expect("zenoh close");
}

// Multilink (`transport/unicast/max_links` > 1, Zenoh's `transport_multilink`): one
// transport over two TCP links, each side proving with RSA that both come from the
// same process. The second link of each test goes through a relay that the test cuts.

/// A TCP relay on loopback to `to`, for a link the test can cut.
struct Relay {
    locator: String,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(to: &str) -> Relay {
        let to: std::net::SocketAddr = to
            .strip_prefix("tcp/")
            .expect("a tcp locator")
            .parse()
            .expect("a socket address");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("relay bind");
        let locator = format!("tcp/{}", listener.local_addr().expect("relay address"));
        let task = tokio::spawn(async move {
            // Dropping the set (when the task is aborted) drops every relayed socket.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut a, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut b) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
            }
        });
        Relay { locator, task }
    }

    /// Closes the relayed connections (both ends see the socket close) and the relay.
    fn cut(&self) {
        self.task.abort();
    }
}

/// A Zenoh peer with up to 2 links per transport, connecting to `connect` and
/// listening on `listen`.
fn zenoh_multilink(connect: &[&str], listen: &[&str], id: Option<&str>) -> zenoh::Config {
    let list = |l: &[&str]| {
        let quoted: Vec<String> = l.iter().map(|e| format!(r#""{e}""#)).collect();
        format!("[{}]", quoted.join(","))
    };
    let mut c = common::zenoh_config("peer", None, None);
    c.insert_json5("connect/endpoints", &list(connect))
        .expect("connect");
    c.insert_json5("listen/endpoints", &list(listen))
        .expect("listen");
    c.insert_json5("transport/unicast/max_links", "2")
        .expect("max_links");
    if let Some(id) = id {
        c.insert_json5("id", &format!(r#""{id}""#)).expect("id");
    }
    c
}

/// A Plexus peer with up to 2 links per transport.
fn plexus_multilink(
    connect: Vec<plexus::Endpoint>,
    listen: Vec<plexus::Endpoint>,
) -> plexus::Config {
    let mut c = plexus::Config::default()
        .with_mode(plexus::WhatAmI::Peer)
        .with_connect(connect)
        .with_listen(listen);
    c.insert_json5("transport/unicast/max_links", "2")
        .expect("max_links");
    c
}

/// Waits until Plexus's session holds exactly one transport, to `zid`, with `n` links.
async fn plexus_links(p: &plexus::Session, zid: &str, n: usize) {
    let events = p.info().connectivity_events();
    let done = timeout(common::WAIT, async {
        loop {
            let transports = p.info().transports();
            let links = p.info().links();
            if transports.len() == 1
                && transports[0].zid.to_string() == zid
                && links.len() == n
                && links.iter().all(|l| l.zid.to_string() == zid)
            {
                return;
            }
            let _ = events.recv_async().await;
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "Plexus: expected one transport to {zid} with {n} links, has {:?} and links {:?}",
        p.info().transports(),
        p.info().links()
    );
}

/// The links Zenoh's session has to `zid`, and the number of its transports.
async fn zenoh_links(z: &zenoh::Session, zid: &str) -> (usize, usize) {
    let transports = z.info().transports().await.count();
    let links = z
        .info()
        .links()
        .await
        .filter(|l| l.zid().to_string() == zid)
        .count();
    (transports, links)
}

/// Publications go both ways between `p` and `z` (on a fresh key under `prefix`),
/// including a fragmented one.
async fn pubsub_both_ways(p: &plexus::Session, z: &zenoh::Session, prefix: &str) {
    let big = common::payload(200_000);
    let psub = p
        .declare_subscriber(format!("{prefix}/z2p/**"))
        .await
        .expect("subscribe");
    common::until("Zenoh → Plexus", || async {
        z.put(format!("{prefix}/z2p/probe"), "probe")
            .await
            .expect("zenoh put");
        common::arrived(&psub).await
    })
    .await;
    while psub.try_recv().is_ok() {}
    z.put(format!("{prefix}/z2p/big"), big.clone())
        .await
        .expect("zenoh put");
    // A probe may still arrive late (after its 100 ms): skip probes.
    let s = loop {
        let s = common::recv(&psub).await;
        if !s.key_expr().as_str().ends_with("/probe") {
            break s;
        }
    };
    assert_eq!(s.key_expr().as_str(), format!("{prefix}/z2p/big"));
    assert!(s.payload()[..] == big[..], "Zenoh → Plexus payload differs");

    let zsub = z
        .declare_subscriber(format!("{prefix}/p2z/**"))
        .await
        .expect("zenoh subscribe");
    common::until("Plexus → Zenoh", || async {
        p.put(format!("{prefix}/p2z/probe"), "probe")
            .await
            .expect("put");
        matches!(
            timeout(Duration::from_millis(100), zsub.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    while zsub.try_recv().is_ok_and(|s| s.is_some()) {}
    p.put(format!("{prefix}/p2z/big"), big.clone())
        .await
        .expect("put");
    let s = loop {
        let s = common::zrecv(&zsub).await;
        if !s.key_expr().as_str().ends_with("/probe") {
            break s;
        }
    };
    assert_eq!(s.key_expr().as_str(), format!("{prefix}/p2z/big"));
    assert!(
        s.payload().to_bytes()[..] == big[..],
        "Plexus → Zenoh payload differs"
    );
}

/// Cuts the link that `relay` carries between `p` and `z` and checks that both keep their
/// transport with the other link, and that pub/sub goes on over it (keys under `prefix`).
async fn cut_one_link(
    p: &plexus::Session,
    z: &zenoh::Session,
    relay: &Relay,
    zevents: &ZenohLinkEvents,
    prefix: &str,
) {
    let events = p.info().connectivity_events();
    relay.cut();
    common::connectivity(&events, "Plexus dropping the cut link", |e| match e {
        plexus::ConnectivityEvent::LinkRemoved { link, .. } => Some(link),
        plexus::ConnectivityEvent::TransportClosed { zid, reason } => {
            panic!("Plexus closed the transport to {zid}: {reason}")
        }
        _ => None,
    })
    .await;
    plexus_links(p, &z.zid().to_string(), 1).await;
    zenoh_lost_one_link(z, zevents, &p.zid().to_string()).await;
    pubsub_both_ways(p, z, prefix).await;
    assert_eq!(p.info().transports().len(), 1);
}

/// The Zenoh side lost a link to `zid` (a link Delete event) and keeps the other.
async fn zenoh_lost_one_link(z: &zenoh::Session, events: &ZenohLinkEvents, zid: &str) {
    let removed = timeout(common::WAIT, async {
        loop {
            let ev = events.recv_async().await.expect("zenoh link events");
            if ev.kind() == zenoh::sample::SampleKind::Delete && ev.link().zid().to_string() == zid
            {
                return;
            }
        }
    })
    .await;
    assert!(removed.is_ok(), "Zenoh did not drop the cut link");
    assert_eq!(zenoh_links(z, zid).await, (1, 1), "Zenoh after the cut");
}

/// Zenoh's link events, as `link_events_listener` gives them.
type ZenohLinkEvents = zenoh::session::LinkEventsListener<
    zenoh::handlers::FifoChannelHandler<zenoh::session::LinkEvent>,
>;

/// A listener of `z`'s link events from now on (no history).
async fn zenoh_link_events(z: &zenoh::Session) -> ZenohLinkEvents {
    z.info()
        .link_events_listener()
        .history(false)
        .await
        .expect("zenoh link events")
}

/// A [`Relay`] in front of each of the two `listeners`.
async fn relays_to(listeners: &[String]) -> [Relay; 2] {
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    [
        Relay::start(&listeners[0]).await,
        Relay::start(&listeners[1]).await,
    ]
}

/// Waits until Zenoh's session has one transport with two links to `zid`.
async fn zenoh_second_link(z: &zenoh::Session, zid: &str) {
    common::until("Zenoh's second link", || async {
        zenoh_links(z, zid).await == (1, 2)
    })
    .await;
}

/// `p` and `z` end with one transport of two links to each other on both sides, and
/// pub/sub works over it (keys under `prefix`).
async fn joined_by_two_links(p: &plexus::Session, z: &zenoh::Session, prefix: &str) {
    plexus_links(p, &z.zid().to_string(), 2).await;
    zenoh_second_link(z, &p.zid().to_string()).await;
    pubsub_both_ways(p, z, prefix).await;
}

/// A Zenoh peer with `max_links` 2, connecting to both listeners of a Plexus peer with
/// `max_links` 2 (Zenoh peers dial every configured endpoint), ends with one transport of
/// two links on both sides; pub/sub works; cutting the link Plexus writes on keeps the
/// transport, and pub/sub goes on over the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_multilink_peer_joins_two_links_to_plexus() {
    let p = plexus::open(plexus_multilink(
        vec![],
        vec![ep("tcp/127.0.0.1:0"), ep("tcp/127.0.0.1:0")],
    ))
    .await
    .expect("plexus open");
    let listeners: Vec<String> = p.locators().iter().map(ToString::to_string).collect();
    let relays = relays_to(&listeners).await;
    let z = zenoh::open(zenoh_multilink(
        &[&relays[0].locator, &relays[1].locator],
        &[],
        None,
    ))
    .await
    .expect("zenoh open");
    let zevents = zenoh_link_events(&z).await;

    joined_by_two_links(&p, &z, "multilink/z2p/before").await;

    // Cut the link Plexus writes on (its first link, accepted on listeners[i]).
    let first = p.info().links()[0].src.clone();
    let i = listeners
        .iter()
        .position(|l| *l == first)
        .unwrap_or_else(|| panic!("link source {first} is not a listener {listeners:?}"));
    cut_one_link(&p, &z, &relays[i], &zevents, "multilink/z2p/after").await;

    z.close().await.expect("zenoh close");
    p.close().await;
}

/// A Plexus peer with `max_links` 2 connecting to both listeners of a Zenoh peer with
/// `max_links` 2: one transport of two links on both sides; pub/sub works; cutting the
/// link Plexus writes on keeps the transport, and pub/sub goes on over the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_multilink_peer_joins_two_links_to_zenoh() {
    let z = zenoh::open(zenoh_multilink(
        &[],
        &["tcp/127.0.0.1:0", "tcp/127.0.0.1:0"],
        None,
    ))
    .await
    .expect("zenoh open");
    let listeners: Vec<String> = z
        .info()
        .locators()
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let relays = relays_to(&listeners).await;
    let zevents = zenoh_link_events(&z).await;
    let p = plexus::open(plexus_multilink(
        vec![ep(&relays[0].locator), ep(&relays[1].locator)],
        vec![],
    ))
    .await
    .expect("plexus open");

    joined_by_two_links(&p, &z, "multilink/p2z/before").await;

    let first = p.info().links()[0].dst.clone();
    let i = relays
        .iter()
        .position(|r| r.locator == first)
        .unwrap_or_else(|| panic!("link destination {first} is not a relay"));
    cut_one_link(&p, &z, &relays[i], &zevents, "multilink/p2z/after").await;

    p.close().await;
    z.close().await.expect("zenoh close");
}

/// A second Zenoh process announcing the zid of a Zenoh peer joined to Plexus, with
/// multilink on but its own key, is refused with CLOSE(INVALID): the victim's transport
/// keeps its one link and its traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_link_with_another_key_is_refused() {
    common::capture_logs();
    let p = plexus::open(plexus_multilink(vec![], vec![ep("tcp/127.0.0.1:0")]))
        .await
        .expect("plexus open");
    let listener = p.locators()[0].to_string();
    let victim = zenoh::open(zenoh_multilink(&[&listener], &[], None))
        .await
        .expect("zenoh open");
    let zzid = victim.zid().to_string();
    plexus_links(&p, &zzid, 1).await;

    // Same zid, another process (another multilink key).
    let forger = zenoh::open(zenoh_multilink(&[&listener], &[], Some(&zzid)))
        .await
        .expect("zenoh open");
    let line = common::logged(&["refused a link", &zzid]).await;
    // Refused as Zenoh refuses it (see the next test).
    assert!(
        line.contains("(invalid)") && line.contains("another key"),
        "{line}"
    );
    plexus_links(&p, &zzid, 1).await;
    let pzid = p.zid().to_string();
    assert_eq!(zenoh_links(&forger, &pzid).await, (0, 0));
    pubsub_both_ways(&p, &victim, "multilink/forged").await;

    forger.close().await.expect("zenoh close");
    victim.close().await.expect("zenoh close");
    p.close().await;
}

/// What Zenoh 1.10.2 (`max_links` 2) does with links that announce the zid of its
/// multilink transport: one with another key, or with none, is refused with
/// CLOSE(INVALID) in place of the OPEN ack (its transport's configuration differs);
/// one with the transport's key joins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_refuses_joining_links_with_another_key_as_invalid() {
    let z = zenoh::open(zenoh_multilink(&[], &["tcp/127.0.0.1:0"], None))
        .await
        .expect("zenoh open");
    let loc = ep(&common::zenoh_locator(&z).await);
    let zid = ZenohId::random();
    // `max_links` 2 makes each manager its own key; 1 offers none.
    let manager = |max_links: usize| {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut cfg = TransportConfig::new(zid, WhatAmI::Peer);
        cfg.max_links = max_links;
        TransportManager::new(cfg, Arc::new(Recorder(tx)))
    };
    let victim = manager(2);
    let t = timeout(common::WAIT, victim.connect(&loc))
        .await
        .expect("connect timed out")
        .expect("connect");

    for (who, m) in [("another key", manager(2)), ("no key", manager(1))] {
        let err = timeout(common::WAIT, m.connect(&loc))
            .await
            .expect("connect timed out")
            .expect_err(who)
            .to_string();
        assert!(err.contains("closed by the peer: invalid"), "{who}: {err}");
        m.close().await;
    }
    assert_eq!(t.links().len(), 1);

    let joined = timeout(common::WAIT, victim.connect(&loc))
        .await
        .expect("connect timed out")
        .expect("the victim's second link");
    assert_eq!(joined.links().len(), 2);
    assert_eq!(t.links().len(), 2);
    zenoh_second_link(&z, &zid.to_string()).await;
    victim.close().await;
    z.close().await.expect("zenoh close");
}
