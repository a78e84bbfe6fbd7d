//! `plexus::ext::QueryingSubscriber`: history from a queryable merged with live samples,
//! de-duplicated by (key, timestamp), in timestamp order.
//!
//! Every test uses one peer session that listens nowhere, a local queryable whose
//! `Query` the test holds (so "while the query runs" is deterministic: the query ends
//! when the test drops it), and local puts for live samples.

mod common;

use std::time::Duration;

use common::{WAIT, plexus_alone as session, recv};
use plexus::ext::{QueryingSubscriberBuilder, SessionExt};
use plexus::{Locality, Query, Sample, Session, Timestamp};
use tokio::time::timeout;

fn stamp(s: &Session) -> Timestamp {
    s.new_timestamp().expect("timestamping is on")
}

/// The next query the queryable receives.
async fn next_query(rx: &flume::Receiver<Query>) -> Query {
    recv(rx).await
}

/// The next sample delivered.
async fn next(rx: &flume::Receiver<Sample>) -> Sample {
    recv(rx).await
}

/// `(key, payload)` of the next `n` samples.
async fn take(rx: &flume::Receiver<Sample>, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let s = next(rx).await;
        out.push(kv(&s));
    }
    out
}

/// `(key, payload)` of every sample until (excluding) the one with payload `marker`.
async fn until(rx: &flume::Receiver<Sample>, marker: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let s = next(rx).await;
        let (k, v) = kv(&s);
        if v == marker {
            return out;
        }
        out.push((k, v));
    }
}

fn kv(s: &Sample) -> (String, String) {
    (
        s.key_expr().to_string(),
        String::from_utf8_lossy(s.payload()).into_owned(),
    )
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect()
}

type History = Vec<(&'static str, &'static str, Timestamp)>;

async fn answer(q: &Query, history: &[(&'static str, &'static str, Timestamp)]) {
    for (k, v, ts) in history {
        q.reply(*k, *v).timestamp(*ts).await.expect("reply");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_arrives_in_timestamp_order_then_live() {
    let s = session(true).await;
    let qbl = s.declare_queryable("h/**").await.expect("queryable");
    let (t1, t2, t3) = (stamp(&s), stamp(&s), stamp(&s));

    let qs = s
        .declare_querying_subscriber("h/**")
        .await
        .expect("querying subscriber");
    let q = next_query(&qbl).await;
    assert_eq!(q.key_expr().as_str(), "h/**", "queries its key expression");
    // Replies out of timestamp order.
    answer(&q, &[("h/c", "3", t3), ("h/a", "1", t1), ("h/b", "2", t2)]).await;
    assert!(qs.try_recv().is_err(), "nothing before the query ends");
    drop(q);
    s.put("h/d", "live").await.expect("put");

    assert_eq!(
        take(&qs, 4).await,
        pairs(&[("h/a", "1"), ("h/b", "2"), ("h/c", "3"), ("h/d", "live")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_both_stored_and_live_is_delivered_exactly_once() {
    let s = session(true).await;
    let qbl = s.declare_queryable("once/**").await.expect("queryable");
    let qs = QueryingSubscriberBuilder::new(&s, "once/**")
        .await
        .expect("querying subscriber");

    let q = next_query(&qbl).await;
    // The same (key, timestamp) goes out live while the query runs, then as a reply.
    let ts = stamp(&s);
    s.put("once/x", "v").timestamp(ts).await.expect("put");
    q.reply("once/x", "v").timestamp(ts).await.expect("reply");
    drop(q);
    s.put("once/end", "end").await.expect("put");

    let got = until(&qs, "end").await;
    assert_eq!(got, pairs(&[("once/x", "v")]), "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_samples_during_the_query_are_merged_in_timestamp_order() {
    let s = session(true).await;
    let qbl = s.declare_queryable("ord/**").await.expect("queryable");
    let (t1, t2, t3, t4) = (stamp(&s), stamp(&s), stamp(&s), stamp(&s));

    let qs = s
        .declare_querying_subscriber("ord/**")
        .await
        .expect("querying subscriber");
    let q = next_query(&qbl).await;
    // Live samples arrive during the query, newest first.
    s.put("ord/l4", "l4").timestamp(t4).await.expect("put");
    s.put("ord/l2", "l2").timestamp(t2).await.expect("put");
    answer(&q, &[("ord/h3", "h3", t3), ("ord/h1", "h1", t1)]).await;
    assert!(
        qs.try_recv().is_err(),
        "live samples wait for the query's end"
    );
    drop(q);
    s.put("ord/l5", "l5").await.expect("put");

    assert_eq!(
        take(&qs, 5).await,
        pairs(&[
            ("ord/h1", "h1"),
            ("ord/l2", "l2"),
            ("ord/h3", "h3"),
            ("ord/l4", "l4"),
            ("ord/l5", "l5"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_again_redelivers_history_and_waits_for_every_query_in_flight() {
    let s = session(true).await;
    let qbl = s.declare_queryable("re/**").await.expect("queryable");
    let history: History = vec![("re/a", "a", stamp(&s)), ("re/b", "b", stamp(&s))];

    let qs = s
        .declare_querying_subscriber("re/**")
        .await
        .expect("querying subscriber");
    let q = next_query(&qbl).await;
    answer(&q, &history).await;
    drop(q);
    assert_eq!(take(&qs, 2).await, pairs(&[("re/a", "a"), ("re/b", "b")]));

    // A new query delivers the history again: de-duplication is per merge, not against
    // what was delivered before (as in Zenoh).
    qs.query().await.expect("query");
    let q = next_query(&qbl).await;
    answer(&q, &history).await;
    drop(q);
    s.put("re/end", "end").await.expect("put");
    assert_eq!(
        until(&qs, "end").await,
        pairs(&[("re/a", "a"), ("re/b", "b")])
    );

    // Two queries in flight: live samples wait for both, and the merge covers both
    // (the history both return is delivered once).
    qs.query().await.expect("query");
    qs.query_with("re/a").await.expect("query");
    let q1 = next_query(&qbl).await;
    let q2 = next_query(&qbl).await;
    assert_eq!(q2.key_expr().as_str(), "re/a");
    let t_live = stamp(&s);
    s.put("re/live", "live")
        .timestamp(t_live)
        .await
        .expect("put");
    answer(&q1, &history).await;
    answer(&q2, &history[..1]).await;
    drop(q1);
    assert!(
        qs.try_recv().is_err(),
        "nothing while one query is still in flight"
    );
    drop(q2);
    s.put("re/end", "end").await.expect("put");
    assert_eq!(
        until(&qs, "end").await,
        pairs(&[("re/a", "a"), ("re/b", "b"), ("re/live", "live")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untimestamped_samples_are_all_passed_through() {
    // Timestamping off: neither puts nor replies carry timestamps.
    let s = session(false).await;
    let qbl = s.declare_queryable("u/**").await.expect("queryable");
    let (tx, rx) = flume::unbounded::<Sample>();
    let _qs = s
        .declare_querying_subscriber("u/**")
        .callback(move |sample| {
            let _ = tx.send(sample);
        })
        .await
        .expect("querying subscriber");

    let q = next_query(&qbl).await;
    s.put("u/x", "v").await.expect("put");
    s.put("u/x", "v").await.expect("put");
    q.reply("u/x", "v").await.expect("reply");
    q.reply("u/x", "v").await.expect("reply");
    drop(q);
    s.put("u/x", "end").await.expect("put");

    let got = until(&rx, "end").await;
    assert_eq!(
        got.len(),
        4,
        "no de-duplication without timestamps: {got:?}"
    );
    assert!(got.iter().all(|(k, v)| k == "u/x" && v == "v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_or_undeclaring_removes_the_subscriber() {
    let s = session(true).await;
    let publisher = s.declare_publisher("gone/x").await.expect("publisher");
    assert!(!publisher.matching_status());

    let qs = s
        .declare_querying_subscriber("gone/**")
        .await
        .expect("querying subscriber");
    assert!(publisher.matching_status(), "the subscriber is declared");
    assert_eq!(qs.key_expr().as_str(), "gone/**");
    drop(qs);
    assert!(
        !timeout(WAIT, publisher.matching_changed(true))
            .await
            .expect("matching status changes in time"),
        "drop undeclares"
    );

    let qs = s
        .declare_querying_subscriber("gone/**")
        .with(plexus::RingChannel(4))
        .await
        .expect("querying subscriber");
    assert!(publisher.matching_status());
    qs.undeclare().await.expect("undeclare");
    assert!(!publisher.matching_status(), "undeclare undeclares");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origin_applies_to_the_query_and_the_subscriber() {
    let s = session(true).await;
    let qbl = s.declare_queryable("loc/**").await.expect("queryable");
    let local = s.declare_publisher("loc/x").await.expect("publisher");

    // Remote only: the local queryable is not asked (dispatch is synchronous, so the
    // query would already be queued) and local publications do not match.
    let remote_only = s
        .declare_querying_subscriber("loc/**")
        .allowed_origin(Locality::Remote)
        .await
        .expect("querying subscriber");
    assert!(
        qbl.try_recv().is_err(),
        "the local queryable is not queried"
    );
    assert!(!local.matching_status(), "local puts do not reach it");
    drop(remote_only);

    let session_local = s
        .declare_querying_subscriber("loc/**")
        .allowed_origin(Locality::SessionLocal)
        .query_timeout(Duration::from_secs(5))
        .await
        .expect("querying subscriber");
    let q = next_query(&qbl).await;
    assert!(local.matching_status());
    let ts = stamp(&s);
    q.reply("loc/x", "h").timestamp(ts).await.expect("reply");
    drop(q);
    assert_eq!(take(&session_local, 1).await, pairs(&[("loc/x", "h")]));
}

/// On a paused clock: the query's timeout is the only timer, so it is what ends the query.
#[tokio::test(start_paused = true)]
async fn a_query_that_times_out_still_delivers_what_it_got() {
    let s = session(true).await;
    let qbl = s.declare_queryable("to/**").await.expect("queryable");
    let qs = s
        .declare_querying_subscriber("to/**")
        .query_timeout(Duration::from_millis(200))
        .await
        .expect("querying subscriber");
    let q = next_query(&qbl).await;
    let ts = stamp(&s);
    q.reply("to/a", "h").timestamp(ts).await.expect("reply");
    s.put("to/b", "live").await.expect("put");
    // The queryable never finishes (`q` is held): the timeout ends the query, and
    // nothing is delivered a moment before.
    tokio::time::advance(Duration::from_millis(199)).await;
    assert!(qs.is_empty(), "delivered before the query ended");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        take(&qs, 2).await,
        pairs(&[("to/a", "h"), ("to/b", "live")])
    );
    drop(q);
}
