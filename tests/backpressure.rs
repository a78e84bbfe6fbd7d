//! Back-pressure through a router: a subscriber that stops reading slows its publisher
//! down (the router stops reading from the publisher while its queue to the subscriber
//! is full) instead of the router queueing without bound; nothing is lost or reordered.
//! A subscriber that stops for longer than `wait_before_close` is closed as a slow
//! consumer (the reason shows in the router's admin space) and the publisher goes on.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{WAIT, ep, plexus_connected, until_routed};
use plexus::{Config, CongestionControl, Sample, SampleKind, Session, WhatAmI};
use tokio::time::timeout;

/// Messages published: ~100 MB, far more than socket buffers and queues hold.
const N: u64 = 100_000;
const SIZE: usize = 1024;

/// A gate the subscriber's callback waits at while it is closed (bounded).
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn set(&self, open: bool) {
        *self.open.lock().expect("gate") = open;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let g = self.open.lock().expect("gate");
        let _ = self
            .changed
            .wait_timeout_while(g, WAIT, |open| !*open)
            .expect("gate");
    }
}

/// A router on an ephemeral loopback port whose `wait_before_close` is `micros`.
async fn router(wait_before_close_us: u64) -> (Session, String) {
    let mut config = Config::default()
        .with_mode(WhatAmI::Router)
        .with_listen(vec![ep("tcp/127.0.0.1:0")]);
    config
        .insert_json5(
            "transport/link/tx/queue/congestion_control/block/wait_before_close",
            &wait_before_close_us.to_string(),
        )
        .expect("wait_before_close");
    let s = plexus::open(config).await.expect("router");
    let loc = s.locators()[0].to_string();
    (s, loc)
}

/// A client subscriber on `bp/**` in a runtime of its own (its blocked callback stalls
/// only it) whose callback waits at `gate` and then sends the sample to `tx`.
/// Returns once it is declared; it closes when `stop` says so.
fn stalling_subscriber(
    loc: &str,
    gate: Arc<Gate>,
    tx: flume::Sender<Sample>,
    stop: flume::Receiver<()>,
) -> (
    std::thread::JoinHandle<()>,
    flume::Receiver<plexus::ZenohId>,
) {
    let (ready_tx, ready_rx) = flume::bounded(1);
    let loc = loc.to_string();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let s = plexus_connected(WhatAmI::Client, &loc).await;
            let _sub = s
                .declare_subscriber("bp/**")
                .callback(move |sample| {
                    gate.pass();
                    let _ = tx.send(sample);
                })
                .await
                .expect("subscribe");
            ready_tx.send(s.zid()).expect("ready");
            let _ = timeout(Duration::from_secs(120), stop.recv_async()).await;
            s.close().await;
        });
    });
    (thread, ready_rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_holds_back_its_publisher_through_a_router() {
    // Stalled for as long as this test takes to see the publisher held back: not a slow
    // consumer to close (that is the next test).
    let (_router, loc) = router(120_000_000).await;
    let gate = Arc::new(Gate {
        open: Mutex::new(true),
        changed: Condvar::new(),
    });
    let (tx, rx) = flume::unbounded::<Sample>();
    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    let (sub_thread, ready_rx) = stalling_subscriber(&loc, gate.clone(), tx, stop_rx);
    timeout(WAIT, ready_rx.recv_async())
        .await
        .expect("subscriber up in time")
        .expect("subscriber up");
    let session = plexus_connected(WhatAmI::Client, &loc).await;
    until_routed(&session, "bp/probe", &rx).await;

    gate.set(false);
    // How many messages are out, as the publisher goes.
    let (published, mut progress) = tokio::sync::watch::channel(0u64);
    let publishing = {
        let publisher = session
            .declare_publisher("bp/data")
            .congestion_control(CongestionControl::Block)
            .await
            .expect("publisher");
        tokio::spawn(async move {
            let mut buf = vec![0u8; SIZE];
            for i in 0..N {
                buf[..8].copy_from_slice(&i.to_le_bytes());
                publisher.put(buf.clone()).await.expect("put");
                published.send_replace(i + 1);
            }
        })
    };
    // Wait (bounded) until publishing slows to a crawl or ends: each round waits for
    // the next N/50 messages, and a round in which they do not come within 500 ms ends
    // the wait.
    for _ in 0..40 {
        let target = *progress.borrow() + N / 50;
        let more = timeout(
            Duration::from_millis(500),
            progress.wait_for(|n| *n >= target),
        )
        .await;
        if !matches!(more, Ok(Ok(_))) {
            break;
        }
    }
    let held_at = *progress.borrow();
    assert!(
        held_at < N / 2,
        "the publisher got {held_at} of {N} messages out while the subscriber read nothing"
    );

    // Released, the subscriber gets everything, in order.
    gate.set(true);
    timeout(Duration::from_secs(60), publishing)
        .await
        .expect("publishing ends once the subscriber reads again")
        .expect("publisher task");
    for i in 0..N {
        let s = timeout(WAIT, rx.recv_async())
            .await
            .unwrap_or_else(|_| panic!("message {i} of {N} did not arrive"))
            .expect("subscriber alive");
        assert_eq!(s.key_expr().as_str(), "bp/data");
        let got = u64::from_le_bytes(s.payload()[..8].try_into().expect("8 bytes"));
        assert_eq!(got, i, "in order");
    }
    stop_tx.send(()).expect("stop");
    sub_thread.join().expect("subscriber thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_stalled_past_wait_before_close_is_closed_as_slow_consumer() {
    let wait_before_close = Duration::from_secs(1);
    let (router, loc) = router(wait_before_close.as_micros() as u64).await;
    let (atx, admin) = flume::unbounded::<Sample>();
    let _admin = router
        .declare_subscriber(
            format!(
                "@/session/{}/transport/unicast/*",
                router.zid().to_string().to_uppercase()
            )
            .as_str(),
        )
        .callback(move |s| {
            let _ = atx.send(s);
        })
        .await
        .expect("admin subscriber");
    let gate = Arc::new(Gate {
        open: Mutex::new(true),
        changed: Condvar::new(),
    });
    let (tx, rx) = flume::unbounded::<Sample>();
    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    let (sub_thread, ready_rx) = stalling_subscriber(&loc, gate.clone(), tx, stop_rx);
    let stalled = timeout(WAIT, ready_rx.recv_async())
        .await
        .expect("subscriber up in time")
        .expect("subscriber up");
    let session = plexus_connected(WhatAmI::Client, &loc).await;
    until_routed(&session, "bp/probe", &rx).await;

    gate.set(false);
    // Tells every thousand messages it got out.
    let (ptx, progress) = flume::unbounded::<u64>();
    let publishing = {
        let publisher = session
            .declare_publisher("bp/data")
            .congestion_control(CongestionControl::Block)
            .await
            .expect("publisher");
        tokio::spawn(async move {
            let buf = vec![0u8; SIZE];
            for n in 1u64.. {
                publisher.put(buf.clone()).await.expect("put");
                if n % 1000 == 0 {
                    let _ = ptx.send(n);
                }
            }
        })
    };
    // The router's admin space: the stalled subscriber's transport goes, with the reason.
    let key = format!(
        "@/session/{}/transport/unicast/{}",
        router.zid().to_string().to_uppercase(),
        stalled.to_string().to_uppercase()
    );
    let deleted = timeout(wait_before_close + WAIT, async {
        loop {
            let s = admin.recv_async().await.expect("admin events");
            if s.kind() == SampleKind::Delete && s.key_expr().as_str() == key {
                return s;
            }
        }
    })
    .await
    .expect("the stalled subscriber was never closed");
    let reason: serde_json::Value =
        serde_json::from_slice(deleted.attachment().expect("a reason").as_ref())
            .expect("JSON reason");
    assert_eq!(reason["reason"], "slow consumer", "{reason}");
    // The same reason in the router's closed-transport history.
    let history = router.info().closed_transports();
    let closed = history
        .iter()
        .find(|c| c.zid == stalled)
        .unwrap_or_else(|| panic!("not in the closed-transport history: {history:?}"));
    assert_eq!(closed.reason, "slow consumer");
    // The publisher is not held back any more: 10,000 more messages go out.
    while progress.try_recv().is_ok() {}
    for _ in 0..10 {
        timeout(WAIT, progress.recv_async())
            .await
            .expect("the publisher stays held back after the close")
            .expect("publishing");
    }
    publishing.abort();
    gate.set(true);
    stop_tx.send(()).expect("stop");
    sub_thread.join().expect("subscriber thread");
}
