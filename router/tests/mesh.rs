//! Meshes of real `plexusd` processes on loopback: a chain of three routers with a
//! client at each end (pub/sub and get/queryable across two hops), a square of four
//! where each publication reaches each subscriber exactly once, and a router dying on
//! the shorter of two paths while a publisher runs.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Plexusd, WAIT, answering_queryable, client, poll, replies_once_routed};
use plexus::{CongestionControl, Sample, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

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
    let what = format!("router {} seeing {nodes} routers and {edges} links", r.zid);
    poll::until(&what, WAIT, Duration::from_millis(50), async || {
        let dot = graph(via, r).await.ok_or("no graph")?;
        if dot.matches("[ label = \"").count() == nodes + edges
            && dot.matches(" -- ").count() == edges
        {
            return Ok(dot);
        }
        Err(dot)
    })
    .await
}

/// Waits until router `r`'s `@/<zid>/router` JSON shows a mesh graph whose `links` (all
/// `n` of them) carry a measured RTT, and returns that graph.
async fn until_rtts(via: &Session, r: &Plexusd, n: usize) -> serde_json::Value {
    let what = format!("router {} showing {n} links with RTTs", r.zid);
    poll::until(&what, WAIT, Duration::from_millis(100), async || {
        let rx = via
            .get(format!("@/{}/router", r.zid))
            .timeout(Duration::from_secs(2))
            .await
            .expect("get");
        let graph = match timeout(WAIT, rx.recv_async()).await {
            Ok(Ok(reply)) => reply
                .result()
                .ok()
                .and_then(|s| serde_json::from_slice::<serde_json::Value>(s.payload()).ok())
                .map(|v| v["linkstate"].clone()),
            _ => None,
        };
        let graph = graph.ok_or(serde_json::Value::Null)?;
        let links = graph["links"].as_array().cloned().unwrap_or_default();
        if links.len() == n && links.iter().all(|l| l["rtt_us"].is_u64()) {
            return Ok(graph);
        }
        Err(graph)
    })
    .await
}

/// What a subscriber received so far, to read or to await.
type Seen = watch::Sender<Vec<u32>>;

/// A subscriber that keeps the sequence numbers it receives.
async fn counting_subscriber(s: &Session, key: &str) -> (plexus::Subscriber<()>, Seen) {
    let seen = Seen::default();
    let keep = seen.clone();
    let sub = s
        .declare_subscriber(key)
        .callback(move |sample: Sample| {
            if let Ok(t) = std::str::from_utf8(sample.payload())
                && let Ok(n) = t.parse::<u32>()
            {
                keep.send_modify(|v| v.push(n));
            }
        })
        .await
        .expect("subscriber");
    (sub, seen)
}

/// Waits at most `within` until `pred` holds for what `seen` holds; whether it did.
async fn seen_until(seen: &Seen, within: Duration, pred: impl FnMut(&Vec<u32>) -> bool) -> bool {
    let mut rx = seen.subscribe();
    matches!(timeout(within, rx.wait_for(pred)).await, Ok(Ok(_)))
}

/// Puts `u32::MAX` on `key` until every subscriber in `seen` got one (its declaration
/// reached the publisher's router), then forgets those.
async fn warm_up(publisher: &Session, key: &str, seen: &[&Seen]) {
    let warm = |s: &Vec<u32>| s.contains(&u32::MAX);
    timeout(WAIT, async {
        loop {
            publisher
                .put(key, u32::MAX.to_string())
                .congestion_control(CongestionControl::Block)
                .await
                .expect("put");
            // Each one arrives within 20 ms of this put, or the next put is a new chance.
            let mut all = true;
            for s in seen {
                all = all && seen_until(s, Duration::from_millis(20), warm).await;
            }
            if all {
                break;
            }
        }
    })
    .await
    .expect("the subscriptions never reached the publisher's router");
    // Warm-up messages still in flight arrive before any later message (one path).
    for s in seen {
        s.send_modify(Vec::clear);
    }
}

/// Waits until `seen` holds `n` messages other than warm-up ones.
async fn until_count(seen: &Seen, n: usize) {
    let count = |v: &Vec<u32>| v.iter().filter(|v| **v != u32::MAX).count() >= n;
    if !seen_until(seen, Duration::from_secs(30), count).await {
        let got = seen.borrow().len();
        panic!("only {got} of {n} messages arrived");
    }
}

fn data(seen: &Seen) -> Vec<u32> {
    seen.borrow()
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
    let _q = answering_queryable(&right, "svc/**", "from the far end").await;
    let got = replies_once_routed(&left, "svc/one", WAIT).await;
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
    let last = |v: &Vec<u32>| v.contains(&(N - 1));
    assert!(
        seen_until(&seen, Duration::from_secs(15), last).await,
        "delivery never resumed after the router on the path died"
    );
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
/// carries from its clients to `to`, and delays each chunk by `delay` plus a random part
/// of `jitter` in each direction (in order: a chunk never overtakes the one before).
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
    async fn start(to: &str, delay: Duration, jitter: Duration) -> Proxy {
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
                tokio::spawn(pipe(ri, wo, (delay, jitter), Some(count.clone())));
                tokio::spawn(pipe(ro, wi, (delay, jitter), None));
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

/// Copies `from` to `to`, each chunk `delay.0` plus a random part of `delay.1` after it
/// was read (in order, without limiting the throughput), counting the bytes in `count`.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: (Duration, Duration),
    count: Option<Arc<AtomicU64>>,
) {
    // xorshift64, seeded from the clock: jitter needs no better randomness.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut jitter = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        delay.1.mul_f64((seed % 1_000_001) as f64 / 1e6)
    };
    let mut last_due = tokio::time::Instant::now();
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
                let due = (tokio::time::Instant::now() + delay.0 + jitter()).max(last_due);
                last_due = due;
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A config file for these tests, removed on drop.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(name: &str, json5: &str) -> ConfigFile {
        let path =
            std::env::temp_dir().join(format!("plexus-mesh-{name}-{}.json5", std::process::id()));
        std::fs::write(&path, json5).expect("write config");
        ConfigFile(path)
    }

    fn arg(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Link weights that follow RTTs, with RTT probes every second (a 2 s lease), judged over
/// `window` samples.
fn rtt_config(name: &str, window: u32) -> ConfigFile {
    ConfigFile::new(
        name,
        &format!(
            r#"{{ transport: {{ link: {{ tx: {{ lease: 2000 }} }} }},
                  routing: {{ router: {{ linkstate: {{ rtt_weights: {{
                    enabled: true, window: {window}, hold_down_ms: 0 }} }} }} }} }}"#
        ),
    )
}

/// A triangle of routers: p (zid 1a) - s (5a) directly through a proxy, and p - x - s,
/// where p - x may go through a second proxy.
struct Triangle {
    p: Plexusd,
    x: Plexusd,
    s: Plexusd,
    direct: Proxy,
    _px: Option<Proxy>,
}

impl Triangle {
    /// `direct` and `px` are the (delay, jitter) of the proxies on p - s and on p - x
    /// (none on p - x if `None`); `p_config` is p's config file, `config` the others'.
    async fn start(
        direct: (Duration, Duration),
        px: Option<(Duration, Duration)>,
        p_config: Option<&ConfigFile>,
        config: Option<&ConfigFile>,
    ) -> Triangle {
        let cfg = config.map(ConfigFile::arg);
        let with_config = |mut args: Vec<String>| {
            if let Some(c) = &cfg {
                args.extend(["-c".to_string(), c.clone()]);
            }
            args
        };
        let start = |args: Vec<String>| async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Plexusd::start(&args).await
        };
        let s = start(with_config(vec!["-i".into(), "5a".into()])).await;
        let x = start(with_config(vec!["-e".into(), s.locator.clone()])).await;
        let proxy = Proxy::start(&s.locator, direct.0, direct.1).await;
        let px = match px {
            Some((d, j)) => Some(Proxy::start(&x.locator, d, j).await),
            None => None,
        };
        let to_x = px.as_ref().map_or(x.locator.clone(), |p| p.locator.clone());
        let mut args = vec!["-i".into(), "1a".into(), "-e".into(), proxy.locator.clone()];
        args.extend(["-e".into(), to_x]);
        if let Some(c) = p_config {
            args.extend(["-c".into(), c.arg()]);
        } else if let Some(c) = &cfg {
            args.extend(["-c".into(), c.clone()]);
        }
        let p = start(args).await;
        Triangle {
            p,
            x,
            s,
            direct: proxy,
            _px: px,
        }
    }

    /// p's view of the mesh (`linkstate` of its `@/<zid>/router` JSON), read by `via`.
    async fn linkstate(&self, via: &Session) -> Option<serde_json::Value> {
        let rx = via
            .get(format!("@/{}/router", self.p.zid))
            .timeout(Duration::from_secs(2))
            .await
            .expect("get");
        let reply = timeout(WAIT, rx.recv_async()).await.ok()?.ok()?;
        let v: serde_json::Value = serde_json::from_slice(reply.result().ok()?.payload()).ok()?;
        Some(v["linkstate"].clone())
    }
}

/// The weights of the triangle's links in p's `linkstate`: (p - s, p - x, x - s), once
/// all three are known.
fn triangle_weights(graph: &serde_json::Value, x: &str) -> Option<(f64, f64, f64)> {
    let links = graph["links"].as_array()?;
    let weight = |a: &str, b: &str| {
        links
            .iter()
            .find(|l| (l["src"] == a && l["dst"] == b) || (l["src"] == b && l["dst"] == a))
            .and_then(|l| l["weight"].as_f64())
    };
    Some((weight("1a", "5a")?, weight("1a", x)?, weight(x, "5a")?))
}

/// The weight router `a` announces for its link to `b` in `graph`, once it set one.
fn own_weight(graph: &serde_json::Value, a: &str, b: &str) -> Option<u64> {
    graph["links"].as_array()?.iter().find_map(|l| {
        if l["src"] == a && l["dst"] == b {
            l["src_weight"].as_u64()
        } else if l["src"] == b && l["dst"] == a {
            l["dst_weight"].as_u64()
        } else {
            None
        }
    })
}

/// Publishes `n` messages of 1000 bytes from a client of p to a client of s and returns
/// how many bytes the direct link carried towards s while they went.
async fn bytes_on_the_direct_link(t: &Triangle, publisher: &Session, n: u64) -> u64 {
    let subscriber = client(&t.s.locator).await;
    // Counts warm-up messages and data apart.
    let warm = watch::Sender::new(0u64);
    let got = watch::Sender::new(0u64);
    let (keep_warm, keep) = (warm.clone(), got.clone());
    let _sub = subscriber
        .declare_subscriber("w/**")
        .callback(move |s: Sample| {
            if s.key_expr().as_str() == "w/data" {
                keep.send_modify(|n| *n += 1);
            } else {
                keep_warm.send_modify(|n| *n += 1);
            }
        })
        .await
        .expect("subscriber");
    let mut warmed = warm.subscribe();
    timeout(WAIT, async {
        loop {
            publisher.put("w/warm", "w").await.expect("put");
            let one = warmed.wait_for(|n| *n > 0);
            if matches!(timeout(Duration::from_millis(20), one).await, Ok(Ok(_))) {
                return;
            }
        }
    })
    .await
    .expect("the subscription never reached the publisher's router");
    let before = t.direct.upstream();
    let pad = vec![b'x'; 1000];
    for _ in 0..n {
        publisher
            .put("w/data", pad.clone())
            .congestion_control(CongestionControl::Block)
            .await
            .expect("put");
    }
    let mut arrived = got.subscribe();
    let all = arrived.wait_for(|got| *got >= n);
    if !matches!(timeout(Duration::from_secs(30), all).await, Ok(Ok(_))) {
        panic!("only {} of {n} arrived", *got.borrow());
    }
    t.direct.upstream() - before
}

/// A triangle whose routers all see three links, and a client of p.
async fn triangle(
    direct: (Duration, Duration),
    px: Option<(Duration, Duration)>,
    p_config: Option<&ConfigFile>,
    config: Option<&ConfigFile>,
) -> (Triangle, Session) {
    let t = Triangle::start(direct, px, p_config, config).await;
    let publisher = client(&t.p.locator).await;
    until_graph(&publisher, &t.p, 3, 3).await;
    until_graph(&publisher, &t.s, 3, 3).await;
    (t, publisher)
}

const NO_DELAY: (Duration, Duration) = (Duration::ZERO, Duration::ZERO);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_transport_weight_moves_traffic_off_the_direct_link() {
    const N: u64 = 300;
    // Unweighted, the direct link is the shortest path: it carries the publications.
    let (t, publisher) = triangle(NO_DELAY, None, None, None).await;
    let direct = bytes_on_the_direct_link(&t, &publisher, N).await;
    drop((publisher, t));
    assert!(
        direct >= N * 1000,
        "the direct link carried only {direct} bytes"
    );
    // With Zenoh's `transport_weights` making it heavy, they go through x.
    let heavy = ConfigFile::new(
        "weights",
        r#"{ routing: { router: { linkstate: {
              transport_weights: [{ dst_zid: "5a", weight: 1000 }] } } } }"#,
    );
    let (t, publisher) = triangle(NO_DELAY, None, Some(&heavy), None).await;
    let weighted = bytes_on_the_direct_link(&t, &publisher, N).await;
    println!("direct link carried {direct} bytes unweighted, {weighted} weighted");
    // Keep-alives and link states only: far less than one publication per message.
    assert!(
        weighted < N * 100,
        "the weighted link still carried {weighted} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtt_weights_send_traffic_over_the_faster_of_two_paths() {
    const N: u64 = 300;
    // The direct link p - s is 5 ms slower each way than p - x - s.
    let slow = (Duration::from_millis(5), Duration::ZERO);
    let cfg = rtt_config("rtt", 3);
    let (t, publisher) = triangle(slow, None, None, Some(&cfg)).await;
    let x = t.x.zid.to_string();
    // Each router announces its links' weights once three probes came back: the slow link
    // weighs about 100 (10 ms at 100 µs per unit), the loopback ones a few units.
    let what = "the RTT weights settling";
    let weights = poll::until(what, WAIT, Duration::from_millis(100), async || {
        let g = t
            .linkstate(&publisher)
            .await
            .ok_or(serde_json::Value::Null)?;
        match triangle_weights(&g, &x) {
            Some((direct, px, xs)) if direct >= 60.0 && px + xs < direct / 2.0 => {
                Ok((direct, px, xs))
            }
            _ => Err(g),
        }
    })
    .await;
    let carried = bytes_on_the_direct_link(&t, &publisher, N).await;
    println!(
        "weights p-s {:.1}, p-x {:.1}, x-s {:.1}; the slow direct link carried {carried} bytes of {}",
        weights.0,
        weights.1,
        weights.2,
        N * 1000
    );
    assert!(
        carried < N * 100,
        "the slow direct link still carried {carried} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtt_weighted_routes_do_not_flap_under_jitter() {
    // p - s directly: 0 to 12 ms each way (mean RTT 12 ms, samples from 0 to 24 ms);
    // p - x - s: a steady 8 ms each way on p - x (RTT 16 ms). Raw samples of the direct
    // link fall on both sides of the other path's weight; the announced weights must not.
    let jittery = (Duration::ZERO, Duration::from_millis(12));
    let steady = (Duration::from_millis(8), Duration::ZERO);
    let cfg = rtt_config("jitter", 8);
    let (t, publisher) = triangle(jittery, Some(steady), None, Some(&cfg)).await;
    let x = t.x.zid.to_string();
    // Every router weighs its links by RTT once a window of probes came back.
    let what = "the RTT weights settling";
    let (within, every) = (WAIT + Duration::from_secs(20), Duration::from_millis(200));
    poll::until(what, within, every, async || {
        let g = t
            .linkstate(&publisher)
            .await
            .ok_or(serde_json::Value::Null)?;
        if [("1a", "5a"), ("1a", x.as_str()), (x.as_str(), "5a")]
            .iter()
            .all(|(a, b)| own_weight(&g, a, b).is_some() && own_weight(&g, b, a).is_some())
        {
            return Ok(());
        }
        Err(g)
    })
    .await;
    // Watch p's graph for 12 probes: the direct link's weight and which path is lighter.
    let mut direct_weights = Vec::new();
    let mut choices = Vec::new();
    let mut raw_rtts = BTreeSet::new();
    let mut other_path = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(12);
    while tokio::time::Instant::now() < until {
        if let Some(g) = t.linkstate(&publisher).await
            && let Some((direct, px, xs)) = triangle_weights(&g, &x)
        {
            if direct_weights.last() != Some(&direct) {
                direct_weights.push(direct);
            }
            let choice = direct < px + xs;
            if other_path.last() != Some(&(px + xs)) {
                other_path.push(px + xs);
            }
            if choices.last() != Some(&choice) {
                choices.push(choice);
            }
            if let Some(l) = g["links"].as_array().and_then(|l| {
                l.iter().find(|l| {
                    (l["src"] == "1a" && l["dst"] == "5a") || (l["src"] == "5a" && l["dst"] == "1a")
                })
            }) && let Some(rtt) = l["rtt_us"].as_u64()
            {
                raw_rtts.insert(rtt);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "direct link weights announced while watched: {direct_weights:?}; the other path's: \
         {other_path:?}; lighter path (true = direct): {choices:?}; raw RTT samples (µs): \
         {raw_rtts:?}"
    );
    assert!(
        raw_rtts.len() >= 3,
        "too few RTT samples to judge: {raw_rtts:?}"
    );
    assert_eq!(choices.len(), 1, "the route flapped: {choices:?}");
    assert!(
        direct_weights.len() <= 2,
        "the direct link's weight changed {} times: {direct_weights:?}",
        direct_weights.len() - 1
    );
}
