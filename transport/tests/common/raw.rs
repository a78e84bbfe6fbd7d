//! A hand-driven peer's bytes on a raw TCP stream: length-prefixed batches, the opener's
//! INIT exchange run by hand, and reading until the other end closes. Shared by the
//! transport crate's tests and (through `#[path]`) by `plexusd`'s, which play the same
//! hostile peers against the daemon; every wait is bounded by the including module's
//! `WAIT`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_transport::handshake::{Handshake, HandshakeConfig};
use plexus_transport::wire::network::{NetQos, NetworkMessage, Push, PushBody, WireExpr};
use plexus_transport::wire::transport::{
    BatchItem, BatchReader, Close, CloseReason, FrameHeader, StreamFramer, TransportMessage,
};
use plexus_transport::wire::zenoh::Put;
use plexus_transport::wire::{Encoding, Priority, Reliability, WhatAmI, ZenohId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::WAIT;

/// A TCP connection to `addr` (bounded), with Nagle off so each write goes out at once.
pub async fn tcp(addr: SocketAddr) -> TcpStream {
    let s = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// `batch` behind its two-byte little-endian length, as on a stream link.
pub fn prefixed(batch: &[u8]) -> Vec<u8> {
    let mut out = (batch.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(batch);
    out
}

/// A batch of the one message `m`, length-prefixed.
pub fn one(m: &TransportMessage) -> Vec<u8> {
    let mut b = Vec::new();
    m.write(&mut b);
    prefixed(&b)
}

/// A batch (not prefixed): a FRAME on the reliable Data channel with `sn`, then `msg`.
pub fn frame(sn: u32, msg: &NetworkMessage) -> Vec<u8> {
    let mut b = Vec::new();
    FrameHeader {
        reliability: Reliability::Reliable,
        sn,
        priority: Priority::Data,
    }
    .write(&mut b);
    msg.write(&mut b);
    b
}

/// A PUSH/PUT of `payload` on `key`, with default QoS and encoding and no extensions.
pub fn push_put(key: &str, payload: Bytes) -> NetworkMessage {
    NetworkMessage::Push(Push {
        wire_expr: WireExpr::key(key),
        qos: NetQos::default(),
        timestamp: None,
        node_id: 0,
        body: PushBody::Put(Put {
            timestamp: None,
            encoding: Encoding::default(),
            source_info: None,
            attachment: None,
            payload,
            unknown_exts: Default::default(),
        }),
        unknown_exts: Default::default(),
    })
}

/// Every transport message in `bytes` (length-prefixed batches).
pub fn transport_messages(bytes: &[u8]) -> Vec<TransportMessage> {
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

/// Waits (bounded by `WAIT`) until the other end closes `stream`: end of stream or
/// reset; anything it sends before is returned.
pub async fn closed_by_remote(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
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
    .expect("the connection was not closed in time");
    got
}

/// Reads one batch from a raw stream into `framer`; returns its transport messages.
pub async fn read_batch(
    stream: &mut TcpStream,
    framer: &mut StreamFramer,
) -> Vec<TransportMessage> {
    let batch = timeout(WAIT, async {
        loop {
            if let Some(b) = framer.next_batch().expect("fits") {
                return b;
            }
            let n = stream.read_buf(framer.buffer_mut()).await.expect("read");
            assert!(n > 0, "the stream ended");
        }
    })
    .await
    .expect("no batch in time");
    BatchReader::read_all(batch)
        .expect("decodes")
        .into_iter()
        .filter_map(|i| match i {
            BatchItem::Transport(m) => Some(m),
            BatchItem::Network(_) => None,
        })
        .collect()
}

/// Runs the opener's side by hand up to its OPEN syn (INIT exchanged); returns the
/// handshake and the OPEN syn to send.
pub async fn open_syn_by_hand(
    stream: &mut TcpStream,
    framer: &mut StreamFramer,
    cfg: HandshakeConfig,
) -> (Handshake, TransportMessage) {
    let mut hs = Handshake::opener(cfg, Instant::now());
    let init = hs.poll_transmit().expect("INIT syn");
    stream.write_all(&one(&init)).await.expect("write");
    for m in read_batch(stream, framer).await {
        hs.handle_message(m, Instant::now()).expect("INIT ack");
    }
    let open = hs.poll_transmit().expect("OPEN syn");
    (hs, open)
}

/// Opens `n` connections to `addr` that each trickle a real INIT syn one byte every
/// 250 ms (the hostile behaviour, not a wait: a deadline restarted by each byte would
/// never pass), and asserts that each is closed, with nothing answered, no sooner than
/// `deadline` (less 100 ms of slack) after it opened and within `WAIT`.
pub async fn trickling_handshakes_closed_at(addr: SocketAddr, n: usize, deadline: Duration) {
    let mut hs = Handshake::opener(
        HandshakeConfig::new(ZenohId::random(), WhatAmI::Client),
        Instant::now(),
    );
    let init = one(&hs.poll_transmit().expect("INIT syn"));
    let mut tricklers = Vec::new();
    for _ in 0..n {
        let stream = tcp(addr).await;
        let init = init.clone();
        tricklers.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut rd, mut wr) = stream.into_split();
            let writer = tokio::spawn(async move {
                for b in init.iter().cycle() {
                    if wr.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            // The event: the acceptor closes the connection.
            let mut buf = [0u8; 64];
            let closed = timeout(WAIT, async {
                // The first thing read must be the end of the stream.
                if let Ok(n @ 1..) = rd.read(&mut buf).await {
                    panic!("the acceptor answered a partial INIT ({n} bytes)");
                }
            })
            .await;
            let after = started.elapsed();
            writer.abort();
            (closed.is_ok(), after)
        }));
    }
    for t in tricklers {
        let (closed, after) = t.await.expect("trickler");
        assert!(closed, "a trickling connection stayed open for {WAIT:?}");
        assert!(
            after >= deadline - Duration::from_millis(100),
            "closed after {after:?}, before the deadline {deadline:?}"
        );
    }
}

/// What a peer hijacking a live zid sends once its INIT is exchanged: `open` (its OPEN
/// syn) with a session CLOSE behind it in the same batch, then a FRAME (sn 0) with `msg`
/// and another CLOSE, in one write. Reads until the other end closes and asserts that
/// its one answer (after what `framer` already holds) was CLOSE(MAX_LINKS).
pub async fn pipelined_open_refused_for_max_links(
    stream: &mut TcpStream,
    framer: &mut StreamFramer,
    open: &TransportMessage,
    msg: &NetworkMessage,
) {
    let close = TransportMessage::Close(Close {
        reason: CloseReason::Generic,
        session: true,
    });
    let mut batch = Vec::new();
    open.write(&mut batch);
    close.write(&mut batch);
    let mut out = prefixed(&batch);
    out.extend(prefixed(&frame(0, msg)));
    out.extend(one(&close));
    stream.write_all(&out).await.expect("write");
    let mut got = framer.buffer_mut().to_vec();
    got.extend(closed_by_remote(stream).await);
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
}
