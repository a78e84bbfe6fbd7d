//! Malformed input over real sockets: each bad transport closes with a reason and a
//! CLOSE(INVALID), while a healthy transport on the same listener keeps working.

mod common;

use std::time::Duration;

use common::raw::prefixed;
use common::{
    Ev, Node, RawPeer, Rng, WAIT, key_and_payload, payload, put, raw_cfg, seq_of, socket_addr,
    task_panics, watch_task_panics,
};
use plexus_transport::wire::transport::{Close, CloseReason, FrameHeader, TransportMessage};
use plexus_transport::wire::{CongestionControl, Priority, Reliability, ZenohId};
use plexus_transport::{CloseCause, SendOptions, Transport, TransportEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TCP: &str = "tcp/127.0.0.1:0";

fn block() -> SendOptions {
    SendOptions {
        priority: Priority::Data,
        reliability: Reliability::Reliable,
        congestion: CongestionControl::Block,
        express: false,
    }
}

/// `n` messages each way between the healthy pair, starting at `seq`.
async fn exchange(a: &mut Node, ta: &Transport, c: &mut Node, tc: &Transport, seq: u64, n: u64) {
    let (a_zid, c_zid) = (a.zid(), c.zid());
    for i in seq..seq + n {
        tc.send(&put("c2a", i, 300), block())
            .await
            .expect("send C→A");
        let m = a.next_msg(c_zid).await;
        assert_eq!(seq_of(&m), i);
        assert!(key_and_payload(&m).1 == payload(i, 300));
        ta.send(&put("a2c", i, 300), block())
            .await
            .expect("send A→C");
        let m = c.next_msg(a_zid).await;
        assert_eq!(seq_of(&m), i);
    }
}

/// A bad input sent after a valid handshake, and what A's close reason must mention.
struct Case {
    name: &'static str,
    expect: &'static str,
    bytes: fn(&RawPeer) -> Vec<u8>,
}

fn random_batch(_: &RawPeer) -> Vec<u8> {
    // Random content; the first byte is an unused message id (0x1e) so the bytes cannot
    // happen to be a valid CLOSE or KEEP_ALIVE.
    let mut batch = vec![0x1e];
    batch.extend(Rng::new(0x5eed).bytes(200));
    prefixed(&batch)
}

fn truncated_push(raw: &RawPeer) -> Vec<u8> {
    let mut batch = Vec::new();
    TransportMessage::Frame(FrameHeader {
        reliability: Reliability::Reliable,
        sn: raw.est.local_initial_sn,
        priority: Priority::Data,
    })
    .write(&mut batch);
    let mut push = Vec::new();
    put("truncated/key", 7, 100).write(&mut push);
    batch.extend_from_slice(&push[..push.len() / 2]);
    prefixed(&batch)
}

fn oversized_prefix(raw: &RawPeer) -> Vec<u8> {
    // A length above the agreed batch size, followed by a few bytes (all of which A
    // reads, so closing its socket does not reset ours before we read its CLOSE).
    let len = raw.est.batch_size as usize + 100;
    let mut out = (len as u16).to_le_bytes().to_vec();
    out.extend_from_slice(&[0x05; 10]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_batches_close_only_their_transport() {
    watch_task_panics();
    let panics_before = task_panics();
    let mut a = Node::new();
    let loc = a.listen(TCP).await;
    let mut c = Node::new();
    let tc = c.connect(&loc).await;
    let (ta, _) = a.expect_open(c.zid()).await;
    let _ = c.expect_open(a.zid()).await;
    exchange(&mut a, &ta, &mut c, &tc, 0, 20).await;

    let cases = [
        Case {
            name: "random bytes",
            expect: "unknown message id",
            bytes: random_batch,
        },
        Case {
            name: "truncated PUSH in a FRAME",
            expect: "runs past the end of its batch",
            bytes: truncated_push,
        },
        Case {
            name: "length prefix above the batch size",
            expect: "exceeds the batch size",
            bytes: oversized_prefix,
        },
    ];
    let mut seq = 20;
    for case in cases {
        let mut cfg = raw_cfg(Duration::from_secs(10));
        cfg.batch_size = 4096;
        let zid: ZenohId = cfg.zid;
        let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
        assert_eq!(raw.est.batch_size, 4096);
        let (t, link) = a.expect_open(zid).await;
        assert_eq!(t.batch_size(), 4096);
        let bytes = (case.bytes)(&raw);
        raw.send_raw(&bytes).await;

        match a.next_event_for(zid).await {
            Ev::Event(_, TransportEvent::LinkRemoved { link: l, cause }) => {
                assert_eq!(l.id, link.id);
                match cause {
                    CloseCause::Malformed(why) => assert!(
                        why.contains(case.expect),
                        "{}: reason {why:?} should mention {:?}",
                        case.name,
                        case.expect
                    ),
                    other => panic!("{}: expected Malformed, got {other:?}", case.name),
                }
            }
            other => panic!("{}: expected LinkRemoved, got {other:?}", case.name),
        }
        match a.next_event_for(zid).await {
            Ev::Event(_, TransportEvent::Closed { cause }) => {
                assert!(matches!(cause, CloseCause::Malformed(_)), "{cause:?}")
            }
            other => panic!("{}: expected Closed, got {other:?}", case.name),
        }
        assert!(a.mgr.transport(&zid).is_none());

        let drained = raw.drain_until_eof().await;
        assert_eq!(drained.error, None, "{}", case.name);
        assert_eq!(
            drained.msgs.last(),
            Some(&TransportMessage::Close(Close {
                reason: CloseReason::Invalid,
                session: false
            })),
            "{}: A's last words should be CLOSE(INVALID): {:?}",
            case.name,
            drained.msgs
        );

        // The healthy transport did not notice.
        exchange(&mut a, &ta, &mut c, &tc, seq, 10).await;
        seq += 10;
        assert!(!ta.is_closed() && !tc.is_closed());
    }
    assert_eq!(a.mgr.transports().len(), 1);
    assert_eq!(task_panics(), panics_before, "a task panicked");
    tc.close().await;
}

/// Reads until the socket ends; a reset counts as an end.
async fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .expect("A did not close the socket")
        {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_init_is_refused() {
    watch_task_panics();
    let panics_before = task_panics();
    // A short accept timeout, for garbage whose "length prefix" promises more bytes.
    let mut a = Node::with(|c| c.accept_timeout = Duration::from_secs(2));
    let loc = a.listen(TCP).await;
    let addr = socket_addr(&loc);

    // A well-framed batch of random content: refused at once with CLOSE(INVALID).
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut batch = vec![0x1e];
    batch.extend(Rng::new(1).bytes(63));
    s.write_all(&prefixed(&batch)).await.expect("write");
    let got = read_to_end(&mut s).await;
    assert_eq!(
        got,
        [0x02, 0x00, 0x03, 0x02],
        "CLOSE(INVALID), then the end"
    );

    // Unframed random bytes of several seeds: whatever A makes of them, it ends the
    // socket (at the latest after its accept timeout) and opens nothing.
    for seed in [2u64, 3, 4] {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&Rng::new(seed).bytes(256))
            .await
            .expect("write");
        let got = read_to_end(&mut s).await;
        assert!(got.len() <= 4, "seed {seed}: A answered {got:02x?}");
    }
    // A socket that connects and closes at once.
    drop(TcpStream::connect(addr).await.expect("connect"));

    assert!(a.mgr.transports().is_empty());
    assert!(a.no_event_queued(), "no transport opened");

    // The listener still accepts healthy peers.
    let b = Node::new();
    let tb = b.connect(&loc).await;
    let (ta, _) = a.expect_open(b.zid()).await;
    assert_eq!(ta.zid(), b.zid());
    tb.close().await;
    assert_eq!(task_panics(), panics_before, "a task panicked");
}
