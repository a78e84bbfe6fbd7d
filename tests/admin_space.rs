//! The admin space (`@/session/<zid>/**`): events, queries, SessionLocal, typed info, and
//! a peer killed with SIGKILL.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    WAIT, connectivity, ep, example, plexus_connected, plexus_listening, recv as next, upper,
    zenoh_config,
};
use plexus::{Config, ConnectivityEvent, Sample, SampleKind, Session, WhatAmI};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::timeout;

async fn listening() -> (Session, String) {
    plexus_listening(WhatAmI::Peer).await
}

async fn peer_of(loc: &str) -> Session {
    plexus_connected(WhatAmI::Peer, loc).await
}

fn json(s: &Sample) -> Value {
    serde_json::from_slice(s.payload()).expect("the payload is JSON")
}

/// Checks the spec's Transport schema: every field present with the right JSON type.
fn assert_transport_json(v: &Value, zid: &plexus::ZenohId, whatami: &str) {
    assert_eq!(v["zid"], Value::String(upper(zid)), "{v}");
    assert_eq!(v["whatami"], Value::String(whatami.into()), "{v}");
    assert!(v["is_qos"].is_boolean(), "{v}");
    assert!(v["is_shm"].is_boolean(), "{v}");
    assert!(v["lease_ms"].is_u64() && v["created_at"].is_u64(), "{v}");
}

/// Checks the spec's Link schema plus Zenoh 1.x's fields.
fn assert_link_json(v: &Value) {
    let src = v["src"].as_str().expect("src is a string");
    let dst = v["dst"].as_str().expect("dst is a string");
    assert!(
        src.starts_with("tcp/127.0.0.1:") && dst.starts_with("tcp/127.0.0.1:"),
        "{v}"
    );
    assert!(v["group"].is_null(), "{v}");
    assert!(v["mtu"].is_u64(), "{v}");
    assert_eq!(v["is_reliable"], Value::Bool(true), "{v}");
    assert_eq!(v["is_streamed"], Value::Bool(true), "{v}");
    assert!(v["rtt_us"].is_null() || v["rtt_us"].is_u64(), "{v}");
    assert!(
        v["interfaces"].is_array() && v.get("auth_identifier").is_some(),
        "{v}"
    );
    assert_eq!(v["reliability"], Value::String("Reliable".into()), "{v}");
    assert_eq!(
        v["priorities"]["start"],
        Value::String("Control".into()),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_query_and_close_are_seen_in_order() {
    let (a, loc) = listening().await;
    let events = a
        .declare_subscriber("@/session/**")
        .await
        .expect("subscribe");
    let typed = a.info().connectivity_events();
    let b = peer_of(&loc).await;
    let (az, bz) = (a.zid(), b.zid());
    let transport_key = format!("@/session/{}/transport/unicast/{}", upper(&az), upper(&bz));

    let t = next(&events).await;
    assert_eq!(t.kind(), SampleKind::Put);
    assert_eq!(t.key_expr().as_str(), transport_key);
    assert_eq!(t.encoding().to_string(), "application/json");
    assert_transport_json(&json(&t), &bz, "peer");
    let l = next(&events).await;
    assert_eq!(l.kind(), SampleKind::Put);
    let link_key = l.key_expr().to_string();
    let link_id = link_key
        .strip_prefix(&format!("{transport_key}/link/"))
        .expect("the link key extends the transport key");
    assert!(
        link_id.parse::<u64>().is_ok(),
        "link id {link_id} is a decimal integer"
    );
    assert_link_json(&json(&l));
    // The spec's field order for the first fields.
    let text = String::from_utf8(t.payload().to_vec()).expect("utf-8");
    assert!(
        text.starts_with(r#"{"zid":""#) && text.contains(r#","whatami":"peer","is_qos":"#),
        "{text}"
    );

    // Typed view: the same facts.
    match timeout(WAIT, typed.recv_async())
        .await
        .expect("typed event")
        .expect("channel")
    {
        plexus::ConnectivityEvent::TransportOpened(info) => assert_eq!(info.zid, bz),
        other => panic!("expected TransportOpened, got {other:?}"),
    }
    assert_eq!(a.info().peers_zid(), vec![bz]);
    let links = a.info().links();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].id.to_string(), link_id);

    // The query returns both resources, with the events' timestamps.
    let replies = a.get("@/session/**").await.expect("get");
    let mut got: Vec<Sample> = Vec::new();
    timeout(WAIT, async {
        while let Ok(r) = replies.recv_async().await {
            got.push(r.into_result().expect("ok reply"));
        }
    })
    .await
    .expect("the admin query did not end");
    let mut keys: Vec<&str> = got.iter().map(|s| s.key_expr().as_str()).collect();
    keys.sort();
    assert_eq!(keys, [transport_key.as_str(), link_key.as_str()]);
    for s in &got {
        let event_ts = if s.key_expr().as_str() == transport_key {
            t.timestamp()
        } else {
            l.timestamp()
        };
        assert_eq!(
            s.timestamp(),
            event_ts,
            "replies carry the timestamp of the resource's Put"
        );
    }
    let tr = got
        .iter()
        .find(|s| s.key_expr().as_str() == transport_key)
        .expect("transport reply");
    assert!(
        json(tr)["stats"]["tx_msgs"].is_u64(),
        "query replies carry counters"
    );

    // Zenoh 1.x's layout serves the same resources.
    let z1 = a.get(format!("@/{az}/session/**")).await.expect("get");
    let mut n = 0;
    timeout(WAIT, async {
        while let Ok(r) = z1.recv_async().await {
            let s = r.into_result().expect("ok");
            if s.key_expr()
                .as_str()
                .ends_with(&format!("/transport/unicast/{bz}"))
            {
                assert_eq!(json(&s)["zid"], Value::String(bz.to_string()));
            }
            n += 1;
        }
    })
    .await
    .expect("query ended");
    assert_eq!(n, 2);

    // B closes: link Delete, then transport Delete, each with a reason.
    b.close().await;
    let ld = next(&events).await;
    assert_eq!(
        (ld.kind(), ld.key_expr().as_str()),
        (SampleKind::Delete, link_key.as_str())
    );
    assert!(ld.payload().is_empty());
    let td = next(&events).await;
    assert_eq!(
        (td.kind(), td.key_expr().as_str()),
        (SampleKind::Delete, transport_key.as_str())
    );
    let reason: Value = serde_json::from_slice(td.attachment().expect("a reason")).expect("json");
    assert!(
        reason["reason"]
            .as_str()
            .expect("reason")
            .contains("closed by peer"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_get_receives_nothing_from_another_sessions_admin_space() {
    let (a, loc) = listening().await;
    let b = peer_of(&loc).await;
    let az = upper(&a.zid());
    assert_eq!(
        b.info().peers_zid(),
        vec![a.zid()],
        "B's open returns once its transport to A is up"
    );
    let keys = reply_keys(&b, "@/**").await;
    assert!(!keys.is_empty(), "B's own admin space answers B");
    assert!(
        keys.iter()
            .all(|k| !k.starts_with(&format!("@/session/{az}"))
                && !k.starts_with(&format!("@/{}", a.zid()))),
        "A's admin space answered a remote query: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_killed_with_sigkill_is_deleted_when_its_link_fails_or_its_lease_ends() {
    let (a, loc) = listening().await;
    let events = a
        .declare_subscriber("@/session/**")
        .await
        .expect("subscribe");
    let mut child = tokio::process::Command::new(example("transport_monitor"))
        .args(["-e", &loc, "--lease-ms", "1000", "--rtt-every", "0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the peer process");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("link added") {
                return;
            }
        }
    })
    .await
    .expect("the peer never connected");
    assert_eq!(next(&events).await.kind(), SampleKind::Put);
    assert_eq!(next(&events).await.kind(), SampleKind::Put);

    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    // A killed process sends no CLOSE: its transport ends because its link fails or its
    // lease (1 s) runs out, never later (the waits are bounded by 10 s, no clock).
    let link = next(&events).await;
    let transport = next(&events).await;
    assert_eq!(
        (link.kind(), transport.kind()),
        (SampleKind::Delete, SampleKind::Delete)
    );
    assert!(link.key_expr().as_str().contains("/link/"));
    let reason: Value =
        serde_json::from_slice(transport.attachment().expect("a reason")).expect("json");
    let reason = reason["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("link failed") || reason == "lease expired",
        "the transport ended for another reason: {reason}"
    );
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_peers_and_routers_appear_with_their_whatami() {
    for mode in ["peer", "router"] {
        let (a, loc) = listening().await;
        let events = a
            .declare_subscriber("@/session/**")
            .await
            .expect("subscribe");
        let z = zenoh::open(zenoh_config(mode, Some(&loc), None))
            .await
            .expect("zenoh open");
        let t = next(&events).await;
        let zz: plexus::ZenohId = z.zid().to_string().parse().expect("zid");
        assert_transport_json(&json(&t), &zz, mode);
        let l = next(&events).await;
        assert_link_json(&json(&l));
        assert!(
            json(&l)["rtt_us"].is_null(),
            "Zenoh does not answer Plexus's RTT probes"
        );
        z.close().await.expect("zenoh close");
        assert_eq!(next(&events).await.kind(), SampleKind::Delete);
        assert_eq!(next(&events).await.kind(), SampleKind::Delete);
    }
}

/// Transport keys seen in `samples`, each with how many Puts it got.
fn put_counts(samples: &[Sample]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for s in samples.iter().filter(|s| s.kind() == SampleKind::Put) {
        *m.entry(s.key_expr().to_string()).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn querying_subscriber_merges_history_and_live_events_exactly_once() {
    use plexus::ext::SessionExt;
    let (a, loc) = listening().await;
    let az = upper(&a.zid());
    let seen = a.info().connectivity_events();
    let before = peer_of(&loc).await; // opened before the declaration: must come from the query
    let bz = before.zid();
    connectivity(&seen, "the first peer's link at A", |e| match e {
        ConnectivityEvent::LinkAdded(l) if l.zid == bz => Some(()),
        _ => None,
    })
    .await;

    // A relay queryable that holds the query open until we let it answer.
    let (held_tx, held_rx) = flume::unbounded::<plexus::Query>();
    let _relay = a
        .declare_queryable("@/session/**")
        .callback(move |q| {
            let _ = held_tx.send(q);
        })
        .allowed_origin(plexus::Locality::SessionLocal)
        .await
        .expect("relay queryable");
    let qs = a
        .declare_querying_subscriber("@/session/**")
        .query_target(plexus::QueryTarget::All)
        .await
        .expect("querying subscriber");
    let held = timeout(WAIT, held_rx.recv_async())
        .await
        .expect("the query reached the relay")
        .expect("channel");

    // A watcher declared after the querying subscriber is served after it.
    let watch = a.declare_subscriber("@/session/**").await.expect("watch");
    let during = peer_of(&loc).await; // opened while the query runs
    let during_link_prefix = format!(
        "@/session/{az}/transport/unicast/{}/link/",
        upper(&during.zid())
    );
    timeout(WAIT, async {
        loop {
            let s = watch.recv_async().await.expect("watch");
            if s.key_expr().as_str().starts_with(&during_link_prefix) {
                return;
            }
        }
    })
    .await
    .expect("the second peer's link never appeared");
    // Now answer the held query with the admin space's current state (which includes
    // the second peer, with the same timestamps as its live events), and end it.
    let current = a
        .get(format!("@/session/{az}/**"))
        .target(plexus::QueryTarget::AllComplete)
        .await
        .expect("get");
    timeout(WAIT, async {
        while let Ok(r) = current.recv_async().await {
            let s = r.into_result().expect("ok");
            let mut reply = held.reply(s.key_expr().clone(), s.payload().clone());
            if let Some(ts) = s.timestamp() {
                reply = reply.timestamp(*ts);
            }
            reply.await.expect("relay reply");
        }
    })
    .await
    .expect("the admin query did not end");
    drop(held);

    let after = peer_of(&loc).await; // opened after the query ended: arrives live
    let after_link_prefix = format!(
        "@/session/{az}/transport/unicast/{}/link/",
        upper(&after.zid())
    );
    let mut got = Vec::new();
    timeout(WAIT, async {
        loop {
            let s = qs.recv_async().await.expect("querying subscriber");
            let done = s.key_expr().as_str().starts_with(&after_link_prefix);
            got.push(s);
            if done {
                return;
            }
        }
    })
    .await
    .expect("the third peer never arrived live");

    let counts = put_counts(&got);
    for (who, peer) in [("before", &before), ("during", &during), ("after", &after)] {
        let t = format!("@/session/{az}/transport/unicast/{}", upper(&peer.zid()));
        assert_eq!(
            counts.get(&t),
            Some(&1),
            "{who}: transport Put exactly once; got {counts:?}"
        );
        let links: usize = counts
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{t}/link/")))
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(links, 1, "{who}: link Put exactly once; got {counts:?}");
    }
    // History and the events during the query are delivered in timestamp order.
    let stamps: Vec<_> = got
        .iter()
        .take(4)
        .map(|s| *s.timestamp().expect("admin samples are timestamped"))
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "not in timestamp order"
    );
}

/// Waits for the typed event that says `zid`'s transport closed.
async fn closed_event(rx: &flume::Receiver<plexus::ConnectivityEvent>, zid: plexus::ZenohId) {
    timeout(WAIT, async {
        while let Ok(ev) = rx.recv_async().await {
            if matches!(ev, plexus::ConnectivityEvent::TransportClosed { zid: z, .. } if z == zid) {
                return;
            }
        }
        panic!("event channel closed");
    })
    .await
    .expect("no TransportClosed within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_transports_are_remembered_with_reason_links_and_counters_up_to_the_bound() {
    let mut config = Config::default().with_listen(vec![ep("tcp/127.0.0.1:0")]);
    config
        .insert_json5("adminspace/max_closed_transports", "2")
        .expect("config");
    let a = plexus::open(config).await.expect("open");
    let loc = a.locators().first().expect("listener").to_string();
    let typed = a.info().connectivity_events();
    assert!(a.info().closed_transports().is_empty());
    let mut zids = Vec::new();
    for i in 0..3 {
        let b = peer_of(&loc).await;
        let sub = a.declare_subscriber("count/**").await.expect("subscribe");
        // Traffic in both directions, so the counters are not zero.
        timeout(WAIT, async {
            loop {
                b.put("count/x", vec![i as u8; 100]).await.expect("put");
                if let Ok(Ok(_)) = timeout(Duration::from_millis(50), sub.recv_async()).await {
                    return;
                }
            }
        })
        .await
        .expect("no publication went through");
        zids.push(b.zid());
        b.close().await;
        closed_event(&typed, b.zid()).await;
    }
    let closed = a.info().closed_transports();
    assert_eq!(closed.len(), 2, "the history keeps the configured number");
    assert_eq!(
        closed.iter().map(|c| (c.seq, c.zid)).collect::<Vec<_>>(),
        vec![(2, zids[1]), (3, zids[2])],
        "oldest first, the oldest dropped"
    );
    let c = &closed[1];
    assert_eq!(c.whatami, plexus::WhatAmI::Peer);
    assert!(c.reason.contains("closed by peer"), "{}", c.reason);
    assert_eq!(c.links.len(), 1);
    assert!(
        c.links[0].src.starts_with("tcp/127.0.0.1:"),
        "{:?}",
        c.links
    );
    assert_eq!(c.links[0].src, loc, "A accepted the link on its listener");
    assert!(c.created_at <= c.closed_at && c.created_at > 0);
    assert!(
        c.stats.rx_msgs > 0 && c.stats.rx_bytes > 100,
        "{:?}",
        c.stats
    );
    let v = serde_json::to_value(c).expect("serializes");
    assert_eq!(v["zid"], Value::String(zids[2].to_string()));
    assert_eq!(v["whatami"], "peer");
    assert!(v["stats"]["tx_bytes"].is_u64() && v["links"][0]["dst"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarations_are_counted_here_and_remotely() {
    let (a, loc) = listening().await;
    let before = a.info().declarations();
    let b = peer_of(&loc).await;
    let _s = b.declare_subscriber("decl/**").await.expect("subscribe");
    let _q = b.declare_queryable("decl/q").await.expect("queryable");
    let _t = b
        .liveliness()
        .declare_token("decl/token")
        .await
        .expect("token");
    let _local = a.declare_subscriber("decl/local").await.expect("subscribe");
    let d = timeout(WAIT, async {
        loop {
            let d = a.info().declarations();
            if d.remote_subscribers >= 1 && d.remote_queryables >= 1 && d.remote_tokens >= 1 {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("B's declarations never reached A");
    assert_eq!(d.local_subscribers, before.local_subscribers + 1);
    assert_eq!(d.local_queryables, before.local_queryables);
    assert_eq!(
        (d.remote_subscribers, d.remote_queryables, d.remote_tokens),
        (1, 1, 1)
    );
    drop(_s);
    timeout(WAIT, async {
        while a.info().declarations().remote_subscribers != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the undeclaration never reached A");
}

/// The keys of every reply to a query on `key`, sorted.
async fn reply_keys(s: &Session, key: &str) -> Vec<String> {
    let replies = s.get(key).await.expect("get");
    let mut keys = Vec::new();
    timeout(WAIT, async {
        while let Ok(r) = replies.recv_async().await {
            keys.push(r.into_result().expect("ok reply").key_expr().to_string());
        }
    })
    .await
    .expect("the admin query did not end");
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_gets_exactly_the_resources_its_key_names() {
    let (a, loc) = listening().await;
    let events = a
        .declare_subscriber(format!("@/{}/session/**", a.zid()))
        .await
        .expect("subscribe");
    let b = peer_of(&loc).await;
    let (az, bz) = (a.zid(), b.zid());
    let transport = format!("@/{az}/session/transport/unicast/{bz}");
    assert_eq!(next(&events).await.key_expr().as_str(), transport);
    let link = next(&events).await.key_expr().to_string();
    let spec_transport = format!("@/session/{}/transport/unicast/{}", upper(&az), upper(&bz));
    let spec_link = link.replace(&transport, &spec_transport);

    let cases: [(String, Vec<&str>); 8] = [
        (
            format!("@/{az}/session/transport/unicast/*"),
            vec![&transport],
        ),
        (
            format!("@/{az}/session/transport/unicast/{bz}"),
            vec![&transport],
        ),
        (
            format!("@/{az}/session/transport/unicast/*/link/*"),
            vec![&link],
        ),
        (
            format!("@/{az}/session/transport/**"),
            vec![&transport, &link],
        ),
        (
            format!("@/session/{}/transport/unicast/*/**", upper(&az)),
            vec![&spec_transport, &spec_link],
        ),
        (
            format!("@/session/{}/transport/unicast/*/link/*", upper(&az)),
            vec![&spec_link],
        ),
        // Another zid names nothing; neither does a layout's key with the other's zid case.
        (format!("@/{az}/session/transport/unicast/{}", az), vec![]),
        (
            format!("@/{az}/session/transport/unicast/{}", upper(&bz)),
            vec![],
        ),
    ];
    for (query, expected) in cases {
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(reply_keys(&a, &query).await, expected, "query {query}");
    }
    // Both layouts at once.
    let mut all = vec![transport, link, spec_transport, spec_link];
    all.sort();
    assert_eq!(reply_keys(&a, "@/**").await, all);
}
