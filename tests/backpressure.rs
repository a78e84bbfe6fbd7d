//! Back-pressure through a router: a subscriber that stops reading slows its publisher
//! down (the router stops reading from the publisher while its queue to the subscriber
//! is full) instead of the router queueing without bound; nothing is lost or reordered.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{WAIT, plexus_connected, plexus_listening, until_routed};
use plexus::{CongestionControl, Sample, WhatAmI};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_holds_back_its_publisher_through_a_router() {
    let (_router, loc) = plexus_listening(WhatAmI::Router).await;
    let gate = Arc::new(Gate {
        open: Mutex::new(true),
        changed: Condvar::new(),
    });
    let (tx, rx) = flume::unbounded::<Sample>();
    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    let (ready_tx, ready_rx) = flume::bounded::<()>(1);
    // The subscriber has a runtime of its own: its blocked callback stalls only it.
    let sub_thread = {
        let gate = gate.clone();
        let loc = loc.clone();
        std::thread::spawn(move || {
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
                ready_tx.send(()).expect("ready");
                let _ = timeout(Duration::from_secs(120), stop_rx.recv_async()).await;
                s.close().await;
            });
        })
    };
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
