//! Queries between Plexus sessions, and with Zenoh 1.10.2 sessions.

mod common;

use std::time::Duration;

use common::{
    WAIT, declarations_reached, plexus_alone, plexus_pair, replies as collect, zenoh_config,
};
use plexus::{ConsolidationMode, Query, QueryTarget, Reply, SampleKind, WhatAmI};
use tokio::time::{Instant, timeout};

fn keys(replies: &[Reply]) -> Vec<String> {
    let mut k: Vec<String> = replies
        .iter()
        .filter_map(|r| r.result().ok().map(|s| s.key_expr().to_string()))
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_reaches_a_remote_queryable_with_parameters_errors_and_deletes() {
    let (a, b) = plexus_pair().await;
    let _q = b
        .declare_queryable("q/**")
        .callback(|q: Query| {
            tokio::spawn(async move {
                if q.parameters().contains("fail") {
                    q.reply_err("no such thing").await.expect("reply_err");
                    return;
                }
                q.reply("q/a", format!("a:{}", q.parameters()))
                    .await
                    .expect("reply");
                q.reply("q/b", "b")
                    .encoding("text/plain")
                    .await
                    .expect("reply");
                q.reply_del("q/c").await.expect("reply_del");
                assert!(
                    q.reply("other/x", "x").await.is_err(),
                    "reply key must intersect"
                );
            });
        })
        .await
        .expect("queryable");
    declarations_reached(&b, &a).await;

    let replies = collect(
        a.get("q/**?x=1")
            .consolidation(ConsolidationMode::None)
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(keys(&replies), ["q/a", "q/b", "q/c"]);
    let qa = replies
        .iter()
        .find_map(|r| r.result().ok().filter(|s| s.key_expr().as_str() == "q/a"))
        .expect("q/a");
    assert_eq!(&qa.payload()[..], b"a:x=1");
    let qc = replies
        .iter()
        .find_map(|r| r.result().ok().filter(|s| s.key_expr().as_str() == "q/c"))
        .expect("q/c");
    assert_eq!(qc.kind(), SampleKind::Delete);
    assert!(replies.iter().all(|r| r.replier_id() == Some(b.zid())));

    let errs = collect(a.get("q/x?fail").await.expect("get")).await;
    assert_eq!(errs.len(), 1);
    assert_eq!(
        &errs[0].result().expect_err("an error reply").payload()[..],
        b"no such thing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consolidation_modes_and_targets() {
    let (a, b) = plexus_pair().await;
    let clock = |n: u64| {
        uhlc::Timestamp::new(
            uhlc::NTP64(n << 32),
            uhlc::ID::from(std::num::NonZeroU128::MIN),
        )
    };
    // Two queryables answer the same key with different timestamps; one is complete.
    let _old = b
        .declare_queryable("c/**")
        .callback(move |q: Query| {
            tokio::spawn(async move {
                q.reply("c/k", "old")
                    .timestamp(clock(1))
                    .await
                    .expect("reply");
            });
        })
        .await
        .expect("queryable");
    let _new = b
        .declare_queryable("c/**")
        .complete(true)
        .callback(move |q: Query| {
            tokio::spawn(async move {
                q.reply("c/k", "new")
                    .timestamp(clock(2))
                    .await
                    .expect("reply");
            });
        })
        .await
        .expect("queryable");
    declarations_reached(&b, &a).await;

    let all_none = collect(
        a.get("c/k")
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(all_none.len(), 2, "None keeps both replies");

    let latest = collect(
        a.get("c/k")
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::Latest)
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(latest.len(), 1, "Latest keeps one reply per key");
    assert_eq!(&latest[0].result().expect("ok").payload()[..], b"new");

    let monotonic = collect(
        a.get("c/k")
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::Monotonic)
            .await
            .expect("get"),
    )
    .await;
    assert!(!monotonic.is_empty() && monotonic.len() <= 2);
    let last = monotonic.last().expect("a reply").result().expect("ok");
    assert_eq!(
        &last.payload()[..],
        b"new",
        "Monotonic never goes back in time"
    );

    // Only the complete queryable answers AllComplete.
    let complete = collect(
        a.get("c/k")
            .target(QueryTarget::AllComplete)
            .consolidation(ConsolidationMode::None)
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(complete.len(), 1);
    assert_eq!(&complete[0].result().expect("ok").payload()[..], b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_end_at_once_without_queryables_and_at_the_timeout_otherwise() {
    let (a, b) = plexus_pair().await;
    // Without a queryable the query ends at once: long before its hour-long timeout
    // (`collect` waits at most 10 s).
    let none = collect(
        a.get("nobody/**")
            .timeout(Duration::from_secs(3600))
            .await
            .expect("get"),
    )
    .await;
    assert!(none.is_empty());

    // A queryable that keeps its queries and never answers: the get ends at its timeout.
    let silent = b.declare_queryable("slow/**").await.expect("queryable");
    declarations_reached(&b, &a).await;
    let started = Instant::now();
    let rx = a
        .get("slow/x")
        .timeout(Duration::from_millis(500))
        .await
        .expect("get");
    assert!(collect(rx).await.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "ended before the timeout"
    );
    assert!(
        silent.try_recv().is_ok(),
        "the query reached the silent queryable"
    );
}

/// The timeout of a query, on a paused clock: nothing ends it a moment before, and it
/// ends at the very moment.
#[tokio::test(start_paused = true)]
async fn a_query_ends_exactly_at_its_timeout() {
    let s = plexus_alone(false).await;
    let silent = s.declare_queryable("slow/**").await.expect("queryable");
    let rx = s
        .get("slow/x")
        .timeout(Duration::from_millis(500))
        .await
        .expect("get");
    let query = silent.try_recv().expect("the query reached the queryable");
    advance(Duration::from_millis(499)).await;
    assert!(!rx.is_disconnected(), "the query ended before its timeout");
    advance(Duration::from_millis(1)).await;
    assert!(rx.is_disconnected(), "the query did not end at its timeout");
    assert!(rx.try_recv().is_err(), "no reply came");
    drop(query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_queryable_answers_a_local_get() {
    let (a, _b) = plexus_pair().await;
    let _q = a
        .declare_queryable("local/k")
        .callback(|q: Query| {
            tokio::spawn(async move { q.reply("local/k", "here").await.expect("reply") });
        })
        .await
        .expect("queryable");
    let replies = collect(a.get("local/k").await.expect("get")).await;
    assert_eq!(keys(&replies), ["local/k"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_and_zenoh_query_each_other() {
    let (p, loc) = common::plexus_listening(WhatAmI::Peer).await;
    let z = zenoh::open(zenoh_config("peer", Some(&loc), None))
        .await
        .expect("zenoh open");

    // Plexus get → Zenoh queryable.
    let _zq = z
        .declare_queryable("zq/**")
        .callback(|q| {
            let key = q.key_expr().clone();
            tokio::spawn(async move {
                q.reply(key, "from zenoh").await.expect("zenoh reply");
            });
        })
        .await
        .expect("zenoh queryable");
    // Zenoh's queryable has reached Plexus once a token Zenoh declared after it has
    // (declarations travel in order on the transport).
    let marker = p
        .liveliness()
        .declare_subscriber("test/declared/zenoh")
        .await
        .expect("liveliness subscriber");
    let _zmarker = z
        .liveliness()
        .declare_token("test/declared/zenoh")
        .await
        .expect("zenoh token");
    common::recv(&marker).await;
    let replies = collect(p.get("zq/x").await.expect("get")).await;
    assert_eq!(keys(&replies), ["zq/x"]);
    assert_eq!(
        &replies[0].result().expect("ok").payload()[..],
        b"from zenoh"
    );

    // Zenoh get → Plexus queryable.
    let _pq = p
        .declare_queryable("pq/**")
        .callback(|q: Query| {
            tokio::spawn(async move { q.reply("pq/y", "from plexus").await.expect("reply") });
        })
        .await
        .expect("queryable");
    let got = timeout(WAIT, async {
        loop {
            let replies = z.get("pq/y").await.expect("zenoh get");
            if let Ok(r) = replies.recv_async().await {
                return r;
            }
        }
    })
    .await
    .expect("Zenoh never got a reply from Plexus");
    let sample = got.result().expect("an ok reply");
    assert_eq!(sample.key_expr().as_str(), "pq/y");
    assert_eq!(sample.payload().to_bytes().as_ref(), b"from plexus");
    z.close().await.expect("zenoh close");
}

/// Moves the paused clock on by `d`, then lets every task the timers woke run (one
/// runtime thread: each yield runs the tasks already woken).
async fn advance(d: Duration) {
    tokio::time::advance(d).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}
