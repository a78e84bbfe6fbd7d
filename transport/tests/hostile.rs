//! Limits against hostile peers, against a hand-driven peer: leases of any size,
//! the defragmentation budget (1-byte fragments in large batches, idle series, close),
//! and a flood of RTT probes that the peer never reads the answers to.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Ev, Node, RawPeer, WAIT, put, raw_cfg, socket_addr, task_panics, watch_task_panics};
use plexus_transport::handshake::MAX_REMOTE_LEASE;
use plexus_transport::wire::transport::{
    Fragment, FrameHeader, OamBody, TransportMessage, TransportOam,
};
use plexus_transport::wire::{Priority, Reliability, ZenohId};
use plexus_transport::{CloseCause, Transport, TransportEvent};
use tokio::io::AsyncWriteExt;

const TCP: &str = "tcp/127.0.0.1:0";

/// Waits (bounded) until the transport's incomplete series hold `cond` bytes.
async fn held_until(t: &Transport, what: &str, cond: impl Fn(usize) -> bool) {
    let ok = tokio::time::timeout(WAIT, async {
        while !cond(t.defrag_held()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "{what}: held {} bytes", t.defrag_held());
}

/// A batch of `padding` bytes of an ignored OAM followed by one FRAGMENT whose
/// payload (running to the end of the batch) is `payload`.
fn padded_fragment(padding: usize, f: Fragment) -> Vec<u8> {
    let mut b = Vec::new();
    TransportMessage::Oam(TransportOam {
        id: 0x7fff,
        priority: Priority::Data,
        body: OamBody::ZBuf(Bytes::from(vec![0u8; padding])),
    })
    .write(&mut b);
    TransportMessage::Fragment(f).write(&mut b);
    b
}

fn fragment(p: Priority, sn: u32, first: bool, more: bool, payload: &[u8]) -> Fragment {
    Fragment {
        reliability: Reliability::Reliable,
        more,
        sn,
        priority: p,
        first,
        drop: false,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Sends a PUT in a FRAME on the Data channel and waits for the node to deliver it:
/// everything the peer sent before has been handled.
async fn sync(raw: &mut RawPeer, a: &mut Node, zid: ZenohId, sn: u32, key: &str) {
    let mut b = Vec::new();
    TransportMessage::Frame(FrameHeader {
        reliability: Reliability::BestEffort,
        sn,
        priority: Priority::Data,
    })
    .write(&mut b);
    put(key, 1, 8).write(&mut b);
    raw.send_batch(&b).await;
    let msg = a.next_msg(zid).await;
    assert_eq!(common::key_and_payload(&msg).0, key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_of_u64_max_seconds_is_clamped_without_a_panic() {
    watch_task_panics();
    let before = task_panics();
    let mut a = Node::new();
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_secs(u64::MAX));
    let zid = cfg.zid;
    let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
    let (t, _) = a.expect_open(zid).await;
    assert_eq!(t.remote_lease(), MAX_REMOTE_LEASE);
    // The link works: a message goes through.
    let sn = raw.est.local_initial_sn;
    sync(&mut raw, &mut a, zid, sn, "lease/huge").await;
    // The peer goes: the transport and its socket are freed.
    raw.stream.shutdown().await.expect("shutdown");
    drop(raw);
    loop {
        match a.next_event_for(zid).await {
            Ev::Event(_, TransportEvent::Closed { cause }) => {
                assert!(matches!(cause, CloseCause::LinkFailed(_)), "{cause:?}");
                break;
            }
            Ev::Event(_, TransportEvent::LinkRemoved { .. }) => {}
            other => panic!("expected the transport to close, got {other:?}"),
        }
    }
    assert!(a.mgr.transports().is_empty());
    assert_eq!(task_panics(), before, "a task panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_budget_holds_under_one_byte_fragments_and_is_freed_on_close() {
    const BUDGET: usize = 8 * 1024;
    let mut a = Node::with(|c| c.max_message_size = BUDGET);
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_secs(30));
    let zid = cfg.zid;
    let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
    let (t, _) = a.expect_open(zid).await;
    assert!(t.is_qos());
    let sn0 = raw.est.local_initial_sn;
    let mask = raw.est.sn_mask;
    // 1-byte fragments, each at the end of an 8 KiB batch, on every priority: 2000 of
    // them per priority would be 2000 bytes counted but (kept as slices) 16 MB of
    // batches held; and together they go beyond the budget.
    let per_channel = 2000u32;
    let mut sent = 0usize;
    for p in Priority::ALL {
        let mut wire = Vec::new();
        for i in 0..per_channel {
            let f = fragment(p, (sn0 + i) & mask, i == 0, true, b"x");
            let batch = padded_fragment(8 * 1024, f);
            wire.extend_from_slice(&(batch.len() as u16).to_le_bytes());
            wire.extend_from_slice(&batch);
            sent += 1;
        }
        raw.send_raw(&wire).await;
    }
    sync(&mut raw, &mut a, zid, sn0, "budget/after").await;
    let held = t.defrag_held();
    eprintln!("{sent} one-byte fragments in 8 KiB batches: {held} bytes held");
    assert!(held <= BUDGET, "held {held} > budget {BUDGET}");
    assert!(held >= 2000, "the first series is kept whole: held {held}");
    // The transport carries on: a new fragmented message completes (its First
    // fragment drops the Control channel's old series, which makes room for it).
    let mut msg = Vec::new();
    put("budget/whole", 2, 1500).write(&mut msg);
    let (first, rest) = msg.split_at(1000);
    let base = (sn0 + per_channel) & mask;
    let mut b = Vec::new();
    TransportMessage::Fragment(fragment(Priority::Control, base, true, true, first)).write(&mut b);
    raw.send_batch(&b).await;
    let mut b = Vec::new();
    TransportMessage::Fragment(fragment(
        Priority::Control,
        (base + 1) & mask,
        false,
        false,
        rest,
    ))
    .write(&mut b);
    raw.send_batch(&b).await;
    let got = a.next_msg(zid).await;
    assert_eq!(common::key_and_payload(&got).0, "budget/whole");
    assert!(t.defrag_held() <= BUDGET);
    // The peer goes: everything held is freed, though the transport handle lives.
    raw.stream.shutdown().await.expect("shutdown");
    drop(raw);
    tokio::time::timeout(WAIT, t.closed())
        .await
        .expect("the transport closes");
    assert_eq!(t.defrag_held(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_fragment_series_is_dropped_after_the_timeout() {
    let mut a = Node::with(|c| c.defrag_timeout = Duration::from_millis(300));
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_secs(30));
    let zid = cfg.zid;
    let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
    let (t, _) = a.expect_open(zid).await;
    let sn0 = raw.est.local_initial_sn;
    let mut b = Vec::new();
    TransportMessage::Fragment(fragment(Priority::Data, sn0, true, true, &[7u8; 5000]))
        .write(&mut b);
    raw.send_batch(&b).await;
    sync(&mut raw, &mut a, zid, sn0, "timeout/after").await;
    assert!(t.defrag_held() >= 5000, "held {}", t.defrag_held());
    // The peer stays (its lease is 30 s, ours too) but never finishes the series.
    held_until(&t, "the idle series is dropped", |h| h == 0).await;
    assert!(!t.is_closed());
    // Its continuation is dropped; the transport carries on.
    let mut b = Vec::new();
    TransportMessage::Fragment(fragment(Priority::Data, sn0 + 1, false, false, b"end"))
        .write(&mut b);
    raw.send_batch(&b).await;
    sync(&mut raw, &mut a, zid, sn0 + 1, "timeout/later").await;
    assert_eq!(t.defrag_held(), 0);
}
