//! Liveliness tokens, subscribers and queries: between Plexus sessions (peer to peer
//! and through a Plexus router) and with Zenoh 1.10.2 (peer to peer, Zenoh clients
//! through a Plexus router, Plexus clients through a Zenoh router).

mod common;

use std::time::Duration;

use common::{WAIT, plexus_connected, plexus_listening, recv, zenoh_config, zenoh_listening};
use plexus::{Sample, SampleKind, Session, WhatAmI};
use tokio::time::timeout;

/// The keys a liveliness query returns, sorted.
async fn alive(s: &Session, key: &str) -> Vec<String> {
    let rx = s
        .liveliness()
        .get(key)
        .timeout(Duration::from_secs(5))
        .await
        .expect("liveliness get");
    let mut keys = Vec::new();
    let collected = timeout(WAIT, async {
        while let Ok(r) = rx.recv_async().await {
            keys.push(r.into_result().expect("ok").key_expr().to_string());
        }
    })
    .await;
    assert!(collected.is_ok(), "the liveliness query never ended");
    keys.sort();
    keys
}

/// Waits for the next sample and checks it.
async fn expect(rx: &flume::Receiver<Sample>, key: &str, kind: SampleKind) {
    let s = recv(rx).await;
    assert_eq!(
        (s.key_expr().as_str(), s.kind()),
        (key, kind),
        "unexpected liveliness sample"
    );
}

async fn zexpect(
    rx: &zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>,
    key: &str,
    kind: zenoh::sample::SampleKind,
) {
    let s = common::zrecv(rx).await;
    assert_eq!((s.key_expr().as_str(), s.kind()), (key, kind));
}

/// Token on `a`, watched from `b`: history, live Put, query, Delete on drop.
async fn token_seen(a: &Session, b: &Session, tag: &str) {
    let key = format!("{tag}/a");
    let early = a.liveliness().declare_token(&key).await.expect("token");
    // A subscriber with history sees the token alive already; its query sees it too.
    let sub = timeout(WAIT, async {
        loop {
            let sub = b
                .liveliness()
                .declare_subscriber(format!("{tag}/**"))
                .history(true)
                .with(plexus::FifoChannel(64))
                .await
                .expect("liveliness subscriber");
            if let Ok(Ok(s)) = timeout(Duration::from_millis(200), sub.recv_async()).await {
                assert_eq!(
                    (s.key_expr().as_str(), s.kind()),
                    (key.as_str(), SampleKind::Put)
                );
                return sub;
            }
        }
    })
    .await
    .expect("the token never reached the other session");
    assert_eq!(alive(b, &format!("{tag}/**")).await, vec![key.clone()]);

    // A second token: live Put; both queried; drops give Deletes.
    let late_key = format!("{tag}/b");
    let late = a
        .liveliness()
        .declare_token(&late_key)
        .await
        .expect("token");
    expect(&sub, &late_key, SampleKind::Put).await;
    assert_eq!(
        alive(b, &format!("{tag}/**")).await,
        vec![key.clone(), late_key.clone()]
    );
    late.undeclare().await.expect("undeclare");
    expect(&sub, &late_key, SampleKind::Delete).await;
    drop(early);
    expect(&sub, &key, SampleKind::Delete).await;
    assert!(alive(b, &format!("{tag}/**")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_peers_see_each_others_tokens() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    token_seen(&a, &b, "lp/ab").await;
    token_seen(&b, &a, "lp/ba").await;
    // Local tokens count too.
    let _t = a
        .liveliness()
        .declare_token("lp/local")
        .await
        .expect("token");
    assert_eq!(alive(&a, "lp/local").await, vec!["lp/local".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_on_one_key_give_one_put_and_one_delete() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    let c = plexus_connected(WhatAmI::Peer, &loc).await;
    let sub = a
        .liveliness()
        .declare_subscriber("dup/**")
        .await
        .expect("liveliness subscriber");
    let data = a
        .declare_subscriber("dup/barrier")
        .await
        .expect("subscriber");
    let tb = b.liveliness().declare_token("dup/k").await.expect("token");
    expect(&sub, "dup/k", SampleKind::Put).await;
    // Two tokens on one key in one session are one declaration on the wire.
    let tb2 = b.liveliness().declare_token("dup/k").await.expect("token");
    drop(tb2);
    let tc = c.liveliness().declare_token("dup/k").await.expect("token");
    // c's token travels before c's later put on the same transport: once the put
    // arrived, a knows both tokens.
    common::until("c's put after its token", || async {
        c.put("dup/barrier", "after the token").await.expect("put");
        common::arrived(&data).await
    })
    .await;
    // a's subscription reaches b on its own transport: b's puts arrive too.
    common::until_routed(&b, "dup/barrier", &data).await;
    // b's token goes, c's still holds the key: nothing; then c's goes: Delete.
    drop(tb);
    b.put("dup/barrier", "after the undeclaration")
        .await
        .expect("put");
    recv(&data).await;
    drop(tc);
    expect(&sub, "dup/k", SampleKind::Delete).await;
    assert!(
        timeout(Duration::from_millis(300), sub.recv_async())
            .await
            .is_err(),
        "a second Put or Delete for one key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_session_takes_its_tokens_with_it() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    let sub = a
        .liveliness()
        .declare_subscriber("gone/**")
        .await
        .expect("liveliness subscriber");
    let _t = b.liveliness().declare_token("gone/b").await.expect("token");
    expect(&sub, "gone/b", SampleKind::Put).await;
    b.close().await;
    expect(&sub, "gone/b", SampleKind::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_clients_see_each_others_tokens_through_a_plexus_router() {
    let (_router, loc) = plexus_listening(WhatAmI::Router).await;
    let a = plexus_connected(WhatAmI::Client, &loc).await;
    let b = plexus_connected(WhatAmI::Client, &loc).await;
    token_seen(&a, &b, "lr/ab").await;
    token_seen(&b, &a, "lr/ba").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_clients_see_each_others_tokens_through_a_zenoh_router() {
    let (router, loc) = zenoh_listening("router").await;
    let a = plexus_connected(WhatAmI::Client, &loc).await;
    let b = plexus_connected(WhatAmI::Client, &loc).await;
    token_seen(&a, &b, "lz/ab").await;
    token_seen(&b, &a, "lz/ba").await;
    router.close().await.expect("close");
}

/// Zenoh's token seen by Plexus, and Plexus's seen by Zenoh.
async fn with_zenoh(p: &Session, z: &zenoh::Session, tag: &str) {
    use zenoh::sample::SampleKind as Z;

    // Zenoh token → Plexus subscriber and query.
    let psub = p
        .liveliness()
        .declare_subscriber(format!("{tag}/z/**"))
        .history(true)
        .await
        .expect("liveliness subscriber");
    let zkey = format!("{tag}/z/token");
    let ztoken = z
        .liveliness()
        .declare_token(&zkey)
        .await
        .expect("zenoh token");
    expect(&psub, &zkey, SampleKind::Put).await;
    assert_eq!(alive(p, &format!("{tag}/z/**")).await, vec![zkey.clone()]);
    ztoken.undeclare().await.expect("zenoh undeclare");
    expect(&psub, &zkey, SampleKind::Delete).await;

    // Plexus token → Zenoh subscriber (with history) and query.
    let pkey = format!("{tag}/p/token");
    let ptoken = p.liveliness().declare_token(&pkey).await.expect("token");
    let zsub = z
        .liveliness()
        .declare_subscriber(format!("{tag}/p/**"))
        .history(true)
        .await
        .expect("zenoh liveliness subscriber");
    zexpect(&zsub, &pkey, Z::Put).await;
    let replies = z
        .liveliness()
        .get(format!("{tag}/p/**"))
        .timeout(Duration::from_secs(5))
        .await
        .expect("zenoh liveliness get");
    let r = timeout(WAIT, replies.recv_async())
        .await
        .expect("Zenoh's liveliness query got nothing")
        .expect("a reply");
    assert_eq!(r.result().expect("ok").key_expr().as_str(), pkey);
    drop(ptoken);
    zexpect(&zsub, &pkey, Z::Delete).await;

    // A token declared after the Zenoh subscriber arrives live.
    let later = p
        .liveliness()
        .declare_token(format!("{tag}/p/later"))
        .await
        .expect("token");
    zexpect(&zsub, &format!("{tag}/p/later"), Z::Put).await;
    drop(later);
    zexpect(&zsub, &format!("{tag}/p/later"), Z::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_and_zenoh_peers_see_each_others_tokens() {
    let (p, loc) = plexus_listening(WhatAmI::Peer).await;
    let z = zenoh::open(zenoh_config("peer", Some(&loc), None))
        .await
        .expect("zenoh peer");
    with_zenoh(&p, &z, "lzp").await;
    z.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_clients_see_each_others_tokens_through_a_plexus_router() {
    let (router, loc) = plexus_listening(WhatAmI::Router).await;
    let za = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh a");
    let zb = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh b");
    // The router's own session and a Zenoh client.
    with_zenoh(&router, &za, "lpr").await;

    // Zenoh client → Plexus router → Zenoh client.
    use zenoh::sample::SampleKind as Z;
    let token = za
        .liveliness()
        .declare_token("lpr/zz/a")
        .await
        .expect("zenoh token");
    let sub = zb
        .liveliness()
        .declare_subscriber("lpr/zz/**")
        .history(true)
        .await
        .expect("zenoh liveliness subscriber");
    zexpect(&sub, "lpr/zz/a", Z::Put).await;
    let replies = zb
        .liveliness()
        .get("lpr/zz/**")
        .timeout(Duration::from_secs(5))
        .await
        .expect("zenoh liveliness get");
    let r = timeout(WAIT, replies.recv_async())
        .await
        .expect("no liveliness reply through the Plexus router")
        .expect("a reply");
    assert_eq!(r.result().expect("ok").key_expr().as_str(), "lpr/zz/a");
    token.undeclare().await.expect("undeclare");
    zexpect(&sub, "lpr/zz/a", Z::Delete).await;
    za.close().await.expect("close");
    zb.close().await.expect("close");
}
