//! The REST plugin and the remote admin space, through a `plexusd` process with an HTTP
//! port: the admin space's JSON shapes, SSE connectivity events, PUT/DELETE reaching
//! Plexus and Zenoh 1.10.2 subscribers, GET reaching a queryable, bad keys, a Zenoh
//! client reading `@/<zid>/router`, and `/metrics`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use plexus::Encoding;
use serde_json::Value;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process, run by the other tests"]
async fn helper_client_process() {
    helper_body().await;
}

fn zenoh_client(locator: &str) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", r#""client""#).expect("mode");
    c.insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    c.insert_json5("connect/endpoints", &format!(r#"["{locator}"]"#))
        .expect("connect");
    c
}

/// The value of the only sample of a REST GET.
async fn get_one(d: &Plexusd, path: &str) -> Value {
    let r = http(&d.http, "GET", path, &[], b"").await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let samples = v.as_array().expect("an array of samples");
    assert_eq!(samples.len(), 1, "GET {path}: {v}");
    samples[0].clone()
}

fn assert_u64(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not an unsigned integer: {v}"))
}

/// `d`'s connectivity events, to await: open it before the clients come.
async fn connectivity(d: &Plexusd) -> Sse {
    Sse::open(&d.http, "/@/local/session/transport/unicast/**").await
}

/// Reads `sse` (from [`connectivity`]) until `d` has put a link of a transport to each of
/// `peers`: from then on its `@/<zid>/router` lists each with its link (a transport is in
/// the table, and its link in the transport, before their Puts).
async fn until_links(sse: &mut Sse, d: &Plexusd, peers: &[&str]) {
    let mut left: Vec<String> = peers
        .iter()
        .map(|p| format!("@/{}/session/transport/unicast/{p}/link/", d.zid))
        .collect();
    timeout(WAIT, async {
        while !left.is_empty() {
            let e = sse.next().await;
            if e.event == "PUT"
                && let Some(k) = e.json()["key"].as_str()
            {
                left.retain(|l| !k.starts_with(l.as_str()));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no link Put for {left:?} within {WAIT:?}"));
}

/// Reads `sse` (from [`connectivity`]) until `d` has deleted its transport to `peer`: by
/// then it remembers it in `…/transports/closed`.
async fn until_closed(sse: &mut Sse, d: &Plexusd, peer: &str) {
    let key = format!("@/{}/session/transport/unicast/{peer}", d.zid);
    sse.next_matching(|e| e.event == "DELETE" && e.json()["key"] == key)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_space_and_connectivity_keys_parse_into_the_documented_shapes() {
    let d = Plexusd::start(&[]).await;
    let mut events = connectivity(&d).await;
    let c = client(&d.locator).await;
    let cz = c.zid().to_string();

    // @/local/router: Zenoh 1.10.2's fields, and Plexus's per link and session. (The
    // client's open returns once its side is up; the router's side may lag a little:
    // its link's Put says when it is up.)
    until_links(&mut events, &d, &[&cz]).await;
    let s = get_one(&d, "/@/local/router").await;
    assert_eq!(s["key"], format!("@/{}/router", d.zid));
    assert_eq!(s["encoding"], "application/json");
    let r = &s["value"];
    assert_eq!(r["zid"], d.zid);
    assert!(
        r["version"]
            .as_str()
            .expect("version")
            .starts_with("plexus v")
    );
    assert!(r["metadata"].is_null(), "{r}");
    assert_eq!(r["locators"], serde_json::json!([d.locator]));
    assert_eq!(r["plugins"]["rest"]["name"], "rest");
    let sessions = r["sessions"].as_array().expect("sessions");
    let me = sessions
        .iter()
        .find(|s| s["peer"] == cz)
        .unwrap_or_else(|| panic!("the client is not in sessions: {r}"));
    assert_eq!(me["whatami"], "client");
    assert_eq!(me["shm"], false);
    assert!(me["weight"].is_null());
    assert_eq!(me["region"], "south:0:client");
    assert_eq!(me["lease_ms"], 10_000);
    assert_u64(&me["created_at"], "created_at");
    for k in [
        "tx_msgs",
        "tx_bytes",
        "rx_msgs",
        "rx_bytes",
        "dropped",
        "tx_queued_bytes",
    ] {
        assert_u64(&me["stats"][k], k);
    }
    let links = me["links"].as_array().expect("links");
    assert_eq!(links.len(), 1, "{me}");
    let l = &links[0];
    assert_eq!(l["src"], d.locator);
    assert!(
        l["dst"]
            .as_str()
            .expect("dst")
            .starts_with("tcp/127.0.0.1:")
    );
    assert!(l["rtt_us"].is_null() || l["rtt_us"].is_u64(), "{l}");
    assert_u64(&l["created_at"], "link created_at");
    assert!(l["rtt_history"].is_array(), "{l}");
    assert_u64(&l["stats"]["tx_bytes"], "link tx_bytes");
    assert_u64(&l["stats"]["rx_bytes"], "link rx_bytes");

    // The router measures the client's RTT: it shows up, with its history.
    let what = "the client's link with a measured RTT and its history";
    let l = poll::until(what, WAIT, Duration::from_millis(100), async || {
        let s = get_one(&d, "/@/local/router").await;
        let sessions = s["value"]["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let link = sessions
            .iter()
            .find(|s| s["peer"] == cz)
            .map(|s| s["links"][0].clone());
        match link {
            Some(l)
                if l["rtt_us"].is_u64()
                    && !l["rtt_history"].as_array().is_some_and(|h| h.is_empty()) =>
            {
                Ok(l)
            }
            _ => Err(s["value"]["sessions"].clone()),
        }
    })
    .await;
    let h = &l["rtt_history"][0];
    assert_u64(&h["t"], "history time");
    assert_u64(&h["rtt_us"], "history rtt");

    // The connectivity keys (the spec's resources, in Zenoh 1.x's layout).
    let r = http(&d.http, "GET", "/@/local/session/**", &[], b"").await;
    assert_eq!(r.status, 200);
    let samples = r.json();
    let samples = samples.as_array().expect("array");
    let prefix = format!("@/{}/session/transport/unicast/{cz}", d.zid);
    let t = samples
        .iter()
        .find(|s| s["key"] == prefix)
        .unwrap_or_else(|| panic!("no transport resource for the client: {samples:?}"));
    assert_eq!(t["value"]["zid"], cz);
    assert_eq!(t["value"]["whatami"], "client");
    assert!(t["value"]["is_qos"].is_boolean() && t["value"]["is_shm"].is_boolean());
    assert_u64(&t["value"]["stats"]["rx_bytes"], "stats");
    assert!(
        t["timestamp"].is_string(),
        "admin resources are timestamped: {t}"
    );
    let link = samples
        .iter()
        .find(|s| {
            s["key"]
                .as_str()
                .is_some_and(|k| k.starts_with(&format!("{prefix}/link/")))
        })
        .expect("a link resource");
    assert_eq!(link["value"]["src"], d.locator);
    assert_u64(&link["value"]["mtu"], "mtu");
    assert_eq!(link["value"]["is_reliable"], true);

    // The last closed transports, with what they carried.
    c.put("shapes/x", "payload").await.expect("put");
    c.close().await;
    until_closed(&mut events, &d, &cz).await;
    let s = get_one(&d, "/@/local/router/transports/closed").await;
    let closed = s["value"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or_else(|| panic!("the closed transport is not listed: {s}"));
    assert_eq!(closed["zid"], cz);
    assert_eq!(closed["whatami"], "client");
    assert_eq!(closed["seq"], 1);
    assert_eq!(closed["links"][0]["src"], d.locator);
    assert!(
        closed["reason"]
            .as_str()
            .expect("reason")
            .contains("closed by peer")
    );
    assert!(
        assert_u64(&closed["closed_at"], "closed_at")
            >= assert_u64(&closed["created_at"], "created_at")
    );
    assert!(assert_u64(&closed["stats"]["rx_msgs"], "rx_msgs") > 0);

    // The metrics resource, in OpenMetrics text.
    let m = get_one(&d, "/@/local/router/metrics").await;
    assert_eq!(
        m["encoding"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let r = http(&d.http, "GET", "/@/local/router/metrics?_raw", &[], b"").await;
    let text = r.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains(
            "plexus_transports_closed_total{whatami=\"client\",cause=\"closed_by_peer\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_a_transport_put_on_connect_and_a_delete_with_reason_when_killed() {
    let d = Plexusd::start(&[]).await;
    let mut sse = Sse::open(&d.http, "/@/local/session/transport/unicast/**").await;
    let p = ClientProcess::start(&d.locator).await;
    let key = format!("@/{}/session/transport/unicast/{}", d.zid, p.zid);
    let put = sse.next_matching(|e| e.json()["key"] == key).await;
    assert_eq!(put.event, "PUT");
    let v = put.json();
    assert_eq!(v["encoding"], "application/json");
    assert_eq!(v["value"]["zid"], p.zid);
    assert_eq!(v["value"]["whatami"], "client");
    assert!(v["timestamp"].is_string());
    let link = sse
        .next_matching(|e| {
            e.json()["key"]
                .as_str()
                .is_some_and(|k| k.starts_with(&format!("{key}/link/")))
        })
        .await;
    assert_eq!(link.event, "PUT");
    assert_eq!(link.json()["value"]["src"], d.locator);

    p.kill().await;
    let gone = sse.next_matching(|e| e.json()["key"] == key).await;
    assert_eq!(gone.event, "DELETE");
    let v = gone.json();
    assert!(v["value"].is_null(), "{v}");
    let reason = v["attachment"]["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("link failed") || reason.starts_with("lease expired"),
        "a killed process closes nothing itself: {reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_delete_over_http_reach_a_plexus_and_a_zenoh_subscriber() {
    let d = Plexusd::start(&[]).await;
    let p = client(&d.locator).await;
    let psub = p.declare_subscriber("demo/**").await.expect("subscribe");
    let z = zenoh::open(zenoh_client(&d.locator))
        .await
        .expect("zenoh client");
    let zsub = z
        .declare_subscriber("demo/**")
        .await
        .expect("zenoh subscribe");

    // Until both declarations have reached the router, a PUT may reach neither: repeat.
    let (mut got_p, mut got_z) = (None, None);
    timeout(WAIT, async {
        while got_p.is_none() || got_z.is_none() {
            let r = http(
                &d.http,
                "PUT",
                "/demo/greeting",
                &[("Content-Type", "text/plain")],
                b"hello",
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text());
            if got_p.is_none()
                && let Ok(Ok(s)) = timeout(Duration::from_millis(200), psub.recv_async()).await
            {
                got_p = Some(s);
            }
            if got_z.is_none()
                && let Ok(Ok(s)) = timeout(Duration::from_millis(200), zsub.recv_async()).await
            {
                got_z = Some(s);
            }
        }
    })
    .await
    .expect("the HTTP PUT never reached both subscribers");
    let s = got_p.expect("plexus sample");
    assert_eq!(s.key_expr().as_str(), "demo/greeting");
    assert_eq!(&s.payload()[..], b"hello");
    assert_eq!(s.encoding(), &Encoding::TEXT_PLAIN);
    let zs = got_z.expect("zenoh sample");
    assert_eq!(zs.key_expr().as_str(), "demo/greeting");
    assert_eq!(zs.payload().to_bytes().as_ref(), b"hello");
    assert_eq!(zs.encoding().to_string(), "text/plain");

    // PATCH is a put too, and DELETE a deletion. (Samples from one session arrive in
    // order, so what the repeated PUTs left comes first and is skipped.)
    let r = http(
        &d.http,
        "PATCH",
        "/demo/other",
        &[("Content-Type", "application/json")],
        b"{\"n\":1}",
    )
    .await;
    assert_eq!(r.status, 200);
    let s = timeout(WAIT, async {
        loop {
            let s = psub.recv_async().await.expect("ch");
            if s.key_expr().as_str() != "demo/greeting" {
                return s;
            }
        }
    })
    .await
    .expect("PATCH");
    assert_eq!(
        (s.key_expr().as_str(), s.encoding()),
        ("demo/other", &Encoding::APPLICATION_JSON)
    );
    let zs = timeout(WAIT, async {
        loop {
            let s = zsub.recv_async().await.expect("ch");
            if s.key_expr().as_str() != "demo/greeting" {
                return s;
            }
        }
    })
    .await
    .expect("PATCH");
    assert_eq!(zs.key_expr().as_str(), "demo/other");
    let r = http(&d.http, "DELETE", "/demo/greeting", &[], b"").await;
    assert_eq!(r.status, 200);
    let s = timeout(WAIT, psub.recv_async())
        .await
        .expect("DELETE")
        .expect("ch");
    assert_eq!(
        (s.key_expr().as_str(), s.kind()),
        ("demo/greeting", plexus::SampleKind::Delete)
    );
    let zs = timeout(WAIT, zsub.recv_async())
        .await
        .expect("DELETE")
        .expect("ch");
    assert_eq!(zs.kind(), zenoh::sample::SampleKind::Delete);
    let _ = z.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_reaches_a_queryable_as_json_html_and_raw() {
    let d = Plexusd::start(&[]).await;
    let q = client(&d.locator).await;
    let _qbl = q
        .declare_queryable("test/**")
        .callback(|query| {
            tokio::spawn(async move {
                let body = match query.payload() {
                    Some(p) => format!("reply to {}", String::from_utf8_lossy(p)),
                    None => "reply".to_string(),
                };
                let _ = query
                    .reply(query.key_expr().clone(), body)
                    .encoding(Encoding::TEXT_PLAIN)
                    .await;
            });
        })
        .await
        .expect("queryable");
    // The queryable's declaration reaches the router asynchronously.
    let what = "the queryable answering a GET";
    let first = poll::until(what, WAIT, Duration::from_millis(50), async || {
        let r = http(
            &d.http,
            "GET",
            "/test/query",
            &[("Accept", "application/json")],
            b"",
        )
        .await;
        assert_eq!(r.status, 200);
        let v = r.json();
        if v.as_array().is_some_and(|a| !a.is_empty()) {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await;
    assert_eq!(first[0]["key"], "test/query");
    assert_eq!(first[0]["value"], "reply");
    assert_eq!(first[0]["encoding"], "text/plain");
    assert!(
        first[0]
            .as_object()
            .expect("object")
            .contains_key("timestamp")
    );

    let html = http(
        &d.http,
        "GET",
        "/test/query",
        &[("Accept", "text/html")],
        b"",
    )
    .await;
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        html.text(),
        "<dl>\n<dt>test/query</dt>\n<dd>reply</dd>\n</dl>\n"
    );

    let raw = http(&d.http, "GET", "/test/query?_raw=true", &[], b"").await;
    assert_eq!(raw.text(), "reply");
    assert_eq!(raw.header("content-type"), Some("text/plain"));

    // A body goes with the query; POST is a query too.
    let r = http(
        &d.http,
        "POST",
        "/test/query",
        &[("Content-Type", "text/plain")],
        b"ping",
    )
    .await;
    assert_eq!(r.json()[0]["value"], "reply to ping");

    // CORS, as Zenoh's plugin.
    assert_eq!(raw.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_expression_is_a_400_naming_it() {
    let d = Plexusd::start(&[]).await;
    for (method, path, key) in [
        ("GET", "/demo//x", "demo//x"),
        ("PUT", "/demo/a$b", "demo/a$b"),
        ("GET", "/demo/**/**", "demo/**/**"),
        ("DELETE", "/demo/x/", "demo/x/"),
    ] {
        let r = http(&d.http, method, path, &[], b"x").await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text());
        assert!(r.text().contains(key), "{method} {path}: {}", r.text());
    }
    // SSE too, before any stream starts.
    let r = http(
        &d.http,
        "GET",
        "/demo//x",
        &[("Accept", "text/event-stream")],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
}

/// The field names of a Zenoh 1.10.2 router's `@/<zid>/router`, its sessions and their
/// links, read from a real one.
async fn zenoh_router_fields() -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", r#""router""#).expect("mode");
    c.insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    c.insert_json5("listen/endpoints", r#"["tcp/127.0.0.1:0"]"#)
        .expect("listen");
    c.insert_json5("adminspace/enabled", "true").expect("admin");
    let r = zenoh::open(c).await.expect("zenoh router");
    let loc = r
        .info()
        .locators()
        .await
        .first()
        .expect("locator")
        .to_string();
    let zc = zenoh::open(zenoh_client(&loc)).await.expect("zenoh client");
    let v = zenoh_get_json(&zc, &format!("@/{}/router", r.zid())).await;
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    let session = &v["sessions"][0];
    let out = (keys(&v), keys(session), keys(&session["links"][0]));
    let _ = zc.close().await;
    let _ = r.close().await;
    out
}

async fn zenoh_get_json(z: &zenoh::Session, selector: &str) -> Value {
    let replies = z.get(selector).await.expect("get");
    let reply = timeout(WAIT, replies.recv_async())
        .await
        .unwrap_or_else(|_| panic!("no reply to {selector}"))
        .expect("a reply");
    let sample = reply.result().expect("an ok reply");
    assert_eq!(sample.encoding().to_string(), "application/json");
    serde_json::from_slice(&sample.payload().to_bytes()).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zenoh_client_reads_the_router_admin_space_like_a_zenoh_routers() {
    let (top, session, link) = zenoh_router_fields().await;
    let d = Plexusd::start(&[]).await;
    let mut events = connectivity(&d).await;
    let p = client(&d.locator).await;
    let z = zenoh::open(zenoh_client(&d.locator))
        .await
        .expect("zenoh client");
    // Both clients are there, each with its link, once the router's side caught up.
    let (pz, zz) = (p.zid().to_string(), z.zid().to_string());
    until_links(&mut events, &d, &[&pz, &zz]).await;
    let v = zenoh_get_json(&z, &format!("@/{}/router", d.zid)).await;
    let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
    assert!(
        sessions.len() == 2
            && sessions
                .iter()
                .all(|s| s["links"].as_array().is_some_and(|l| !l.is_empty())),
        "the router does not list both clients with their links: {v}"
    );
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    assert!(keys(&v).is_superset(&top), "{top:?} ⊄ {v}");
    assert_eq!(v["zid"], d.zid);
    let sessions = v["sessions"].as_array().expect("sessions");
    let mut peers: Vec<String> = sessions
        .iter()
        .map(|s| s["peer"].as_str().expect("peer").to_string())
        .collect();
    peers.sort();
    let mut want = vec![p.zid().to_string(), z.zid().to_string()];
    want.sort();
    assert_eq!(peers, want, "the connected clients are the sessions");
    for s in sessions {
        assert!(keys(s).is_superset(&session), "{session:?} ⊄ {s}");
        assert_eq!(s["whatami"], "client");
        assert!(keys(&s["links"][0]).is_superset(&link), "{link:?} ⊄ {s}");
    }

    // The router's connectivity resources are readable remotely too.
    let replies = z.get(format!("@/{}/session/**", d.zid)).await.expect("get");
    let mut keys_seen = Vec::new();
    timeout(WAIT, async {
        while let Ok(r) = replies.recv_async().await {
            keys_seen.push(r.result().expect("ok").key_expr().to_string());
        }
    })
    .await
    .expect("the query did not end");
    let zkey = format!("@/{}/session/transport/unicast/{}", d.zid, z.zid());
    assert!(keys_seen.contains(&zkey), "{keys_seen:?}");
    assert!(
        keys_seen
            .iter()
            .any(|k| k.starts_with(&format!("{zkey}/link/"))),
        "{keys_seen:?}"
    );
    // The spec's own layout stays local to the router.
    let replies = z.get("@/session/**").await.expect("get");
    timeout(WAIT, async {
        while let Ok(r) = replies.recv_async().await {
            let k = r.result().expect("ok").key_expr().to_string();
            assert!(
                !k.to_lowercase().contains(&d.zid),
                "the router answered {k} on @/session/**"
            );
        }
    })
    .await
    .expect("the query did not end");
    let _ = z.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_read_permission_remote_sessions_get_nothing_but_http_still_works() {
    let d = Plexusd::start(&["--adminspace-permissions", "none"]).await;
    let mut events = connectivity(&d).await;
    let z = zenoh::open(zenoh_client(&d.locator))
        .await
        .expect("zenoh client");
    for selector in [
        format!("@/{}/router", d.zid),
        format!("@/{}/session/**", d.zid),
    ] {
        let replies = z.get(&selector).await.expect("get");
        let got = timeout(WAIT, async {
            let mut n = 0;
            while let Ok(r) = replies.recv_async().await {
                if r.result().is_ok() {
                    n += 1;
                }
            }
            n
        })
        .await
        .expect("the query did not end");
        assert_eq!(got, 0, "{selector} answered a remote session");
    }
    // This process's HTTP API still reads it.
    let zz = z.zid().to_string();
    until_links(&mut events, &d, &[&zz]).await;
    let s = get_one(&d, "/@/local/router").await;
    assert_eq!(
        s["value"]["sessions"][0]["peer"], zz,
        "the HTTP API does not list the Zenoh client: {s}"
    );
    let _ = z.close().await;
}

/// The value of the sample `name` with `label=value`, from a Prometheus scrape.
fn metric(scrape: &prometheus_parse::Scrape, name: &str, label: (&str, &str)) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

async fn scrape(d: &Plexusd) -> prometheus_parse::Scrape {
    let r = http(&d.http, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    prometheus_parse::Scrape::parse(r.text().lines().map(|l| Ok(l.to_string())))
        .expect("the Prometheus text parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_counters_move_with_traffic() {
    let d = Plexusd::start(&[]).await;
    let publisher = client(&d.locator).await;
    let subscriber = client(&d.locator).await;
    let sub = subscriber
        .declare_subscriber("m/**")
        .await
        .expect("subscribe");
    let pz = publisher.zid().to_string();
    let by_pub = ("remote_zid", pz.as_str());

    // Until the subscription reached the router, the first puts may go nowhere.
    timeout(WAIT, async {
        loop {
            publisher.put("m/x", vec![7u8; 1000]).await.expect("put");
            if let Ok(Ok(_)) = timeout(Duration::from_millis(100), sub.recv_async()).await {
                return;
            }
        }
    })
    .await
    .expect("no publication went through");
    let before = scrape(&d).await;
    let rx0 = metric(&before, "plexus_transport_rx_bytes_total", by_pub)
        .expect("rx bytes of the publisher");
    let msgs0 = metric(&before, "plexus_transport_rx_messages_total", by_pub).expect("rx messages");
    assert_eq!(
        metric(&before, "plexus_transports_open", ("whatami", "client")),
        Some(2.0)
    );
    assert!(
        metric(
            &before,
            "plexus_transports_opened_total",
            ("whatami", "client")
        )
        .expect("opened")
            >= 2.0
    );
    assert!(metric(&before, "plexus_declarations", ("kind", "subscriber")).is_some());
    // The RTT gauge and histogram appear with the first measurement.
    let what = "the RTT gauge and histogram";
    poll::until(what, WAIT, Duration::from_millis(50), async || {
        let s = scrape(&d).await;
        let has = |name: &str| s.samples.iter().any(|x| x.metric == name);
        if has("plexus_link_rtt_seconds") && has("plexus_link_rtt_observed_seconds") {
            return Ok(());
        }
        let rtt: BTreeSet<&str> = s
            .samples
            .iter()
            .map(|x| x.metric.as_str())
            .filter(|m| m.contains("rtt"))
            .collect();
        Err(format!("RTT series {rtt:?}"))
    })
    .await;

    for _ in 0..20 {
        publisher.put("m/x", vec![7u8; 1000]).await.expect("put");
    }
    for _ in 0..20 {
        timeout(WAIT, sub.recv_async())
            .await
            .expect("delivery")
            .expect("ch");
    }
    let after = scrape(&d).await;
    let rx1 = metric(&after, "plexus_transport_rx_bytes_total", by_pub).expect("rx bytes");
    let msgs1 = metric(&after, "plexus_transport_rx_messages_total", by_pub).expect("rx messages");
    assert!(rx1 >= rx0 + 20_000.0, "rx bytes {rx0} -> {rx1}");
    // The publisher's one link carries all of it.
    let link_rx = metric(&after, "plexus_link_rx_bytes_total", by_pub).expect("link rx bytes");
    assert!(link_rx >= 20_000.0, "link rx bytes {link_rx}");
    assert!(msgs1 >= msgs0 + 20.0, "rx messages {msgs0} -> {msgs1}");
    let sz = subscriber.zid().to_string();
    assert!(
        metric(
            &after,
            "plexus_transport_tx_queue_bytes",
            ("remote_zid", &sz)
        )
        .is_some(),
        "no TX queue gauge for the subscriber's transport"
    );
    assert!(
        metric(
            &after,
            "plexus_transport_tx_bytes_total",
            ("remote_zid", &sz)
        )
        .expect("tx")
            >= 20_000.0
    );

    publisher.close().await;
    // The metrics follow the connectivity events in a task of their own: nothing says
    // when they have counted the close.
    let what = "the close counted";
    let closed = poll::until(what, WAIT, Duration::from_millis(50), async || {
        let s = scrape(&d).await;
        match metric(
            &s,
            "plexus_transports_closed_total",
            ("cause", "closed_by_peer"),
        ) {
            Some(v) => Ok((v, s)),
            None => Err("no plexus_transports_closed_total{cause=\"closed_by_peer\"}"),
        }
    })
    .await;
    assert_eq!(closed.0, 1.0);
    assert!(
        metric(&closed.1, "plexus_transport_rx_bytes_total", by_pub).is_none(),
        "closed transports leave the per-transport series"
    );

    // OpenMetrics when asked for it.
    let r = http(
        &d.http,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
        b"",
    )
    .await;
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text"))
    );
    assert!(r.text().ends_with("# EOF\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_http_port_is_refused_naming_the_key() {
    let out = timeout(
        WAIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_plexusd"))
            .args(["-l", "tcp/127.0.0.1:0", "--rest-http-port", "eighty"])
            .output(),
    )
    .await
    .expect("plexusd did not exit")
    .expect("run plexusd");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            r#"plugins/rest/http_port: expected a port number or "<ip>:<port>", got "eighty""#
        ),
        "{text}"
    );
}

/// `metadata` in `@/<zid>/router`, read by the Zenoh client `z`.
async fn router_metadata(z: &zenoh::Session, zid: &str) -> Value {
    let replies = z.get(format!("@/{zid}/router")).await.expect("get");
    let reply = timeout(WAIT, replies.recv_async())
        .await
        .expect("no reply in time")
        .expect("no reply");
    let sample = reply.result().expect("an Ok reply");
    let v: Value = serde_json::from_slice(&sample.payload().to_bytes()).expect("JSON");
    v["metadata"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_space_writes_change_metadata_with_write_permission_only() {
    // Writing permitted: a Zenoh client's put on config/metadata shows in @/<zid>/router,
    // a put on a key Plexus cannot change at runtime is refused naming it, a delete puts
    // the default back.
    let mut d = Plexusd::start(&["--adminspace-permissions", "rw"]).await;
    let z = zenoh::open(zenoh_client(&d.locator))
        .await
        .expect("zenoh client");
    let key = format!("@/{}/router/config/metadata", d.zid);
    // Until the Zenoh client knows where to send it, a put may go nowhere: repeat it
    // until the router logs the change (it sets the metadata, then logs).
    timeout(WAIT, async {
        loop {
            z.put(&key, r#"{name: "edge-1"}"#).await.expect("put");
            let set = line_with(&mut d.lines, "configuration key metadata set to");
            if timeout(Duration::from_millis(200), set).await.is_ok() {
                return;
            }
        }
    })
    .await
    .expect("the metadata written through the admin space was never set");
    assert_eq!(
        router_metadata(&z, &d.zid).await["name"],
        "edge-1",
        "the metadata written through the admin space does not show"
    );

    z.put(format!("@/{}/router/config/mode", d.zid), r#""peer""#)
        .await
        .expect("put");
    let refused = line_with(&mut d.lines, "was refused").await;
    assert!(
        refused.contains("config/mode") && refused.contains("metadata"),
        "{refused}"
    );

    z.delete(&key).await.expect("delete");
    line_with(&mut d.lines, "configuration key metadata set to null").await;
    assert_eq!(router_metadata(&z, &d.zid).await, Value::Null);
    let _ = z.close().await;

    // Writing not permitted (plexusd's default): the put is logged as ignored and the
    // metadata stays as configured.
    let mut d = Plexusd::start(&[]).await;
    let z = zenoh::open(zenoh_client(&d.locator))
        .await
        .expect("zenoh client");
    let key = format!("@/{}/router/config/metadata", d.zid);
    let ignored = timeout(WAIT, async {
        loop {
            z.put(&key, r#"{name: "edge-2"}"#).await.expect("put");
            if let Ok(line) = timeout(
                Duration::from_millis(200),
                line_with(&mut d.lines, "adminspace/permissions/write is false"),
            )
            .await
            {
                return line;
            }
        }
    })
    .await
    .expect("the write was never refused");
    assert!(ignored.contains("config/metadata"), "{ignored}");
    assert_eq!(router_metadata(&z, &d.zid).await, Value::Null);
    let _ = z.close().await;
}
