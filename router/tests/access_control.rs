//! Access control through `plexusd`, configured by a file: a put denied on one key and
//! allowed on another (ingress, per publisher), a put kept from one subscriber on its way
//! out (egress), subjects told apart by zid, and a configuration error that names the
//! rule stops the daemon before it listens.
//!
//! Every "denied" is shown by ordering, not by waiting: the denied message is sent before
//! an allowed marker on the same transport, so when the marker arrives the denied one
//! would already have.

mod common;

use std::process::Stdio;

use common::pubsub::{egress_denied, put_denied, recv, until_routed};
use common::*;
use plexus::{Config, ZenohId};
use tokio::io::AsyncReadExt;
use tokio::time::timeout;

/// The publisher `a11ce` may not put under `demo/secret/**`; nothing under
/// `demo/private/**` goes to the subscriber `b0b`; `ca201`, when connected through the
/// loopback interface (`lo`, as every client here is), may not put under
/// `demo/local-deny/**`; everything else is allowed. (A transport matching several
/// subjects is allowed what one of them allows, as in Zenoh: so the interface subject
/// names a zid too, or it would allow alice's secret puts.)
const ACL: &str = r#"{
  access_control: {
    enabled: true,
    default_permission: "allow",
    rules: [
      { id: "no-secret-puts", messages: ["put"], flows: ["ingress"],
        permission: "deny", key_exprs: ["demo/secret/**"] },
      { id: "no-private-out", messages: ["put", "delete"], flows: ["egress"],
        permission: "deny", key_exprs: ["demo/private/**"] },
      { id: "no-local-deny", messages: ["put"], flows: ["ingress"],
        permission: "deny", key_exprs: ["demo/local-deny/**"] },
    ],
    subjects: [
      { id: "alice", zids: ["a11ce"] },
      { id: "bob", zids: ["b0b"], link_protocols: ["tcp"] },
      { id: "carol-on-lo", interfaces: ["lo"], zids: ["ca201"] },
    ],
    policies: [
      { id: "alice-policy", rules: ["no-secret-puts"], subjects: ["alice"] },
      { id: "bob-policy", rules: ["no-private-out"], subjects: ["bob"] },
      { rules: ["no-local-deny"], subjects: ["carol-on-lo"] },
    ],
  },
}"#;

fn zid(hex: &str) -> ZenohId {
    hex.parse().expect("zid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexusd_acl_denies_a_put_on_one_key_and_allows_another() {
    let daemon = Daemon::with_config("acl", Some(ACL)).await;
    let alice = client_with(&daemon.locator, Config::default().with_id(zid("a11ce"))).await;
    let carol = client_with(&daemon.locator, Config::default().with_id(zid("ca201"))).await;
    let bob = client_with(&daemon.locator, Config::default().with_id(zid("b0b"))).await;
    let dave = client_with(&daemon.locator, Config::default().with_id(zid("da7e"))).await;
    let at_bob = bob.declare_subscriber("demo/**").await.expect("sub");
    let at_dave = dave.declare_subscriber("demo/**").await.expect("sub");
    until_routed(&alice, "demo/public/probe", &at_bob).await;
    until_routed(&alice, "demo/public/probe", &at_dave).await;
    // Probes may still be on their way: one last put from alice comes after them all.
    alice.put("demo/public/sync", "sync").await.expect("put");
    for rx in [&at_bob, &at_dave] {
        while recv(rx).await.key_expr().as_str() != "demo/public/sync" {}
    }

    // Ingress: alice's put on demo/secret is dropped by plexusd; her next put passes.
    put_denied(
        &alice,
        "demo/secret/plan",
        "demo/public/a",
        &[&at_bob, &at_dave],
        "alice's denied put got through",
    )
    .await;
    // The same key from carol is allowed: the rule is alice's.
    carol.put("demo/secret/plan", "allowed").await.expect("put");
    for rx in [&at_bob, &at_dave] {
        assert_eq!(recv(rx).await.key_expr().as_str(), "demo/secret/plan");
    }

    // By interface (and zid): carol's link is on `lo`, so her put under demo/local-deny
    // is dropped.
    put_denied(
        &carol,
        "demo/local-deny/x",
        "demo/public/c",
        &[&at_bob, &at_dave],
        "a put denied by an interface subject got through",
    )
    .await;

    // Egress: demo/private reaches dave, never bob (neither a put nor a delete).
    egress_denied(&alice, "demo/private/x", "demo/public/b", &at_dave, &at_bob).await;
}

/// Runs `plexusd -c <config>` and returns its exit status and everything it printed.
async fn run_to_exit(name: &str, config: &str) -> (std::process::ExitStatus, String) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("plexusd-{name}-{}.json5", std::process::id()));
    std::fs::write(&path, config).expect("write config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_plexusd"))
        .args(["-c", path.to_str().expect("utf-8 path")])
        .args(["-l", "tcp/127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start plexusd");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (mut o, mut e) = (String::new(), String::new());
    let status = timeout(WAIT, async {
        let (r1, r2) = tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e));
        r1.expect("read stdout");
        r2.expect("read stderr");
        child.wait().await.expect("wait")
    })
    .await
    .expect("plexusd with a bad configuration did not exit within 10 s");
    (status, o + &e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexusd_refuses_an_acl_whose_policy_names_an_unknown_rule() {
    let bad = ACL.replace(
        r#"rules: ["no-secret-puts"]"#,
        r#"rules: ["no-secret-put"]"#,
    );
    assert_ne!(bad, ACL);
    let (status, output) = run_to_exit("acl-bad-policy", &bad).await;
    assert!(!status.success(), "plexusd started: {output}");
    assert!(
        output.contains("access_control/policies[0]")
            && output.contains(
                "policy \"alice-policy\": rule \"no-secret-put\" is not in the rules list"
            ),
        "{output}"
    );
    assert!(!output.contains("listening"), "{output}");

    let bad = ACL.replace(
        r#"messages: ["put", "delete"]"#,
        r#"messages: ["put", "del"]"#,
    );
    assert_ne!(bad, ACL);
    let (status, output) = run_to_exit("acl-bad-rule", &bad).await;
    assert!(!status.success(), "plexusd started: {output}");
    assert!(
        output.contains("access_control/rules[1]")
            && output.contains("rule \"no-private-out\"")
            && output.contains("unknown message kind \"del\""),
        "{output}"
    );
}
