//! Congestion control against a hand-driven peer that stops reading: `Block` senders
//! are held back and the transport closes as a slow consumer after `wait_before_close`;
//! `Drop` senders lose messages (counted) but are never held back for long; a link whose
//! writer is blocked still expires by lease; RTT probes get one answer at a time.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{Ev, Node, RawPeer, WAIT, put, raw_cfg, socket_addr};
use plexus_transport::wire::transport::TransportOam;
use plexus_transport::wire::transport::{BatchItem, BatchReader, OamBody, TransportMessage};
use plexus_transport::wire::{CongestionControl, Priority};
use plexus_transport::{CloseCause, QueueConfig, SendOptions, TransportEvent};

const TCP: &str = "tcp/127.0.0.1:0";

fn opts(congestion: CongestionControl) -> SendOptions {
    SendOptions {
        congestion,
        ..SendOptions::default()
    }
}

fn queue(wait_before_close: Duration) -> QueueConfig {
    QueueConfig {
        size: [2; 8],
        wait_before_close,
        ..QueueConfig::default()
    }
}

/// Polls `f` once: its output if it is ready without waiting.
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_holds_block_senders_back_then_closes_as_slow_consumer() {
    let wait_before_close = Duration::from_millis(700);
    let mut a = Node::with(|c| {
        c.lease = Duration::from_secs(60);
        c.queue = queue(wait_before_close);
    });
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_secs(60));
    let zid = cfg.zid;
    let _raw = RawPeer::connect_small(socket_addr(&loc), cfg, 4096).await;
    let (t, _) = a.expect_open(zid).await;

    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let sender = {
        let (t, sent) = (t.clone(), sent.clone());
        tokio::spawn(async move {
            for i in 0.. {
                match t
                    .send(&put("flood", i, 1024), opts(CongestionControl::Block))
                    .await
                {
                    Ok(queued) => assert!(queued, "a Block message is never dropped"),
                    Err(_) => return,
                }
                sent.store(i + 1, Ordering::Relaxed);
            }
        })
    };
    let cause = match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::LinkRemoved { cause, .. }) => cause,
        other => panic!("expected the link to go, got {other:?}"),
    };
    let closed_after = started.elapsed();
    assert_eq!(cause, CloseCause::SlowConsumer);
    assert_eq!(cause.to_string(), "slow consumer");
    match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::Closed { cause }) => {
            assert_eq!(cause, CloseCause::SlowConsumer)
        }
        other => panic!("expected the transport to close, got {other:?}"),
    }
    tokio::time::timeout(WAIT, sender)
        .await
        .expect("the sender is released by the close")
        .expect("sender task");
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("closed {closed_after:?} after the flood began; {sent} messages of 1 KiB accepted");
    assert!(
        closed_after >= wait_before_close,
        "closed before wait_before_close: {closed_after:?}"
    );
    assert!(
        closed_after <= wait_before_close + Duration::from_secs(1) + Duration::from_millis(500),
        "closed {closed_after:?} after the flood began (wait_before_close {wait_before_close:?})"
    );
    // Held back: what was accepted is what the kernel's buffers and the queue hold,
    // not everything the sender could produce in that time.
    assert!(
        sent < 16 * 1024,
        "{sent} KiB accepted for a peer that reads nothing"
    );
    assert_eq!(t.close_cause(), Some(CloseCause::SlowConsumer));
    tokio::time::timeout(WAIT, t.close())
        .await
        .expect("close returns once the tasks ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_senders_to_a_peer_that_stops_reading_drop_and_count_and_do_not_wait() {
    let wait_before_close = Duration::from_millis(500);
    let mut a = Node::with(|c| {
        c.lease = Duration::from_secs(60);
        c.queue = queue(wait_before_close);
    });
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_secs(60));
    let zid = cfg.zid;
    let _raw = RawPeer::connect_small(socket_addr(&loc), cfg, 4096).await;
    let (t, _) = a.expect_open(zid).await;

    // Flood until the queue is congested: a send that resolves at once as dropped.
    let drop = opts(CongestionControl::Drop);
    let mut i = 0u64;
    let flooded = tokio::time::timeout(WAIT, async {
        loop {
            let msg = put("flood", i, 1024);
            i += 1;
            if matches!(now_or_never(t.send(&msg, drop)), Some(Ok(false))) {
                return;
            }
            t.send(&msg, drop).await.expect("open");
        }
    })
    .await;
    assert!(flooded.is_ok(), "the queue never became congested");
    let dropped = t.stats().dropped.load(Ordering::Relaxed);
    assert!(dropped >= 1, "drops are counted");
    // Congested: every further Drop message is dropped without waiting.
    for j in 0..1000 {
        let r = now_or_never(t.send(&put("flood", j, 1024), drop));
        assert!(
            matches!(r, Some(Ok(false))),
            "message {j} waited or was queued: {r:?}"
        );
    }
    assert!(t.stats().dropped.load(Ordering::Relaxed) >= dropped + 1000);
    // Only Drop messages wait: the transport is not closed as a slow consumer.
    let quiet = tokio::time::timeout(3 * wait_before_close, a.next_event_for(zid)).await;
    assert!(quiet.is_err(), "unexpected {quiet:?}");
    assert!(!t.is_closed());
    tokio::time::timeout(WAIT, t.close())
        .await
        .expect("close does not wait on the blocked writer for long");
    assert_eq!(t.close_cause(), Some(CloseCause::Local));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_whose_writer_is_blocked_still_expires_by_lease() {
    let lease = Duration::from_millis(800);
    let mut a = Node::with(|c| {
        c.lease = Duration::from_secs(60);
        // Never a slow-consumer close here: only the lease may end the link.
        c.queue = queue(Duration::from_secs(600));
    });
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(lease);
    let zid = cfg.zid;
    let silent_since = Instant::now();
    let _raw = RawPeer::connect_small(socket_addr(&loc), cfg, 4096).await;
    let (t, _) = a.expect_open(zid).await;
    let sender = {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let msg = put("flood", i, 32 * 1024);
                if t.send(&msg, opts(CongestionControl::Block)).await.is_err() {
                    return;
                }
            }
        })
    };
    match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::LinkRemoved { cause, .. }) => {
            assert_eq!(cause, CloseCause::LeaseExpired)
        }
        other => panic!("expected the link to expire, got {other:?}"),
    }
    let elapsed = silent_since.elapsed();
    eprintln!("expired {elapsed:?} after the peer went silent (lease {lease:?})");
    assert!(elapsed >= lease, "expired early: {elapsed:?}");
    assert!(
        elapsed <= lease + Duration::from_secs(1),
        "a blocked writer delayed the expiry: {elapsed:?}"
    );
    tokio::time::timeout(WAIT, sender)
        .await
        .expect("the sender is released")
        .expect("sender task");
    tokio::time::timeout(WAIT, t.close())
        .await
        .expect("the writer's tasks end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_probes_gets_one_answer_at_a_time() {
    let mut a = Node::with(|c| c.rtt_probes = false);
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_secs(60));
    let zid = cfg.zid;
    let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
    let (_t, _) = a.expect_open(zid).await;
    // 1,000 probes in one batch: the reader handles them all before the writer runs
    // again, and each replaces the one before.
    let mut batch = Vec::new();
    for i in 1..=1000u64 {
        TransportMessage::Oam(TransportOam {
            id: 0x7001,
            priority: Priority::Control,
            body: OamBody::Z64(i),
        })
        .write(&mut batch);
    }
    raw.send_batch(&batch).await;
    let mut answers = Vec::new();
    while answers.last() != Some(&1000) {
        let b = tokio::time::timeout(WAIT, raw.next_batch())
            .await
            .expect("the last probe is answered")
            .expect("open");
        for item in BatchReader::read_all(b).expect("decodes") {
            if let BatchItem::Transport(TransportMessage::Oam(o)) = item
                && let (0x7002, OamBody::Z64(t)) = (o.id, o.body)
            {
                answers.push(t);
            }
        }
    }
    eprintln!("{} answers to 1,000 probes", answers.len());
    assert!(answers.windows(2).all(|w| w[0] < w[1]), "{answers:?}");
    assert!(answers.len() < 1000, "every probe got its own answer");
}
