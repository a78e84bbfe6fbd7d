//! Locality (`SessionLocal`, `Remote`, `Any`) on subscribers, publications, queryables
//! and gets between two connected sessions, and the `BestMatching` query target.

mod common;

use std::time::Duration;

use common::{WAIT, declarations_reached, plexus_pair as pair, recv, replies};
use plexus::{ConsolidationMode, Locality, Query, QueryTarget, Reply, Session};
use tokio::time::timeout;

/// The payloads of every reply, sorted, once the query ends.
async fn answers(rx: flume::Receiver<Reply>) -> Vec<String> {
    let mut out: Vec<String> = replies(rx)
        .await
        .into_iter()
        .map(|r| {
            let s = r.into_result().expect("an ok reply");
            String::from_utf8_lossy(s.payload()).into_owned()
        })
        .collect();
    out.sort();
    out
}

fn payloads(rx: &flume::Receiver<plexus::Sample>) -> Vec<String> {
    rx.drain()
        .map(|s| String::from_utf8_lossy(s.payload()).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_origin_and_publication_destination() {
    let (a, b) = pair().await;
    let local = a
        .declare_subscriber("loc/**")
        .allowed_origin(Locality::SessionLocal)
        .await
        .expect("subscriber");
    let remote = a
        .declare_subscriber("loc/**")
        .allowed_origin(Locality::Remote)
        .await
        .expect("subscriber");
    // Declared last, so it is served last: once it has a sample, the others had theirs.
    let any = a.declare_subscriber("loc/**").await.expect("subscriber");

    declarations_reached(&a, &b).await;

    b.put("loc/x", "from b").await.expect("put");
    assert_eq!(&recv(&any).await.payload()[..], b"from b");
    assert_eq!(payloads(&remote), ["from b"]);
    assert!(
        payloads(&local).is_empty(),
        "a SessionLocal subscriber got a remote sample"
    );

    a.put("loc/y", "from a").await.expect("put");
    assert_eq!(&recv(&any).await.payload()[..], b"from a");
    assert_eq!(payloads(&local), ["from a"]);
    assert!(
        payloads(&remote).is_empty(),
        "a Remote subscriber got a local sample"
    );

    // A publication restricted to this session, or to the others.
    let b_sub = b.declare_subscriber("loc/**").await.expect("subscriber");
    declarations_reached(&b, &a).await;
    a.put("loc/only-here", "here")
        .allowed_destination(Locality::SessionLocal)
        .await
        .expect("put");
    a.put("loc/only-there", "there")
        .allowed_destination(Locality::Remote)
        .await
        .expect("put");
    assert_eq!(&recv(&b_sub).await.payload()[..], b"there");
    assert_eq!(payloads(&any), ["here"]);
    assert_eq!(payloads(&local), ["here"]);

    // A SessionLocal subscriber is never declared to others: b sees no match for it.
    let only_local = a
        .declare_subscriber("private/**")
        .allowed_origin(Locality::SessionLocal)
        .await
        .expect("subscriber");
    let publisher = b.declare_publisher("private/k").await.expect("publisher");
    let _visible = a.declare_subscriber("public/**").await.expect("subscriber");
    let public = b.declare_publisher("public/k").await.expect("publisher");
    timeout(WAIT, async {
        while !public.matching_status() {
            public.matching_changed(false).await;
        }
    })
    .await
    .expect("a's public subscriber never reached b");
    // Declarations from a to b travel in order: public's arrived, so private's would have.
    assert!(!publisher.matching_status());
    drop(only_local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_destination_and_queryable_origin() {
    let (a, b) = pair().await;
    let reply_with = |text: &'static str| {
        move |q: Query| {
            tokio::spawn(async move {
                q.reply("lq/k", text).await.expect("reply");
            });
        }
    };
    let _here = a
        .declare_queryable("lq/**")
        .callback(reply_with("a"))
        .await
        .expect("queryable");
    let _there = b
        .declare_queryable("lq/**")
        .callback(reply_with("b"))
        .await
        .expect("queryable");
    let _hidden = b
        .declare_queryable("lq/**")
        .allowed_origin(Locality::SessionLocal)
        .callback(reply_with("b, for b only"))
        .await
        .expect("queryable");
    let get = |s: &Session, d: Locality| {
        s.get("lq/k")
            .allowed_destination(d)
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .into_future()
    };
    declarations_reached(&b, &a).await;
    assert_eq!(
        answers(get(&a, Locality::SessionLocal).await.expect("get")).await,
        ["a"]
    );
    assert_eq!(
        answers(get(&a, Locality::Remote).await.expect("get")).await,
        ["b"]
    );
    assert_eq!(
        answers(get(&a, Locality::Any).await.expect("get")).await,
        ["a", "b"]
    );
    // b's session-local queryable answers b, and only b.
    assert_eq!(
        answers(get(&b, Locality::SessionLocal).await.expect("get")).await,
        ["b", "b, for b only"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_matching_asks_one_complete_queryable_else_every_match() {
    let (a, b) = pair().await;
    let reply_with = |text: &'static str| {
        move |q: Query| {
            tokio::spawn(async move {
                q.reply("bm/k", text).await.expect("reply");
            });
        }
    };
    let _partial_here = a
        .declare_queryable("bm/**")
        .callback(reply_with("partial, a"))
        .await
        .expect("queryable");
    let _partial_there = b
        .declare_queryable("bm/**")
        .callback(reply_with("partial, b"))
        .await
        .expect("queryable");
    let complete = b
        .declare_queryable("bm/**")
        .complete(true)
        .callback(reply_with("complete, b"))
        .await
        .expect("queryable");
    let best = |s: &Session| {
        s.get("bm/k")
            .target(QueryTarget::BestMatching)
            .consolidation(ConsolidationMode::None)
            .timeout(Duration::from_secs(5))
            .into_future()
    };
    // Once b's complete queryable is known, it alone answers.
    declarations_reached(&b, &a).await;
    assert_eq!(answers(best(&a).await.expect("get")).await, ["complete, b"]);
    // Without a complete queryable, every matching one answers.
    drop(complete);
    declarations_reached(&b, &a).await;
    assert_eq!(
        answers(best(&a).await.expect("get")).await,
        ["partial, a", "partial, b"]
    );
}
