//! usrpwd authentication with Zenoh 1.10.2 on the other side, both directions: the right
//! password gets in (and names the transport), a wrong one is refused with a reason on
//! both sides, logged once, never shown in the admin space and leaving nothing behind.

mod common;

use std::time::Duration;

use common::{
    Ca, WAIT, arrived, capture_logs, ep, log_lines, logged, until, write_file, zenoh_config,
};
use plexus::{Config, SampleKind, Session};
use plexus_link::{Pem, TlsConfig};
use serde_json::Value;
use tokio::time::timeout;

/// A Plexus router on `tcp/127.0.0.1:0` letting in the users of `dictionary`.
async fn plexus_router(dir: &tempfile::TempDir, dictionary: &str) -> (Session, String) {
    let file = write_file(dir, "users.txt", dictionary);
    let r = plexus::open(
        Config::router()
            .with_usrpwd_dictionary(file)
            .with_listen(vec![ep("tcp/127.0.0.1:0")]),
    )
    .await
    .expect("open a Plexus router with usrpwd");
    let loc = r.locators().first().expect("a listener").to_string();
    (r, loc)
}

/// A Zenoh client config connecting to `to`, with credentials if given.
fn zenoh_client(to: &str, id: &str, credentials: Option<(&str, &str)>) -> zenoh::Config {
    let mut c = zenoh_config("client", Some(to), None);
    c.insert_json5("id", &format!("{id:?}")).expect("id");
    if let Some((user, password)) = credentials {
        c.insert_json5("transport/auth/usrpwd/user", &format!("{user:?}"))
            .expect("user");
        c.insert_json5("transport/auth/usrpwd/password", &format!("{password:?}"))
            .expect("password");
    }
    c
}

/// A Zenoh router on `tcp/127.0.0.1:0` letting in the users of `dictionary`.
async fn zenoh_router(dir: &tempfile::TempDir, dictionary: &str) -> (zenoh::Session, String) {
    let file = write_file(dir, "zusers.txt", dictionary);
    let mut c = zenoh_config("router", None, Some("tcp/127.0.0.1:0"));
    c.insert_json5(
        "transport/auth/usrpwd/dictionary_file",
        &format!("{file:?}"),
    )
    .expect("dictionary");
    let z = zenoh::open(c)
        .await
        .expect("open a Zenoh router with usrpwd");
    let loc = z
        .info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("a tcp locator")
        .to_string();
    (z, loc)
}

fn plexus_client(to: &str, user: &str, password: &str) -> Config {
    Config::client()
        .with_connect(vec![ep(to)])
        .with_usrpwd(user, password)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_clients_against_a_plexus_router() {
    capture_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, loc) = plexus_router(&dir, "alice:wonderland\nbob:builder\n").await;
    let admin = router
        .declare_subscriber("@/session/**")
        .await
        .expect("admin subscriber");
    let port = loc.rsplit(':').next().expect("port").to_owned();

    // A wrong password: Zenoh's open fails, the router says why, once.
    let wrong = zenoh::open(zenoh_client(&loc, "a1", Some(("alice", "looking-glass")))).await;
    assert!(wrong.is_err(), "a wrong password got in");
    let line = logged(&[
        "refused a link on",
        &port,
        "wrong password for user `alice`",
    ])
    .await;
    assert!(line.contains("INFO"), "{line}");
    // No credentials at all.
    let none = zenoh::open(zenoh_client(&loc, "a2", None)).await;
    assert!(none.is_err(), "a client without credentials got in");
    logged(&["refused a link on", &port, "the peer did not authenticate"]).await;
    // An unknown user.
    let unknown = zenoh::open(zenoh_client(&loc, "a3", Some(("carol", "x")))).await;
    assert!(unknown.is_err(), "an unknown user got in");
    logged(&["refused a link on", &port, "unknown user `carol`"]).await;

    // The right password gets in; its transport is the first thing in the admin space.
    let z = zenoh::open(zenoh_client(&loc, "a4", Some(("alice", "wonderland"))))
        .await
        .expect("the right password gets in");
    let first = timeout(WAIT, admin.recv_async())
        .await
        .expect("admin event")
        .expect("channel");
    assert_eq!(first.kind(), SampleKind::Put);
    assert!(
        first.key_expr().as_str().ends_with("/transport/unicast/A4"),
        "{}",
        first.key_expr()
    );
    let v: Value = serde_json::from_slice(first.payload()).expect("JSON");
    assert_eq!(v["auth_identifier"], "alice", "{v}");
    // Then its link (a transport is announced as it opens, its first link right after).
    let link = timeout(WAIT, admin.recv_async())
        .await
        .expect("admin event")
        .expect("channel");
    assert_eq!(link.kind(), SampleKind::Put);
    assert!(
        link.key_expr()
            .as_str()
            .contains("/transport/unicast/A4/link/"),
        "{}",
        link.key_expr()
    );
    let links = router.info().links();
    assert_eq!(links.len(), 1, "nothing left of the refused links");
    assert_eq!(links[0].auth_identifier.as_deref(), Some("alice"));
    assert_eq!(router.info().transports().len(), 1);
    assert_eq!(
        router.info().closed_transports(),
        vec![],
        "a refused handshake is no closed transport"
    );
    for reason in [
        "wrong password for user `alice`",
        "the peer did not authenticate",
        "unknown user `carol`",
    ] {
        let lines = log_lines(&["refused a link on", &port, reason]);
        assert_eq!(lines.len(), 1, "logged once: {lines:#?}");
    }

    // And it talks.
    let sub = router
        .declare_subscriber("auth/**")
        .await
        .expect("subscribe");
    until("alice's publication", || async {
        z.put("auth/a", "right-password").await.expect("put");
        arrived(&sub).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_clients_against_a_zenoh_router() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (z, loc) = zenoh_router(&dir, "alice:wonderland\n").await;

    let err = plexus::open(plexus_client(&loc, "alice", "looking-glass"))
        .await
        .expect_err("a wrong password is refused")
        .to_string();
    assert!(
        err.contains("the peer refused our usrpwd credentials (user `alice`)"),
        "{err}"
    );
    let err = plexus::open(Config::client().with_connect(vec![ep(&loc)]))
        .await
        .expect_err("no credentials")
        .to_string();
    assert!(err.contains("closed by the peer"), "{err}");

    let p = plexus::open(plexus_client(&loc, "alice", "wonderland"))
        .await
        .expect("the right password gets in");
    let zsub = z
        .declare_subscriber("auth/**")
        .await
        .expect("zenoh subscribe");
    until(
        "a Plexus publication through the authenticated link",
        || async {
            p.put("auth/p", "from plexus").await.expect("put");
            matches!(
                timeout(Duration::from_millis(100), zsub.recv_async()).await,
                Ok(Ok(_))
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_to_plexus_usrpwd_over_mtls_names_user_and_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    let (server_id, client_id) = (ca.issue("router"), ca.issue("alice-laptop"));
    let tls = |id: &common::Identity| TlsConfig {
        root_ca_certificate: Some(Pem::Raw(ca.pem())),
        listen_certificate: Some(Pem::Raw(id.cert.clone())),
        listen_private_key: Some(Pem::Raw(id.key.clone())),
        enable_mtls: true,
        connect_certificate: Some(Pem::Raw(id.cert.clone())),
        connect_private_key: Some(Pem::Raw(id.key.clone())),
        ..TlsConfig::default()
    };
    let file = write_file(&dir, "users.txt", "alice:wonderland\n");
    let router = plexus::open(
        Config::router()
            .with_tls(tls(&server_id))
            .with_usrpwd_dictionary(file)
            .with_listen(vec![ep("tls/127.0.0.1:0")]),
    )
    .await
    .expect("router");
    let loc = router.locators()[0].to_string();
    let err = plexus::open(plexus_client(&loc, "alice", "nope").with_tls(tls(&client_id)))
        .await
        .expect_err("wrong password")
        .to_string();
    assert!(err.contains("refused our usrpwd credentials"), "{err}");
    let events = router.info().connectivity_events();
    let c = plexus::open(plexus_client(&loc, "alice", "wonderland").with_tls(tls(&client_id)))
        .await
        .expect("right password");
    // The router adds the transport once it has answered the handshake: maybe after the
    // client's open returned.
    common::connectivity(&events, "the client's transport", |e| match e {
        plexus::ConnectivityEvent::TransportOpened(info) if info.zid == c.zid() => Some(()),
        _ => None,
    })
    .await;
    let t = router
        .info()
        .transports()
        .into_iter()
        .find(|t| t.zid == c.zid())
        .expect("the client's transport");
    assert_eq!(
        t.auth_identifier.as_deref(),
        Some("alice"),
        "the usrpwd user"
    );
    let l = router
        .info()
        .links()
        .into_iter()
        .find(|l| l.zid == c.zid())
        .expect("its link");
    assert_eq!(
        l.auth_identifier.as_deref(),
        Some("alice-laptop"),
        "the certificate name"
    );
    // The client learns the router's certificate name, not a user.
    assert_eq!(
        c.info().transports()[0].auth_identifier.as_deref(),
        Some("router")
    );
}
