//! usrpwd through `plexusd` and its REST plugin: a refused handshake is logged once and
//! appears neither in `@/<zid>/router` nor in the closed-transport history, and the
//! user a client proved is its session's, link's and closed transport's
//! `auth_identifier`.

mod common;

use std::path::PathBuf;

use common::*;
use plexus::{Config, Session};
use serde_json::Value;

/// The value of the only sample of a REST GET.
async fn get_value(d: &Plexusd, path: &str) -> Value {
    let r = http(&d.http, "GET", path, &[], b"").await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    let v = r.json();
    let samples = v.as_array().expect("an array of samples");
    assert_eq!(samples.len(), 1, "GET {path}: {v}");
    samples[0]["value"].clone()
}

async fn client(locator: &str, user: &str, password: &str) -> Result<Session, String> {
    plexus::open(
        Config::client()
            .with_connect(vec![locator.parse().expect("locator")])
            .with_usrpwd(user, password),
    )
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_handshakes_stay_out_of_the_rest_view_and_the_closed_history() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("plexusd-usrpwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let users = dir.join("users.txt");
    std::fs::write(&users, "alice:wonderland\n").expect("dictionary");
    let conf = dir.join("router.json5");
    std::fs::write(
        &conf,
        format!("{{ transport: {{ auth: {{ usrpwd: {{ dictionary_file: {users:?} }} }} }} }}"),
    )
    .expect("config");
    let mut d = Plexusd::start(&["-c", conf.to_str().expect("utf-8 path")]).await;

    // A wrong password: refused with the reason on both sides.
    let err = client(&d.locator, "alice", "looking-glass")
        .await
        .expect_err("a wrong password got in");
    assert!(
        err.contains("the peer refused our usrpwd credentials"),
        "{err}"
    );
    let refused = line_with(&mut d.lines, "refused a link on").await;
    assert!(
        refused.contains("wrong password for user `alice`"),
        "{refused}"
    );

    // The right one gets in, and plexusd says who it is.
    let alice = client(&d.locator, "alice", "wonderland")
        .await
        .expect("the right password gets in");
    let az = alice.zid().to_string();
    let opened = line_with(&mut d.lines, "authenticated as `alice`").await;
    assert!(opened.contains(&az), "{opened}");

    // @/local/router lists alice alone, named by her user on the session and its link.
    let r = get_value(&d, "/@/local/router").await;
    let sessions = r["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "only alice: {r}");
    assert_eq!(sessions[0]["peer"], az);
    assert_eq!(sessions[0]["auth_identifier"], "alice", "{r}");
    let links = sessions[0]["links"].as_array().expect("links");
    assert_eq!(links.len(), 1, "{r}");
    assert_eq!(links[0]["auth_identifier"], "alice", "{r}");
    // No closed transport yet: the refused handshake was never one.
    let closed = get_value(&d, "/@/local/router/transports/closed").await;
    assert_eq!(closed, serde_json::json!([]), "{closed}");

    // When alice leaves, hers is the first and only closed transport: the router
    // remembers it before it publishes the transport's Delete.
    let mut sse = Sse::open(&d.http, "/@/local/session/transport/unicast/*").await;
    let key = format!("@/{}/session/transport/unicast/{az}", d.zid);
    alice.close().await;
    sse.next_matching(|e| e.event == "DELETE" && e.json()["key"] == key)
        .await;
    let closed = get_value(&d, "/@/local/router/transports/closed").await;
    let closed = closed.as_array().expect("an array");
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0]["zid"], az);
    assert_eq!(closed[0]["seq"], 1, "the refusal was counted: {closed:?}");
    assert_eq!(closed[0]["auth_identifier"], "alice", "{closed:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
