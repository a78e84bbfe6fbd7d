//! `plexusd` against hostile links, driven by hand with the transport crate's sans-IO
//! handshake:
//!
//! - a stranger that announces a live client's zid is refused (CLOSE(MAX_LINKS)
//!   instead of the OPEN ack), even with a session CLOSE and a publication pipelined
//!   behind its OPEN syn; the victim keeps publishing and receiving;
//! - connections that trickle their INIT syn a byte at a time are closed at the
//!   handshake deadline (`transport/unicast/accept_timeout`), not kept open by it.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, WAIT, client};
use plexus::CongestionControl;
use plexus_transport::handshake::{Handshake, HandshakeConfig};
use plexus_transport::wire::network::{NetQos, NetworkMessage, Push, PushBody, WireExpr};
use plexus_transport::wire::transport::{
    BatchItem, BatchReader, Close, CloseReason, FrameHeader, StreamFramer, TransportMessage,
};
use plexus_transport::wire::zenoh::Put;
use plexus_transport::wire::{Encoding, Priority, Reliability, WhatAmI};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn prefixed(batch: &[u8]) -> Vec<u8> {
    let mut out = (batch.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(batch);
    out
}

fn one(m: &TransportMessage) -> Vec<u8> {
    let mut b = Vec::new();
    m.write(&mut b);
    prefixed(&b)
}

/// Every transport message in `bytes` (length-prefixed batches).
fn transport_messages(bytes: &[u8]) -> Vec<TransportMessage> {
    let mut framer = StreamFramer::new(u16::MAX);
    framer.extend(bytes);
    let mut out = Vec::new();
    while let Ok(Some(batch)) = framer.next_batch() {
        for item in BatchReader::read_all(batch).expect("decodes") {
            if let BatchItem::Transport(m) = item {
                out.push(m);
            }
        }
    }
    out
}

/// Reads until the daemon closes the stream (bounded); returns what it sent.
async fn until_closed(stream: &mut TcpStream, mut got: Vec<u8>) -> Vec<u8> {
    timeout(WAIT, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("plexusd did not close the intruder's connection");
    got
}

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
    let mut stream = timeout(WAIT, TcpStream::connect(daemon.socket_addr()))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut hs = Handshake::opener(
        HandshakeConfig::new(victim.zid(), WhatAmI::Client),
        Instant::now(),
    );
    stream
        .write_all(&one(&hs.poll_transmit().expect("INIT syn")))
        .await
        .expect("write");
    let mut framer = StreamFramer::new(u16::MAX);
    let ack = timeout(WAIT, async {
        loop {
            if let Some(b) = framer.next_batch().expect("fits") {
                return b;
            }
            let n = stream.read_buf(framer.buffer_mut()).await.expect("read");
            assert!(n > 0, "plexusd closed before its INIT ack");
        }
    })
    .await
    .expect("INIT ack in time");
    for item in BatchReader::read_all(ack).expect("decodes") {
        if let BatchItem::Transport(m) = item {
            hs.handle_message(m, Instant::now()).expect("INIT ack");
        }
    }
    let open = hs.poll_transmit().expect("OPEN syn");
    let close = TransportMessage::Close(Close {
        reason: CloseReason::Generic,
        session: true,
    });
    let mut batch = Vec::new();
    open.write(&mut batch);
    close.write(&mut batch);
    let mut out = prefixed(&batch);
    let mut frame = Vec::new();
    FrameHeader {
        reliability: Reliability::Reliable,
        sn: 0,
        priority: Priority::Data,
    }
    .write(&mut frame);
    NetworkMessage::Push(Push {
        wire_expr: WireExpr::key("hijack/from_victim"),
        qos: NetQos::default(),
        timestamp: None,
        node_id: 0,
        body: PushBody::Put(Put {
            timestamp: None,
            encoding: Encoding::default(),
            source_info: None,
            attachment: None,
            payload: bytes::Bytes::from_static(b"forged"),
            unknown_exts: Default::default(),
        }),
        unknown_exts: Default::default(),
    })
    .write(&mut frame);
    out.extend(prefixed(&frame));
    out.extend(one(&close));
    stream.write_all(&out).await.expect("write");
    let got = until_closed(&mut stream, framer.buffer_mut().to_vec()).await;
    let msgs = transport_messages(&got);
    assert!(
        matches!(
            msgs.as_slice(),
            [TransportMessage::Close(Close {
                reason: CloseReason::MaxLinks,
                ..
            })]
        ),
        "the intruder got {msgs:?}"
    );
    daemon.line_with("too many links", WAIT).await;

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
    let mut hs = Handshake::opener(
        HandshakeConfig::new(plexus::ZenohId::random(), WhatAmI::Client),
        Instant::now(),
    );
    let init = one(&hs.poll_transmit().expect("INIT syn"));
    let mut tricklers = Vec::new();
    for _ in 0..20 {
        let stream = timeout(WAIT, TcpStream::connect(daemon.socket_addr()))
            .await
            .expect("connect in time")
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let init = init.clone();
        tricklers.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut rd, mut wr) = stream.into_split();
            // One byte every 250 ms: the hostile behaviour, not a wait.
            let writer = tokio::spawn(async move {
                for b in init.iter().cycle() {
                    if wr.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            let mut buf = [0u8; 64];
            let closed = timeout(WAIT, async {
                // The first thing read must be the end of the stream.
                if let Ok(n @ 1..) = rd.read(&mut buf).await {
                    panic!("plexusd answered a partial INIT ({n} bytes)");
                }
            })
            .await;
            writer.abort();
            (closed.is_ok(), started.elapsed())
        }));
    }
    for t in tricklers {
        let (closed, after) = t.await.expect("trickler");
        assert!(closed, "a trickling connection stayed open for {WAIT:?}");
        assert!(
            after >= deadline - Duration::from_millis(100),
            "closed after {after:?}, before the deadline"
        );
    }
}
