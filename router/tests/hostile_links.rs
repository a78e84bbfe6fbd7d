//! `plexusd` against hostile links, driven by hand with the transport crate's sans-IO
//! handshake:
//!
//! - a stranger that announces a live client's zid is refused (CLOSE(MAX_LINKS)
//!   instead of the OPEN ack), even with a session CLOSE and a publication pipelined
//!   behind its OPEN syn; the victim keeps publishing and receiving;
//! - connections that trickle their INIT syn a byte at a time are closed at the
//!   handshake deadline (`transport/unicast/accept_timeout`), not kept open by it.

mod common;

use std::time::Duration;

use common::raw::{
    open_syn_by_hand, pipelined_open_refused_for_max_links, push_put, tcp,
    trickling_handshakes_closed_at,
};
use common::{Daemon, WAIT, client};
use plexus::CongestionControl;
use plexus_transport::handshake::HandshakeConfig;
use plexus_transport::wire::WhatAmI;
use plexus_transport::wire::transport::StreamFramer;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_with_a_live_zid_is_refused_and_the_victim_carries_on() {
    let mut daemon = Daemon::with_config("hijack", None).await;
    let victim = client(&daemon.locator).await;
    let observer = client(&daemon.locator).await;
    let (vtx, at_victim) = flume::unbounded();
    let _vsub = victim
        .declare_subscriber("hijack/to_victim")
        .callback(move |s| {
            let _ = vtx.send(s);
        })
        .await
        .expect("victim subscribes");
    let (otx, at_observer) = flume::unbounded();
    let _osub = observer
        .declare_subscriber("hijack/from_victim")
        .callback(move |s| {
            let _ = otx.send(s);
        })
        .await
        .expect("observer subscribes");

    // The intruder: the victim's zid; its OPEN syn with a session CLOSE behind it in
    // the same batch, then a publication under the victim's name and another CLOSE.
    let mut stream = tcp(daemon.socket_addr()).await;
    let mut framer = StreamFramer::new(u16::MAX);
    let (_hs, open) = open_syn_by_hand(
        &mut stream,
        &mut framer,
        HandshakeConfig::new(victim.zid(), WhatAmI::Client),
    )
    .await;
    let forged = push_put("hijack/from_victim", bytes::Bytes::from_static(b"forged"));
    pipelined_open_refused_for_max_links(&mut stream, &mut framer, &open, &forged).await;
    daemon.line_with("too many links", WAIT).await;

    // A subscription counts at the router once the router has read it, which under load
    // can be well after the subscriber's declare returned (its transport may not even be
    // running there yet). Each side declared a probe subscriber after its real one; a
    // router that delivers to the probe has read the real one before it.
    for (from, to, probe) in [
        (&observer, &victim, "hijack/probe/victim"),
        (&victim, &observer, "hijack/probe/observer"),
    ] {
        let sub = to
            .declare_subscriber(probe)
            .await
            .expect("probe subscriber");
        timeout(WAIT, async {
            loop {
                from.put(probe, "probe").await.expect("probe");
                if let Ok(Ok(_)) = timeout(Duration::from_millis(50), sub.recv_async()).await {
                    return;
                }
            }
        })
        .await
        .expect("the router never delivered a probe");
    }

    // The victim publishes and receives as before; nothing forged arrived.
    let publisher = victim
        .declare_publisher("hijack/from_victim")
        .congestion_control(CongestionControl::Block)
        .await
        .expect("publisher");
    for i in 0..50u64 {
        publisher
            .put(i.to_le_bytes().to_vec())
            .await
            .expect("victim publishes");
        observer
            .put("hijack/to_victim", i.to_le_bytes().to_vec())
            .await
            .expect("observer publishes");
    }
    for i in 0..50u64 {
        let s = timeout(WAIT, at_observer.recv_async())
            .await
            .expect("the victim's publication in time")
            .expect("channel");
        assert_eq!(s.payload().as_ref(), i.to_le_bytes(), "from victim");
        let s = timeout(WAIT, at_victim.recv_async())
            .await
            .expect("a publication to the victim in time")
            .expect("channel");
        assert_eq!(s.payload().as_ref(), i.to_le_bytes(), "to victim");
    }
    assert!(at_observer.is_empty(), "something forged arrived");
    assert_eq!(
        victim.info().routers_zid().len(),
        1,
        "the victim lost its router"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_handshakes_are_closed_at_the_deadline() {
    let deadline = Duration::from_millis(1500);
    let daemon = Daemon::with_config(
        "trickle",
        Some(&format!(
            "{{ transport: {{ unicast: {{ accept_timeout: {} }} }} }}",
            deadline.as_millis()
        )),
    )
    .await;
    trickling_handshakes_closed_at(daemon.socket_addr(), 20, deadline).await;
}
