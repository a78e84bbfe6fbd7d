//! Meshes of real `plexusd` processes on loopback: a chain of three routers with a
//! client at each end (pub/sub and get/queryable across two hops), a square of four
//! where each publication reaches each subscriber exactly once, and a router dying on
//! the shorter of two paths while a publisher runs.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Plexusd, WAIT};
use plexus::{Config, CongestionControl, Query, Sample, Session, WhatAmI};
use plexus_link::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

async fn client(locator: &str) -> Session {
    let ep: Endpoint = locator.parse().expect("locator parses as an endpoint");
    plexus::open(
        Config::default()
            .with_mode(WhatAmI::Client)
            .with_connect(vec![ep]),
    )
    .await
    .expect("client session")
}

/// Starts a router connected to `to` (if given).
async fn router(to: &[&Plexusd]) -> Plexusd {
    let mut args = Vec::new();
    for r in to {
        args.push("-e");
        args.push(r.locator.as_str());
    }
    Plexusd::start(&args).await
}

/// The router graph `r` answers on `@/<zid>/router/linkstate/routers`, read by `via`.
async fn graph(via: &Session, r: &Plexusd) -> Option<String> {
    let rx = via
        .get(format!("@/{}/router/linkstate/routers", r.zid))
        .timeout(Duration::from_secs(2))
        .await
        .expect("get");
    let reply = timeout(WAIT, rx.recv_async()).await.ok()?.ok()?;
    let s = reply.result().ok()?;
    Some(String::from_utf8_lossy(s.payload()).into_owned())
}

/// Waits until router `r` sees `nodes` routers and `edges` links.
async fn until_graph(via: &Session, r: &Plexusd, nodes: usize, edges: usize) -> String {
    let mut last = None;
    let done = timeout(WAIT, async {
        loop {
            if let Some(dot) = graph(via, r).await {
                if dot.matches("[ label = \"").count() == nodes + edges
                    && dot.matches(" -- ").count() == edges
                {
                    return dot;
                }
                last = Some(dot);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    done.unwrap_or_else(|_| {
        panic!(
            "router {} never saw {nodes} routers and {edges} links; last: {last:?}",
            r.zid
        )
    })
}

/// Waits until router `r`'s `@/<zid>/router` JSON shows a mesh graph whose `links` (all
/// `n` of them) carry a measured RTT, and returns that graph.
async fn until_rtts(via: &Session, r: &Plexusd, n: usize) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let done = timeout(WAIT, async {
        loop {
            let rx = via
                .get(format!("@/{}/router", r.zid))
                .timeout(Duration::from_secs(2))
                .await
                .expect("get");
            if let Ok(Ok(reply)) = timeout(WAIT, rx.recv_async()).await
                && let Ok(s) = reply.result()
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(s.payload())
            {
                let graph = v["linkstate"].clone();
                let links = graph["links"].as_array().cloned().unwrap_or_default();
                if links.len() == n && links.iter().all(|l| l["rtt_us"].is_u64()) {
                    return graph;
                }
                last = graph;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    done.unwrap_or_else(|_| panic!("router {} never showed {n} links with RTTs: {last}", r.zid))
}

type Seen = Arc<Mutex<Vec<u32>>>;

/// A subscriber that keeps the sequence numbers it receives.
async fn counting_subscriber(s: &Session, key: &str) -> (plexus::Subscriber<()>, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let sub = s
        .declare_subscriber(key)
        .callback(move |sample: Sample| {
            if let Ok(t) = std::str::from_utf8(sample.payload())
                && let Ok(n) = t.parse::<u32>()
            {
                keep.lock().expect("lock").push(n);
            }
        })
        .await
        .expect("subscriber");
    (sub, seen)
}

/// Puts `u32::MAX` on `key` until every subscriber in `seen` got one (its declaration
/// reached the publisher's router), then forgets those.
async fn warm_up(publisher: &Session, key: &str, seen: &[&Seen]) {
    timeout(WAIT, async {
        loop {
            publisher
                .put(key, u32::MAX.to_string())
                .congestion_control(CongestionControl::Block)
                .await
                .expect("put");
            tokio::time::sleep(Duration::from_millis(20)).await;
            if seen
                .iter()
                .all(|s| s.lock().expect("lock").contains(&u32::MAX))
            {
                break;
            }
        }
    })
    .await
    .expect("the subscriptions never reached the publisher's router");
    // Warm-up messages still in flight arrive before any later message (one path).
    for s in seen {
        s.lock().expect("lock").clear();
    }
}

/// Waits until `seen` holds `n` messages other than warm-up ones.
async fn until_count(seen: &Seen, n: usize) {
    let ok = timeout(Duration::from_secs(30), async {
        loop {
            if seen
                .lock()
                .expect("lock")
                .iter()
                .filter(|v| **v != u32::MAX)
                .count()
                >= n
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if ok.is_err() {
        let got = seen.lock().expect("lock").len();
        panic!("only {got} of {n} messages arrived");
    }
}

fn data(seen: &Seen) -> Vec<u32> {
    seen.lock()
        .expect("lock")
        .iter()
        .copied()
        .filter(|v| *v != u32::MAX)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_three_routers_carries_pub_sub_and_queries_across_two_hops() {
    let a = router(&[]).await;
    let b = router(&[&a]).await;
    let c = router(&[&b]).await;
    let left = client(&a.locator).await;
    let right = client(&c.locator).await;
    let dot = until_graph(&left, &a, 3, 2).await;
    for r in [&a, &b, &c] {
        assert!(dot.contains(&format!("label = \"{}\"", r.zid)), "{dot}");
    }
    // The graph is the same everywhere (read at the far end, across the mesh).
    let far = until_graph(&left, &c, 3, 2).await;
    assert!(far.starts_with("graph {\n"), "{far}");
    // The middle router's admin JSON holds the graph, with the RTTs of its own links.
    let graph = until_rtts(&left, &b, 2).await;
    let nodes: BTreeSet<&str> = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["zid"].as_str())
        .collect();
    let all: BTreeSet<&str> = [&a, &b, &c].iter().map(|r| r.zid.as_str()).collect();
    assert_eq!(nodes, all, "{graph}");
    for l in graph["links"].as_array().expect("links") {
        assert!(
            l["src"] == b.zid.as_str() || l["dst"] == b.zid.as_str(),
            "{graph}"
        );
        assert!(l["rtt_us"].as_u64().is_some_and(|us| us > 0), "{graph}");
    }

    // Pub/sub, left to right and right to left.
    let (_sub, seen) = counting_subscriber(&right, "chain/**").await;
    warm_up(&left, "chain/x", &[&seen]).await;
    for i in 0..200u32 {
        left.put("chain/x", i.to_string())
            .congestion_control(CongestionControl::Block)
            .await
            .expect("put");
    }
    until_count(&seen, 200).await;
    assert_eq!(data(&seen), (0..200).collect::<Vec<_>>());

    let (_sub2, back) = counting_subscriber(&left, "back/**").await;
    warm_up(&right, "back/y", &[&back]).await;
    right.put("back/y", "7").await.expect("put");
    until_count(&back, 1).await;
    assert_eq!(data(&back), [7]);

    // Get/queryable across the two hops.
    let _q = right
        .declare_queryable("svc/**")
        .callback(|q: Query| {
            tokio::spawn(async move {
                q.reply(q.key_expr().clone(), "from the far end")
                    .await
                    .expect("reply");
            });
        })
        .await
        .expect("queryable");
    let got = timeout(WAIT, async {
        loop {
            let rx = left
                .get("svc/one")
                .timeout(Duration::from_secs(2))
                .await
                .expect("get");
            let mut replies = Vec::new();
            while let Ok(r) = rx.recv_async().await {
                replies.push(r);
            }
            if !replies.is_empty() {
                return replies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the queryable never answered across the mesh");
    assert_eq!(got.len(), 1, "one queryable, one reply");
    let s = got[0].result().expect("a sample");
    assert_eq!(s.key_expr().as_str(), "svc/one");
    assert_eq!(&s.payload()[..], b"from the far end");

    // The far router leaves: its side's subscriber is withdrawn, the graph shrinks.
    drop(c);
    until_graph(&left, &a, 2, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_square_of_routers_each_publication_reaches_each_subscriber_exactly_once() {
    // r0 - r1 - r2 - r3 - r0: two paths between any two opposite corners.
    let r0 = router(&[]).await;
    let r1 = router(&[&r0]).await;
    let r2 = router(&[&r1]).await;
    let r3 = router(&[&r2, &r0]).await;
    let publisher = client(&r0.locator).await;
    until_graph(&publisher, &r0, 4, 4).await;
    let mut subs = Vec::new();
    let mut seen = Vec::new();
    let mut clients = Vec::new();
    for r in [&r0, &r1, &r2, &r3] {
        let c = client(&r.locator).await;
        let (s, v) = counting_subscriber(&c, "sq/**").await;
        subs.push(s);
        seen.push(v);
        clients.push(c);
    }
    let refs: Vec<&Seen> = seen.iter().collect();
    warm_up(&publisher, "sq/data", &refs).await;
    const N: u32 = 10_000;
    let p = publisher
        .declare_publisher("sq/data")
        .congestion_control(CongestionControl::Block)
        .await
        .expect("publisher");
    for i in 0..N {
        p.put(i.to_string()).await.expect("put");
    }
    for (i, s) in seen.iter().enumerate() {
        until_count(s, N as usize).await;
        let got = data(s);
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for v in &got {
            *counts.entry(*v).or_default() += 1;
        }
        let dups = counts.values().filter(|n| **n > 1).count();
        assert_eq!(dups, 0, "subscriber at r{i}: {dups} duplicated");
        assert_eq!(counts.len(), N as usize, "subscriber at r{i}: lost some");
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "r{i}: in order");
    }
    // Nothing more arrives late (a duplicate would come after the last one).
    let end = u32::MAX - 1;
    publisher
        .put("sq/data", end.to_string())
        .await
        .expect("put");
    for s in &seen {
        until_count(s, N as usize + 1).await;
        assert_eq!(data(s).len(), N as usize + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_router_on_the_short_path_moves_traffic_to_the_long_one() {
    // p - m - s is two hops; p - x - y - s three: traffic from p to s goes through m.
    let p = router(&[]).await;
    let m = router(&[&p]).await;
    let s = router(&[&m]).await;
    let x = router(&[&p]).await;
    let y = router(&[&x, &s]).await;
    let publisher = client(&p.locator).await;
    until_graph(&publisher, &p, 5, 5).await;
    let subscriber = client(&s.locator).await;
    let (_sub, seen) = counting_subscriber(&subscriber, "fo/**").await;
    warm_up(&publisher, "fo/data", &[&seen]).await;

    // Publish steadily; kill m half way.
    const N: u32 = 400;
    let mut m = Some(m);
    let mut sent_at = Vec::with_capacity(N as usize);
    let mut killed_at = None;
    for i in 0..N {
        sent_at.push(tokio::time::Instant::now());
        publisher
            .put("fo/data", i.to_string())
            .congestion_control(CongestionControl::Block)
            .await
            .expect("put");
        if i == N / 2 {
            let mut dead = m.take().expect("once");
            dead.child.kill().await.expect("kill m");
            killed_at = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Delivery resumed over x and y: the last message arrives.
    timeout(Duration::from_secs(15), async {
        loop {
            if data(&seen).contains(&(N - 1)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("delivery never resumed after the router on the path died");
    let got = data(&seen);
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for v in &got {
        *counts.entry(*v).or_default() += 1;
    }
    let dups: usize = counts.values().map(|n| n - 1).sum();
    let lost = N as usize - counts.len();
    println!("failover: {lost} of {N} messages lost in the switch, {dups} duplicated");
    assert_eq!(dups, 0, "duplicates after failover");
    // What m held when it died, and what p sent it before seeing its link close, is lost
    // (no end-to-end retransmission between routers, as in Zenoh); nothing else. So the
    // lost messages are one run of consecutive ones, published from shortly before the
    // kill (in flight through m) to at most the lease + 1 s after it (the issue's bound;
    // a killed process's links close at once, so in practice a few milliseconds).
    let killed_at = killed_at.expect("m was killed");
    let lost_ids: Vec<u32> = (0..N).filter(|i| !counts.contains_key(i)).collect();
    if let (Some(first), Some(last)) = (lost_ids.first(), lost_ids.last()) {
        assert_eq!(
            lost_ids.len() as u32,
            last - first + 1,
            "the lost messages are not one run: {lost_ids:?}"
        );
        let before = killed_at.saturating_duration_since(sent_at[*first as usize]);
        let after = sent_at[*last as usize].saturating_duration_since(killed_at);
        println!(
            "failover: lost {first}..={last}, published from {before:?} before the kill \
             to {after:?} after it"
        );
        assert!(
            before <= Duration::from_secs(1),
            "lost {first}, sent {before:?} before the kill"
        );
        assert!(
            after <= Duration::from_secs(11),
            "lost {last}, sent {after:?} after the kill"
        );
    }
    drop((x, y));
}

/// A TCP proxy on loopback in front of `to` (`tcp/host:port`): it counts the bytes it
/// carries from its clients to `to`, and delays each chunk by `delay` in each direction.
struct Proxy {
    locator: String,
    upstream_bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(to: &str, delay: Duration) -> Proxy {
        let target = to.strip_prefix("tcp/").expect("a tcp locator").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let locator = format!("tcp/{}", listener.local_addr().expect("addr"));
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let count = upstream_bytes.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(&target).await else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pipe(ri, wo, delay, Some(count.clone())));
                tokio::spawn(pipe(ro, wi, delay, None));
            }
        });
        Proxy {
            locator,
            upstream_bytes,
            task,
        }
    }

    fn upstream(&self) -> u64 {
        self.upstream_bytes.load(Ordering::Relaxed)
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read (a fixed latency, in
/// order, without limiting the throughput), counting the bytes in `count`.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    count: Option<Arc<AtomicU64>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(c) = &count {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
                let due = tokio::time::Instant::now() + delay;
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Publishes `n` messages of 1000 bytes from `p`'s client to `s`'s subscriber in a
/// triangle p - s (through a counting proxy), p - x - s, and returns how many bytes the
/// direct link carried towards s while they went. `p_config` is p's config file.
async fn bytes_on_the_direct_link(p_config: Option<&std::path::Path>, n: u64) -> u64 {
    let s = Plexusd::start(&["-i", "5a"]).await;
    let x = router(&[&s]).await;
    let proxy = Proxy::start(&s.locator, Duration::ZERO).await;
    let mut args = vec![
        "-i",
        "1a",
        "-e",
        proxy.locator.as_str(),
        "-e",
        x.locator.as_str(),
    ];
    let cfg;
    if let Some(path) = p_config {
        cfg = path.to_string_lossy().into_owned();
        args.extend(["-c", cfg.as_str()]);
    }
    let p = Plexusd::start(&args).await;
    let publisher = client(&p.locator).await;
    until_graph(&publisher, &p, 3, 3).await;
    until_graph(&publisher, &s, 3, 3).await;
    let subscriber = client(&s.locator).await;
    // Counts warm-up messages and data apart.
    let warm = Arc::new(AtomicU64::new(0));
    let got = Arc::new(AtomicU64::new(0));
    let (keep_warm, keep) = (warm.clone(), got.clone());
    let _sub = subscriber
        .declare_subscriber("w/**")
        .callback(move |s: Sample| {
            if s.key_expr().as_str() == "w/data" {
                keep.fetch_add(1, Ordering::Relaxed);
            } else {
                keep_warm.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await
        .expect("subscriber");
    timeout(WAIT, async {
        while warm.load(Ordering::Relaxed) == 0 {
            publisher.put("w/warm", "w").await.expect("put");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the subscription never reached the publisher's router");
    let before = proxy.upstream();
    let pad = vec![b'x'; 1000];
    for _ in 0..n {
        publisher
            .put("w/data", pad.clone())
            .congestion_control(CongestionControl::Block)
            .await
            .expect("put");
    }
    timeout(Duration::from_secs(30), async {
        while got.load(Ordering::Relaxed) < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} arrived", got.load(Ordering::Relaxed)));
    let carried = proxy.upstream() - before;
    drop((p, x, s));
    carried
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_transport_weight_moves_traffic_off_the_direct_link() {
    const N: u64 = 300;
    // Unweighted, the direct link is the shortest path: it carries the publications.
    let direct = bytes_on_the_direct_link(None, N).await;
    assert!(
        direct >= N * 1000,
        "the direct link carried only {direct} bytes"
    );
    // With Zenoh's `transport_weights` making it heavy, they go through x.
    let path =
        std::env::temp_dir().join(format!("plexus-mesh-weights-{}.json5", std::process::id()));
    std::fs::write(
        &path,
        r#"{ routing: { router: { linkstate: {
              transport_weights: [{ dst_zid: "5a", weight: 1000 }] } } } }"#,
    )
    .expect("write config");
    let weighted = bytes_on_the_direct_link(Some(&path), N).await;
    let _ = std::fs::remove_file(&path);
    println!("direct link carried {direct} bytes unweighted, {weighted} weighted");
    // Keep-alives and link states only: far less than one publication per message.
    assert!(
        weighted < N * 100,
        "the weighted link still carried {weighted} bytes"
    );
}
