//! TLS and mTLS links between Plexus sessions and with Zenoh 1.10.2, with certificates made
//! at test time: pub/sub and queries over `tls/…` both ways, the peer certificate's common
//! name as `auth_identifier` in the Link/Transport JSON, and a client certificate from
//! another CA refused (with a reason on both sides, logged once, nothing left behind).

mod common;

use std::time::Duration;

use common::{
    Ca, WAIT, arrived, capture_logs, ep, log_lines, logged, recv, until, write_file, zenoh_config,
    zrecv,
};
use plexus::{Config, Query, Sample, SampleKind, Session, WhatAmI};
use plexus_link::{Pem, TlsConfig};
use serde_json::Value;
use tokio::time::timeout;

/// TLS settings: trust `ca`, present `id` when listening (and when connecting with mTLS).
fn tls(ca: &Ca, id: Option<&common::Identity>, mtls: bool) -> TlsConfig {
    TlsConfig {
        root_ca_certificate: Some(Pem::Raw(ca.pem())),
        listen_certificate: id.map(|i| Pem::Raw(i.cert.clone())),
        listen_private_key: id.map(|i| Pem::Raw(i.key.clone())),
        enable_mtls: mtls,
        connect_certificate: id.filter(|_| mtls).map(|i| Pem::Raw(i.cert.clone())),
        connect_private_key: id.filter(|_| mtls).map(|i| Pem::Raw(i.key.clone())),
        ..TlsConfig::default()
    }
}

async fn listening(mode: WhatAmI, tls: TlsConfig) -> (Session, String) {
    let s = plexus::open(
        Config::default()
            .with_mode(mode)
            .with_tls(tls)
            .with_listen(vec![ep("tls/127.0.0.1:0")]),
    )
    .await
    .expect("open a TLS listener");
    let loc = s.locators().first().expect("a listener").to_string();
    assert!(loc.starts_with("tls/127.0.0.1:"), "{loc}");
    (s, loc)
}

fn connecting(mode: WhatAmI, tls: TlsConfig, to: &str) -> Config {
    Config::default()
        .with_mode(mode)
        .with_tls(tls)
        .with_listen(vec![])
        .with_connect(vec![ep(to)])
}

/// Publications from `from` reach a subscriber of `to` on `key`, and a query from `to` is
/// answered by a queryable of `from`.
async fn plexus_pubsub_and_query(from: &Session, to: &Session, key: &str) {
    let sub = to.declare_subscriber(key).await.expect("subscribe");
    until("a publication over TLS", || async {
        from.put(key, "over tls").await.expect("put");
        arrived(&sub).await
    })
    .await;
    let big = common::payload(100_000);
    from.put(key, big.clone()).await.expect("put");
    loop {
        let s = recv(&sub).await;
        if s.payload().len() == big.len() {
            assert!(s.payload()[..] == big[..], "fragmented payload differs");
            break;
        }
    }
    let qkey = format!("{key}/q");
    let _q = from
        .declare_queryable(&qkey)
        .callback(|q: Query| {
            tokio::spawn(async move {
                let k = q.key_expr().clone();
                q.reply(k, "answer").await.expect("reply");
            });
        })
        .await
        .expect("queryable");
    until("a query over TLS", || async {
        let replies = to.get(&qkey).await.expect("get");
        matches!(
            timeout(Duration::from_millis(500), replies.recv_async()).await,
            Ok(Ok(r)) if r.result().is_ok_and(|s: &Sample| s.payload()[..] == b"answer"[..])
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_sessions_over_mtls_name_each_other_in_the_admin_space() {
    let ca = Ca::new("plexus test CA");
    let (a_id, b_id) = (ca.issue("plexus-a"), ca.issue("plexus-b"));
    let (a, loc) = listening(WhatAmI::Peer, tls(&ca, Some(&a_id), true)).await;
    let admin = a
        .declare_subscriber("@/session/**")
        .await
        .expect("admin subscriber");
    let b = plexus::open(connecting(WhatAmI::Peer, tls(&ca, Some(&b_id), true), &loc))
        .await
        .expect("mTLS connect");

    // A's admin space: Transport and Link JSON name B by its certificate.
    let bz = b.zid().to_string().to_uppercase();
    let mut seen = (None, None);
    while seen.0.is_none() || seen.1.is_none() {
        let s = timeout(WAIT, admin.recv_async())
            .await
            .expect("admin events")
            .expect("channel");
        if s.kind() != SampleKind::Put || !s.key_expr().as_str().contains(&bz) {
            continue;
        }
        let v: Value = serde_json::from_slice(s.payload()).expect("JSON");
        if s.key_expr().as_str().contains("/link/") {
            seen.1 = Some(v);
        } else {
            seen.0 = Some(v);
        }
    }
    let (transport, link) = (seen.0.expect("transport"), seen.1.expect("link"));
    assert_eq!(transport["auth_identifier"], "plexus-b", "{transport}");
    assert_eq!(link["auth_identifier"], "plexus-b", "{link}");
    assert!(
        link["src"].as_str().is_some_and(|s| s.starts_with("tls/"))
            && link["dst"].as_str().is_some_and(|s| s.starts_with("tls/")),
        "{link}"
    );
    // B sees A's certificate name, typed and as JSON.
    let links = b.info().links();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].auth_identifier.as_deref(), Some("plexus-a"));
    assert_eq!(
        b.info().transports()[0].auth_identifier.as_deref(),
        Some("plexus-a")
    );

    plexus_pubsub_and_query(&a, &b, "tls/a-to-b").await;
    plexus_pubsub_and_query(&b, &a, "tls/b-to-a").await;
}

/// A Zenoh session in `mode` listening on TLS, with its certificate files in `dir`.
async fn zenoh_tls_listener(
    dir: &tempfile::TempDir,
    mode: &str,
    ca: &Ca,
    id: &common::Identity,
    mtls: bool,
) -> (zenoh::Session, String) {
    let mut c = zenoh_config(mode, None, Some("tls/127.0.0.1:0"));
    let set = |c: &mut zenoh::Config, key: &str, value: String| {
        c.insert_json5(key, &value)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    };
    set(
        &mut c,
        "transport/link/tls/listen_certificate",
        format!("{:?}", write_file(dir, "zl.pem", &id.cert)),
    );
    set(
        &mut c,
        "transport/link/tls/listen_private_key",
        format!("{:?}", write_file(dir, "zl.key", &id.key)),
    );
    set(
        &mut c,
        "transport/link/tls/root_ca_certificate",
        format!("{:?}", write_file(dir, "zca.pem", &ca.pem())),
    );
    set(&mut c, "transport/link/tls/enable_mtls", mtls.to_string());
    let z = zenoh::open(c).await.expect("open a Zenoh TLS listener");
    let loc = z
        .info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tls")
        .expect("a tls locator")
        .to_string();
    (z, loc)
}

/// A Zenoh config in `mode` connecting to `to` over TLS, trusting `ca` and presenting
/// `id` when given (mTLS).
fn zenoh_tls_connecting(
    dir: &tempfile::TempDir,
    mode: &str,
    to: &str,
    ca: &Ca,
    id: Option<&common::Identity>,
) -> zenoh::Config {
    let mut c = zenoh_config(mode, Some(to), None);
    let ca_file = write_file(dir, "zcca.pem", &ca.pem());
    c.insert_json5(
        "transport/link/tls/root_ca_certificate",
        &format!("{ca_file:?}"),
    )
    .expect("root ca");
    if let Some(id) = id {
        let cert = write_file(dir, "zc.pem", &id.cert);
        let key = write_file(dir, "zc.key", &id.key);
        c.insert_json5("transport/link/tls/enable_mtls", "true")
            .expect("mtls");
        c.insert_json5(
            "transport/link/tls/connect_certificate",
            &format!("{cert:?}"),
        )
        .expect("cert");
        c.insert_json5(
            "transport/link/tls/connect_private_key",
            &format!("{key:?}"),
        )
        .expect("key");
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_client_over_mtls_to_a_plexus_router() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("interop CA");
    let router_id = ca.issue("plexus-router");
    let (router, loc) = listening(WhatAmI::Router, tls(&ca, Some(&router_id), true)).await;
    let events = router.info().connectivity_events();
    let z = zenoh::open(zenoh_tls_connecting(
        &dir,
        "client",
        &loc,
        &ca,
        Some(&ca.issue("zenoh-client")),
    ))
    .await
    .expect("Zenoh client over mTLS");
    let zid: plexus::ZenohId = z.zid().to_string().parse().expect("zid");
    // The router may add the transport just after the client's open returns (it
    // answers the handshake first, as Zenoh's routers do).
    common::connectivity(&events, "the Zenoh client's transport", |e| match e {
        plexus::ConnectivityEvent::TransportOpened(info) if info.zid == zid => Some(()),
        _ => None,
    })
    .await;
    let t = router
        .info()
        .transports()
        .into_iter()
        .find(|t| t.zid == zid)
        .expect("the Zenoh client's transport");
    assert_eq!(t.auth_identifier.as_deref(), Some("zenoh-client"));
    let l = router
        .info()
        .links()
        .into_iter()
        .find(|l| l.zid == zid)
        .expect("its link");
    assert_eq!(l.auth_identifier.as_deref(), Some("zenoh-client"));
    assert!(l.src.starts_with("tls/"), "{}", l.src);

    // Zenoh → Plexus publications and Plexus → Zenoh queries, through the router.
    let sub = router
        .declare_subscriber("interop/tls/**")
        .await
        .expect("subscribe");
    until("a Zenoh publication over TLS", || async {
        z.put("interop/tls/z", "from zenoh").await.expect("put");
        arrived(&sub).await
    })
    .await;
    let _q = z
        .declare_queryable("interop/tls/zq")
        .callback(|q| {
            tokio::spawn(async move {
                let k = q.key_expr().clone();
                q.reply(k, "zenoh answers").await.expect("reply");
            });
        })
        .await
        .expect("zenoh queryable");
    until("a Plexus query answered by Zenoh over TLS", || async {
        let replies = router.get("interop/tls/zq").await.expect("get");
        matches!(
            timeout(Duration::from_millis(500), replies.recv_async()).await,
            Ok(Ok(r)) if r.result().is_ok_and(|s: &Sample| s.payload()[..] == b"zenoh answers"[..])
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_client_over_tls_to_a_zenoh_router() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("interop CA");
    let (z, loc) = zenoh_tls_listener(&dir, "router", &ca, &ca.issue("zenoh-router"), false).await;
    let p = plexus::open(connecting(WhatAmI::Client, tls(&ca, None, false), &loc))
        .await
        .expect("Plexus client over TLS");
    let links = p.info().links();
    assert_eq!(links[0].auth_identifier.as_deref(), Some("zenoh-router"));

    // Plexus → Zenoh publications, Zenoh → Plexus queries.
    let zsub = z
        .declare_subscriber("interop/tls2/**")
        .await
        .expect("zenoh subscribe");
    until("a Plexus publication over TLS", || async {
        p.put("interop/tls2/p", "from plexus").await.expect("put");
        matches!(
            timeout(Duration::from_millis(100), zsub.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    let big = common::payload(70_000);
    p.put("interop/tls2/big", big.clone()).await.expect("put");
    loop {
        let s = zrecv(&zsub).await;
        if s.key_expr().as_str() == "interop/tls2/big" {
            assert!(s.payload().to_bytes()[..] == big[..], "payload differs");
            break;
        }
    }
    let _q = p
        .declare_queryable("interop/tls2/pq")
        .callback(|q: Query| {
            tokio::spawn(async move {
                let k = q.key_expr().clone();
                q.reply(k, "plexus answers").await.expect("reply");
            });
        })
        .await
        .expect("queryable");
    until("a Zenoh query answered by Plexus over TLS", || async {
        let replies = z.get("interop/tls2/pq").await.expect("zenoh get");
        matches!(
            timeout(Duration::from_millis(500), replies.recv_async()).await,
            Ok(Ok(r)) if r.result().is_ok_and(|s| s.payload().to_bytes()[..] == b"plexus answers"[..])
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_peer_and_zenoh_peer_over_mtls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("interop CA");
    let (z, loc) = zenoh_tls_listener(&dir, "peer", &ca, &ca.issue("zenoh-peer"), true).await;
    let p = plexus::open(connecting(
        WhatAmI::Peer,
        tls(&ca, Some(&ca.issue("plexus-peer")), true),
        &loc,
    ))
    .await
    .expect("Plexus peer over mTLS");
    // A peer's open does not wait for a connection that failed once (it goes on trying
    // in the background): wait for the transport if it is not there yet.
    let events = p.info().connectivity_events();
    if p.info().transports().is_empty() {
        common::connectivity(&events, "the transport to the Zenoh peer", |e| {
            matches!(e, plexus::ConnectivityEvent::TransportOpened(_)).then_some(())
        })
        .await;
    }
    assert_eq!(
        p.info().transports()[0].auth_identifier.as_deref(),
        Some("zenoh-peer")
    );
    let sub = p
        .declare_subscriber("interop/tls3/**")
        .await
        .expect("subscribe");
    until("a Zenoh publication over mTLS", || async {
        z.put("interop/tls3/z", "from zenoh").await.expect("put");
        arrived(&sub).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_refused() {
    capture_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("trusted CA");
    let rogue = Ca::new("rogue CA");
    let (router, loc) = listening(WhatAmI::Router, tls(&ca, Some(&ca.issue("router")), true)).await;
    let admin = router
        .declare_subscriber("@/session/**")
        .await
        .expect("admin subscriber");

    // A Plexus client with a certificate of the rogue CA: a clear reason on its side...
    let mut rogue_tls = tls(&ca, Some(&rogue.issue("mallory")), true);
    rogue_tls.listen_certificate = None;
    rogue_tls.listen_private_key = None;
    let err = plexus::open(connecting(WhatAmI::Client, rogue_tls, &loc))
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("the peer refused our certificate: it is not signed by a CA the peer trusts"),
        "{err}"
    );
    // ...and on the router's, logged once.
    let port = loc.rsplit(':').next().expect("port");
    let line = logged(&["refused a link on tls/127.0.0.1:", "unknown issuer"]).await;
    assert!(line.contains(port) && line.contains("INFO"), "{line}");

    // A Zenoh client with a rogue certificate is refused too.
    let zres = zenoh::open(zenoh_tls_connecting(
        &dir,
        "client",
        &loc,
        &ca,
        Some(&rogue.issue("zenoh-mallory")),
    ))
    .await;
    assert!(zres.is_err(), "Zenoh with a rogue certificate got in");

    // Then a good client gets in: the first admin Put is its own, nothing else came
    // before it, and the router holds exactly one transport.
    let good = plexus::open(connecting(
        WhatAmI::Client,
        tls(&ca, Some(&ca.issue("alice")), true),
        &loc,
    ))
    .await
    .expect("a good client");
    let first = timeout(WAIT, admin.recv_async())
        .await
        .expect("admin event")
        .expect("channel");
    assert_eq!(first.kind(), SampleKind::Put);
    assert!(
        first
            .key_expr()
            .as_str()
            .contains(&good.zid().to_string().to_uppercase()),
        "{}",
        first.key_expr()
    );
    assert_eq!(router.info().transports().len(), 1);
    assert_eq!(
        router.info().closed_transports(),
        vec![],
        "a refused handshake is no closed transport"
    );
    let refusals = log_lines(&["refused a link on", port, "not signed by a CA we trust"]);
    assert_eq!(refusals.len(), 2, "each refusal logged once: {refusals:#?}");
}
