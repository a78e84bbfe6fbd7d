//! Access control (`access_control`) enforced by a Plexus router on its clients, who are
//! told apart by the usrpwd user they proved: a put denied on one key and allowed on
//! another, a put denied on its way out, a subscriber declaration refused, configuration
//! errors naming the rule, and a Zenoh 1.10.2 client under the router's ACL.
//!
//! Every "denied" is shown by ordering, not by waiting: the denied message is sent
//! before an allowed marker on the same transport, so when the marker arrives the denied
//! one would already have.

mod common;

use common::{
    arrived, egress_denied, ep, put_denied, recv, until, until_routed, write_file, zenoh_config,
};
use std::time::Duration;

use plexus::{Config, Query, Reply, Session};
use tokio::time::timeout;

/// alice may not publish nor query under `demo/secret/**`; no publication, reply or
/// liveliness token under `demo/private/**` or `live/private/**` goes to bob, who may not
/// subscribe under `hidden/**`; everything else is allowed.
const ACL: &str = r#"{
  access_control: {
    enabled: true,
    default_permission: "allow",
    rules: [
      { id: "alice-no-secret", messages: ["put"], flows: ["ingress"],
        permission: "deny", key_exprs: ["demo/secret/**"] },
      { id: "bob-no-private", messages: ["put", "delete"], flows: ["egress"],
        permission: "deny", key_exprs: ["demo/private/**"] },
      { id: "bob-no-hidden-sub", messages: ["declare_subscriber"], flows: ["ingress"],
        permission: "deny", key_exprs: ["hidden/**"] },
      { id: "alice-no-secret-query", messages: ["query"], flows: ["ingress"],
        permission: "deny", key_exprs: ["demo/secret/**"] },
      { id: "bob-no-private-live", messages: ["reply", "liveliness_token"], flows: ["egress"],
        permission: "deny", key_exprs: ["demo/private/**", "live/private/**"] },
    ],
    subjects: [
      { id: "alice", usernames: ["alice"] },
      { id: "bob", usernames: ["bob"] },
    ],
    policies: [
      { id: "alice-policy", rules: ["alice-no-secret", "alice-no-secret-query"], subjects: ["alice"] },
      { rules: ["bob-no-private", "bob-no-hidden-sub", "bob-no-private-live"], subjects: ["bob"] },
    ],
  },
}"#;

/// A Plexus router on `tcp/127.0.0.1:0` with [`ACL`], letting in alice and bob.
async fn router(dir: &tempfile::TempDir) -> (Session, String) {
    let users = write_file(dir, "users.txt", "alice:wonderland\nbob:builder\n");
    let config = Config::from_json5(ACL)
        .expect("the ACL parses")
        .with_mode(plexus::WhatAmI::Router)
        .with_usrpwd_dictionary(users)
        .with_listen(vec![ep("tcp/127.0.0.1:0")]);
    let r = plexus::open(config).await.expect("open the router");
    let loc = r.locators().first().expect("a listener").to_string();
    (r, loc)
}

async fn client(loc: &str, user: &str, password: &str) -> Session {
    plexus::open(
        Config::client()
            .with_connect(vec![ep(loc)])
            .with_usrpwd(user, password),
    )
    .await
    .expect("open a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_acl_denies_puts_in_and_out_by_username() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, loc) = router(&dir).await;
    let alice = client(&loc, "alice", "wonderland").await;
    let bob = client(&loc, "bob", "builder").await;
    let at_router = router.declare_subscriber("demo/**").await.expect("sub");
    let at_bob = bob.declare_subscriber("demo/**").await.expect("sub");
    until_routed(&alice, "demo/public/probe", &at_bob).await;
    while at_router.try_recv().is_ok() {}

    // Ingress: alice's put on demo/secret is dropped at the router; the next one passes.
    put_denied(
        &alice,
        "demo/secret/plan",
        "demo/public/a",
        &[&at_router, &at_bob],
        "the denied put got through",
    )
    .await;
    // The same key from bob is allowed: the rule is alice's.
    bob.put("demo/secret/plan", "from bob").await.expect("put");
    assert_eq!(
        recv(&at_router).await.key_expr().as_str(),
        "demo/secret/plan"
    );
    // (bob's own subscriber has it from bob's session.)
    assert_eq!(recv(&at_bob).await.key_expr().as_str(), "demo/secret/plan");

    // Egress: demo/private reaches the router's own subscriber, never bob; nor a delete.
    egress_denied(
        &alice,
        "demo/private/x",
        "demo/public/b",
        &at_router,
        &at_bob,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_acl_refuses_a_subscriber_declaration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, loc) = router(&dir).await;
    let alice = client(&loc, "alice", "wonderland").await;
    let bob = client(&loc, "bob", "builder").await;
    // Declared in this order on one transport: once the router routes `probe/**` to
    // bob, it has handled (and refused) `hidden/**`.
    let hidden = bob.declare_subscriber("hidden/**").await.expect("sub");
    let probe = bob.declare_subscriber("probe/**").await.expect("sub");
    until_routed(&alice, "probe/x", &probe).await;
    assert_eq!(
        router.info().declarations().remote_subscribers,
        1,
        "the router holds bob's probe/** and not the refused hidden/**"
    );

    put_denied(
        &alice,
        "hidden/1",
        "probe/end",
        &[&probe],
        "a put routed to a refused subscriber",
    )
    .await;
    assert!(
        hidden.try_recv().is_err(),
        "a refused subscriber declaration was routed"
    );
    // alice (not under that rule) may subscribe there.
    let alice_hidden = alice.declare_subscriber("hidden/**").await.expect("sub");
    until("alice's hidden/** subscriber", || async {
        bob.put("hidden/2", "ok").await.expect("put");
        arrived(&alice_hidden).await
    })
    .await;
}

/// Every reply of a query, once it has ended (bounded).
async fn replies(rx: flume::Receiver<Reply>) -> Vec<String> {
    timeout(common::WAIT, async {
        let mut out = Vec::new();
        while let Ok(r) = rx.recv_async().await {
            if let Ok(s) = r.result() {
                out.push(s.key_expr().to_string());
            }
        }
        out
    })
    .await
    .expect("the query did not end within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_acl_on_queries_replies_and_liveliness_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, loc) = router(&dir).await;
    let _qbl = router
        .declare_queryable("demo/**")
        .callback(|q: Query| {
            tokio::spawn(async move {
                let key = q.key_expr().to_string();
                q.reply(key, "answer").await.expect("reply");
            });
        })
        .await
        .expect("queryable");
    let alice = client(&loc, "alice", "wonderland").await;
    let bob = client(&loc, "bob", "builder").await;
    let get = |s: &Session, key: &'static str| {
        let s = s.clone();
        async move {
            let rx = s
                .get(key)
                .timeout(Duration::from_secs(30))
                .await
                .expect("get");
            replies(rx).await
        }
    };
    // Ingress query: alice's is answered at once with nothing; bob's gets the reply.
    assert_eq!(get(&alice, "demo/secret/x").await, Vec::<String>::new());
    assert_eq!(get(&alice, "demo/public/x").await, vec!["demo/public/x"]);
    assert_eq!(get(&bob, "demo/secret/x").await, vec!["demo/secret/x"]);
    // Egress reply: bob's query on demo/private ends without the reply; alice's has it.
    assert_eq!(get(&bob, "demo/private/x").await, Vec::<String>::new());
    assert_eq!(get(&alice, "demo/private/x").await, vec!["demo/private/x"]);

    // Egress liveliness token: the router knows both of alice's tokens, bob sees one.
    let live = router
        .liveliness()
        .declare_subscriber("live/**")
        .history(true)
        .await
        .expect("liveliness subscriber");
    let _private = alice
        .liveliness()
        .declare_token("live/private/a")
        .await
        .expect("token");
    let _public = alice
        .liveliness()
        .declare_token("live/public/b")
        .await
        .expect("token");
    assert_eq!(recv(&live).await.key_expr().as_str(), "live/private/a");
    assert_eq!(recv(&live).await.key_expr().as_str(), "live/public/b");
    let at_bob = bob
        .liveliness()
        .get("live/**")
        .timeout(Duration::from_secs(30))
        .await
        .expect("liveliness get");
    assert_eq!(replies(at_bob).await, vec!["live/public/b"]);
    let at_alice = alice
        .liveliness()
        .get("live/**")
        .timeout(Duration::from_secs(30))
        .await
        .expect("liveliness get");
    let mut seen = replies(at_alice).await;
    seen.sort();
    assert_eq!(seen, vec!["live/private/a", "live/public/b"]);
}

#[test]
fn config_errors_name_the_rule_subject_or_policy() {
    let with = |from: &str, to: &str| {
        let text = ACL.replace(from, to);
        assert_ne!(text, ACL, "{from} not in ACL");
        Config::from_json5(&text)
            .expect_err("a bad access_control section was accepted")
            .to_string()
    };
    let e = with(
        r#"messages: ["put"], flows: ["ingress"]"#,
        r#"messages: ["pub"], flows: ["ingress"]"#,
    );
    assert!(
        e.contains("access_control/rules[0]")
            && e.contains("rule \"alice-no-secret\"")
            && e.contains("unknown message kind \"pub\""),
        "{e}"
    );
    let e = with(r#"["demo/secret/**"]"#, r#"["demo//secret"]"#);
    assert!(
        e.contains("rule \"alice-no-secret\"") && e.contains("bad key expression"),
        "{e}"
    );
    let e = with(r#"id: "bob-no-private""#, r#"id: "alice-no-secret""#);
    assert!(e.contains("rule id \"alice-no-secret\" is repeated"), "{e}");
    let e = with(
        r#"rules: ["alice-no-secret","#,
        r#"rules: ["alice-no-secrets","#,
    );
    assert!(
        e.contains("policy \"alice-policy\": rule \"alice-no-secrets\" is not in the rules list"),
        "{e}"
    );
    let e = with(r#"subjects: ["bob"]"#, r#"subjects: ["robert"]"#);
    assert!(
        e.contains("policy #1: subject \"robert\" is not in the subjects list"),
        "{e}"
    );
    let e = with(r#"usernames: ["bob"]"#, r#"usernames: []"#);
    assert!(
        e.contains("subject \"bob\": `usernames` is an empty list"),
        "{e}"
    );
    let e = with(
        r#"default_permission: "allow""#,
        r#"default_permission: "maybe""#,
    );
    assert!(e.contains("access_control/default_permission"), "{e}");

    // Set key by key, the section is checked as a whole when the session opens.
    let mut c = Config::client();
    c.insert_json5("access_control/enabled", "true")
        .expect("enabled");
    c.insert_json5("access_control/rules", "[]").expect("rules");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let e = match rt.block_on(plexus::open(c)) {
        Ok(_) => panic!("an ACL without subjects and policies opened"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("`subjects`, `policies` not given"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_clients_under_the_plexus_router_acl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, loc) = router(&dir).await;
    let zclient = |id: &str, user: &str, password: &str| {
        let mut c = zenoh_config("client", Some(&loc), None);
        c.insert_json5("id", &format!("{id:?}")).expect("id");
        c.insert_json5("transport/auth/usrpwd/user", &format!("{user:?}"))
            .expect("user");
        c.insert_json5("transport/auth/usrpwd/password", &format!("{password:?}"))
            .expect("password");
        c
    };
    let alice = zenoh::open(zclient("a1", "alice", "wonderland"))
        .await
        .expect("zenoh alice");
    let bob = zenoh::open(zclient("b1", "bob", "builder"))
        .await
        .expect("zenoh bob");
    let at_router = router.declare_subscriber("demo/**").await.expect("sub");
    let at_bob = bob.declare_subscriber("demo/**").await.expect("zenoh sub");
    until("bob's subscription through the router", || async {
        alice.put("demo/public/probe", "p").await.expect("put");
        matches!(
            tokio::time::timeout(std::time::Duration::from_millis(100), at_bob.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    while at_bob.try_recv().ok().flatten().is_some() {}
    while at_router.try_recv().is_ok() {}

    alice.put("demo/secret/plan", "denied").await.expect("put");
    alice
        .put("demo/private/y", "not for bob")
        .await
        .expect("put");
    alice.put("demo/public/z", "marker").await.expect("put");
    assert_eq!(recv(&at_router).await.key_expr().as_str(), "demo/private/y");
    assert_eq!(recv(&at_router).await.key_expr().as_str(), "demo/public/z");
    let s = common::zrecv(&at_bob).await;
    assert_eq!(
        s.key_expr().as_str(),
        "demo/public/z",
        "a denied put reached the Zenoh subscriber"
    );
}
