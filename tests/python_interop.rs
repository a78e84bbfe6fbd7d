//! Interoperability with the official Python binding of Zenoh (eclipse-zenoh 1.10.2), a
//! second client implementation next to the Rust `zenoh` oracle: Python clients through
//! the `plexusd` program (side by side with a Zenoh 1.10.2 router where Zenoh's behaviour
//! is the reference), and Python peers with Plexus peers.
//!
//! The Python side is `tests/python/agent.py`, driven by JSON lines. Its interpreter is
//! `$PLEXUS_PYTHON`, else `target/python-venv/bin/python`, both as made by
//! `tests/python/setup.sh`. Without it the tests skip with a message, except under
//! `CI=true`, where they fail.

mod common;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use common::{WAIT, payload, plexus_connected, plexus_listening};
use plexus::{SampleKind, WhatAmI, ZenohId};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

// ---------------------------------------------------------------------------------------
// Finding Python
// ---------------------------------------------------------------------------------------

/// The Python interpreter with eclipse-zenoh 1.10.2, or why there is none.
fn find_python() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = match std::env::var_os("PLEXUS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => root.join("target/python-venv/bin/python"),
    };
    if !py.is_file() {
        return Err(format!("no Python interpreter at {}", py.display()));
    }
    let out = std::process::Command::new(&py)
        .args([
            "-c",
            "from importlib.metadata import version; import zenoh; print(version('eclipse-zenoh'))",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version != "1.10.2" {
        return Err(format!(
            "{} has no eclipse-zenoh 1.10.2 (found {version:?}; {})",
            py.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(py)
}

/// The interpreter, or `None` (after saying why) when the tests should skip; under
/// `CI=true` a missing interpreter fails the test instead.
fn python() -> Option<PathBuf> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PY.get_or_init(find_python) {
        Ok(p) => Some(p.clone()),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "the Python interop tests need eclipse-zenoh 1.10.2 under CI: {why}; \
             run `bash tests/python/setup.sh` (what .ci/run does) or set PLEXUS_PYTHON"
        ),
        Err(why) => {
            eprintln!(
                "SKIPPED: {why}. Run `bash tests/python/setup.sh` to create \
                 target/python-venv, or set PLEXUS_PYTHON to a python with eclipse-zenoh==1.10.2."
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// A Python agent
// ---------------------------------------------------------------------------------------

/// One `agent.py` process: a Zenoh session in Python, driven by commands.
struct Agent {
    name: &'static str,
    /// The session's zid, once opened.
    zid: String,
    _child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Events read while waiting for something else.
    events: VecDeque<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Agent {
    async fn spawn(py: &Path, name: &'static str) -> Agent {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/agent.py");
        let mut child = Command::new(py)
            .arg(script)
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the Python agent {name}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let (tx, lines) = mpsc::unbounded_channel();
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({"ev": "garbage", "line": line}));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut agent = Agent {
            name,
            zid: String::new(),
            _child: child,
            stdin,
            lines,
            events: VecDeque::new(),
            stderr,
        };
        agent.event("its start", |v| v["ev"] == "ready").await;
        agent
    }

    /// A Python client of `locator`.
    async fn client(py: &Path, name: &'static str, locator: &str) -> Agent {
        let mut a = Agent::spawn(py, name).await;
        a.open(json!({"op": "open", "mode": "client", "connect": [locator]}))
            .await;
        a
    }

    /// Opens the session (`c` is the `open` command) and records its zid.
    async fn open(&mut self, c: Value) {
        let r = self.cmd(c).await;
        self.zid = r["zid"].as_str().expect("a zid").to_string();
    }

    fn report(&self) -> String {
        format!(
            "Python agent {}; its stderr:\n{}",
            self.name,
            self.stderr.lock().unwrap()
        )
    }

    async fn next_line(&mut self, what: &str) -> Value {
        match timeout(WAIT, self.lines.recv()).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("{} exited while waiting for {what}", self.report()),
            Err(_) => panic!("{}: no {what} within {WAIT:?}", self.report()),
        }
    }

    /// Runs one command and returns its answer; fails the test on an error answer.
    async fn cmd(&mut self, c: Value) -> Value {
        let op = c["op"].clone();
        let mut line = c.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: write: {e}", self.report()));
        loop {
            let v = self.next_line(&format!("the answer to {c}")).await;
            if v.get("ok") == Some(&op) {
                return v;
            }
            if v.get("err") == Some(&op) {
                panic!("{}: {c} failed: {}", self.report(), v["error"]);
            }
            self.events.push_back(v);
        }
    }

    /// The first event (already read or coming) that `pred` accepts.
    async fn event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.events.iter().position(&pred) {
            return self.events.remove(i).expect("found");
        }
        loop {
            let v = self.next_line(what).await;
            if pred(&v) {
                return v;
            }
            self.events.push_back(v);
        }
    }

    /// The next `n` samples of subscriber `sub` on `key`, in arrival order.
    async fn samples(&mut self, sub: &str, key: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(
                self.event(&format!("sample {i} of {n} on {key}"), |v| {
                    v["ev"] == "sample" && v["sub"] == sub && v["key"] == key
                })
                .await,
            );
        }
        out
    }

    /// Whether subscriber `sub` got a sample on `key` within 200 ms (for probing).
    async fn got_sample_soon(&mut self, sub: &str, key: &str) -> bool {
        let matches = |v: &Value| v["ev"] == "sample" && v["sub"] == sub && v["key"] == key;
        if let Some(i) = self.events.iter().position(matches) {
            self.events.remove(i);
            return true;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
        while let Ok(Some(v)) = tokio::time::timeout_at(deadline, self.lines.recv()).await {
            if matches(&v) {
                return true;
            }
            self.events.push_back(v);
        }
        false
    }

    /// Forgets the events read so far.
    fn clear(&mut self) {
        while let Ok(v) = self.lines.try_recv() {
            self.events.push_back(v);
        }
        self.events.clear();
    }
}

/// Puts probes on `key` from `publisher` until subscriber `sub` of `subscriber` sees one:
/// the subscription has been routed. Bounded by [`WAIT`].
async fn until_routed(publisher: &mut Agent, subscriber: &mut Agent, sub: &str, key: &str) {
    let done = timeout(WAIT, async {
        loop {
            publisher
                .cmd(json!({"op": "put", "key": key, "text": "probe"}))
                .await;
            if subscriber.got_sample_soon(sub, key).await {
                return;
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "{}: the subscription on {key} never reached the publisher",
        subscriber.report()
    );
    subscriber.clear();
}

/// Gets `selector` from `querier` until a reply comes: the queryable has been routed.
/// Bounded by [`WAIT`]; returns the answer with replies.
async fn until_answered(querier: &mut Agent, selector: &str) -> Value {
    timeout(WAIT, async {
        loop {
            let r = querier
                .cmd(json!({"op": "get", "selector": selector, "timeout": 1}))
                .await;
            if r["replies"].as_array().is_some_and(|v| !v.is_empty()) {
                return r;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{}: no queryable for {selector} became reachable",
            querier.report()
        )
    })
}

// ---------------------------------------------------------------------------------------
// Routers: plexusd (the program) and a Zenoh 1.10.2 router as the reference
// ---------------------------------------------------------------------------------------

/// A router on an ephemeral loopback port, killed or closed when dropped.
struct Router {
    what: &'static str,
    locator: String,
    zid: String,
    _plexusd: Option<Child>,
    _zenoh: Option<zenoh::Session>,
}

/// The built `plexusd` program (`cargo build --workspace` puts it next to the tests).
fn plexusd_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    let path = dir.join(format!("plexusd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} not found: run `cargo build -p plexusd` first",
        path.display()
    );
    path
}

/// Starts `plexusd` with a known zid on an ephemeral port and reads the port from its log.
async fn plexusd() -> Router {
    let zid = ZenohId::random().to_string();
    let mut child = Command::new(plexusd_path())
        .args(["-l", "tcp/127.0.0.1:0", "-i", &zid])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start plexusd");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let re = regex::Regex::new(r"locator=(tcp/\S+)").expect("regex");
    let locator = timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(c) = re.captures(&line) {
                return c[1].to_string();
            }
        }
        panic!("plexusd exited before listening");
    })
    .await
    .expect("plexusd did not say where it listens");
    // Keep draining its log so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Router {
        what: "plexusd",
        locator,
        zid,
        _plexusd: Some(child),
        _zenoh: None,
    }
}

/// A Zenoh 1.10.2 router (default configuration: it timestamps).
async fn zenoh_router() -> Router {
    let (z, locator) = common::zenoh_listening("router").await;
    Router {
        what: "the Zenoh router",
        locator,
        zid: z.zid().to_string(),
        _plexusd: None,
        _zenoh: Some(z),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers on reported values
// ---------------------------------------------------------------------------------------

/// `(time, id)` of a timestamp printed as `<ntp64>/<id hex>`.
fn ts(v: &Value) -> Option<(u64, String)> {
    let s = v.as_str()?;
    let (t, id) = s.split_once('/')?;
    Some((t.parse().ok()?, id.to_string()))
}

/// The interception points of a reported timestamp stack, in order.
fn points(stack: &Value) -> Vec<String> {
    stack
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["point"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// CRC-32 (IEEE), as Python's `zlib.crc32`.
fn crc32(data: &[u8]) -> u64 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    (!c) as u64
}

/// What `agent.py`'s `pattern(n, seed)` makes.
fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i + seed) % 251) as u8).collect()
}

fn assert_payload(v: &Value, len: usize, seed: usize) {
    assert_eq!(v["len"], len, "payload length of {v}");
    assert_eq!(v["crc"], crc32(&pattern(len, seed)), "payload of {v}");
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// A Python client's untimestamped puts through `plexusd` reach a Python subscriber and a
/// Plexus subscriber stamped by the router's clock, in increasing order, with the same
/// timestamps on both; deletes too. The same puts through a Zenoh router carry that
/// router's timestamps (the reference behaviour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_puts_through_a_router_carry_the_router_timestamp() {
    let Some(py) = python() else { return };
    for router in [plexusd().await, zenoh_router().await] {
        let mut sub = Agent::client(&py, "subscriber", &router.locator).await;
        let mut publ = Agent::client(&py, "publisher", &router.locator).await;
        sub.cmd(json!({"op": "sub", "key": "ts/**", "name": "s"}))
            .await;
        until_routed(&mut publ, &mut sub, "s", "ts/probe").await;
        let plexus = plexus_connected(WhatAmI::Client, &router.locator).await;
        let psub = plexus.declare_subscriber("ts/**").await.expect("subscribe");
        until_routed(&mut publ, &mut sub, "s", "ts/probe").await;
        // The Plexus subscription may still be on its way: probe it too.
        timeout(WAIT, async {
            loop {
                publ.cmd(json!({"op": "put", "key": "ts/probe", "text": "p"}))
                    .await;
                if common::arrived(&psub).await {
                    return;
                }
            }
        })
        .await
        .expect("the Plexus subscription never reached the publisher");
        while psub.try_recv().is_ok() {}
        sub.clear();

        const N: usize = 20;
        publ.cmd(json!({"op": "put", "key": "ts/a", "seq": true, "count": N}))
            .await;
        let got = sub.samples("s", "ts/a", N).await;
        let mut last = 0u64;
        let mut stamps = Vec::new();
        for (i, s) in got.iter().enumerate() {
            assert_eq!(s["text"], i.to_string(), "order through {}", router.what);
            let (t, id) = ts(&s["ts"]).unwrap_or_else(|| {
                panic!("{}: put {i} arrived without a timestamp: {s}", router.what)
            });
            assert_eq!(id, router.zid, "{}: stamped by another clock", router.what);
            assert!(t > last, "{}: timestamps not increasing", router.what);
            last = t;
            stamps.push(t);
        }
        for (i, t) in stamps.iter().enumerate() {
            let s = loop {
                let s = common::recv(&psub).await;
                if s.key_expr().as_str() == "ts/a" {
                    break s;
                }
            };
            assert_eq!(s.payload().as_ref(), i.to_string().as_bytes());
            let stamp = s
                .timestamp()
                .expect("a Plexus subscriber sees the timestamp");
            assert_eq!(stamp.get_time().as_u64(), *t, "{}", router.what);
            assert_eq!(stamp.get_id().to_string(), router.zid);
        }
        if router.what == "plexusd" {
            // Plexus stamps deletes as well (Zenoh 1.10.2's router stamps only puts).
            publ.cmd(json!({"op": "delete", "key": "ts/a"})).await;
            let d = sub
                .event("the delete", |v| {
                    v["ev"] == "sample" && v["kind"] == "delete"
                })
                .await;
            let (t, id) = ts(&d["ts"]).expect("a stamped delete");
            assert_eq!(id, router.zid);
            assert!(t > last);
            let s = loop {
                let s = common::recv(&psub).await;
                if s.kind() == SampleKind::Delete {
                    break s;
                }
            };
            assert_eq!(s.timestamp().map(|t| t.get_time().as_u64()), Some(t));
        }
        sub.cmd(json!({"op": "close"})).await;
        publ.cmd(json!({"op": "close"})).await;
    }
}

/// Zenoh 1.10's timestamp instrumentation through `plexusd` gives the same records as
/// through a Zenoh router, for puts, deletes, gets and querier gets: the sender's, one
/// per router hop, the receiver's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_stacks_through_plexusd_match_a_zenoh_router() {
    let Some(py) = python() else { return };
    let mut seen = Vec::new();
    for router in [zenoh_router().await, plexusd().await] {
        let mut a = Agent::client(&py, "a", &router.locator).await;
        let mut b = Agent::client(&py, "b", &router.locator).await;
        b.cmd(json!({"op": "sub", "key": "st/**", "name": "s"}))
            .await;
        b.cmd(json!({"op": "queryable", "key": "st/q/**", "name": "q",
            "replies": [{"key": "st/q/x", "text": "x"}, {"key": "st/q/y", "delete": true}]}))
            .await;
        until_routed(&mut a, &mut b, "s", "st/probe").await;
        until_answered(&mut a, "st/q/**").await;
        b.clear();

        a.cmd(json!({"op": "put", "key": "st/p", "text": "v", "instrument": "SRE"}))
            .await;
        let put = b.samples("s", "st/p", 1).await.remove(0);
        a.cmd(json!({"op": "delete", "key": "st/p", "instrument": "SRE"}))
            .await;
        let del = b
            .event("the delete", |v| {
                v["ev"] == "sample" && v["kind"] == "delete"
            })
            .await;
        let get = a
            .cmd(json!({"op": "get", "selector": "st/q/**?n=1", "instrument": "SRE"}))
            .await;
        let query = b
            .event("the query", |v| v["ev"] == "query" && v["params"] == "n=1")
            .await;
        a.cmd(json!({"op": "querier", "key": "st/q/**", "name": "qr"}))
            .await;
        let qget = a
            .cmd(json!({"op": "querier_get", "name": "qr", "instrument": "SR"}))
            .await;
        let replies = |r: &Value| {
            let mut v: Vec<(String, Vec<String>)> = r["replies"]
                .as_array()
                .expect("replies")
                .iter()
                .map(|x| {
                    (
                        x["key"].as_str().unwrap_or("").to_string(),
                        points(&x["stack"]),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let record = (
            points(&put["stack"]),
            points(&del["stack"]),
            points(&query["stack"]),
            replies(&get),
            replies(&qget),
        );
        // ROUTE records: the publisher's routing, the router's, the subscriber's routing.
        let route_ids: Vec<String> = put["stack"]
            .as_array()
            .expect("a stack")
            .iter()
            .filter(|r| r["point"] == "route")
            .filter_map(|r| ts(&r["ts"]).map(|(_, id)| id))
            .collect();
        assert_eq!(
            route_ids,
            [a.zid.clone(), router.zid.clone(), b.zid.clone()],
            "{}: {}",
            router.what,
            put["stack"]
        );
        seen.push((router.what, record));
        a.cmd(json!({"op": "close"})).await;
        b.cmd(json!({"op": "close"})).await;
    }
    let (zenoh, plexus) = (&seen[0], &seen[1]);
    // Each Zenoh session routes too: publisher, router and subscriber each add ROUTE.
    assert_eq!(
        zenoh.1.0,
        ["send", "route", "route", "route", "receive"],
        "the reference changed: {zenoh:?}"
    );
    assert_eq!(
        plexus.1, zenoh.1,
        "plexusd differs from the Zenoh router:\n{plexus:?}\n{zenoh:?}"
    );
}

/// Puts and deletes with wildcard subscriptions, from 0 B to 1 MiB, and gets and querier
/// gets answered by a Python queryable and by a Plexus queryable, all through `plexusd`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_through_plexusd() {
    let Some(py) = python() else { return };
    let router = plexusd().await;
    let mut a = Agent::client(&py, "a", &router.locator).await;
    let mut b = Agent::client(&py, "b", &router.locator).await;
    b.cmd(json!({"op": "sub", "key": "w/*/x", "name": "star"}))
        .await;
    b.cmd(json!({"op": "sub", "key": "w/**", "name": "all"}))
        .await;
    until_routed(&mut a, &mut b, "star", "w/probe/x").await;
    until_routed(&mut a, &mut b, "all", "w/probe").await;

    for (i, len) in common::SIZES.into_iter().enumerate() {
        a.cmd(json!({"op": "put", "key": "w/s/x", "len": len, "seed": 0, "publisher": i % 2 == 1}))
            .await;
        for sub in ["star", "all"] {
            let s = b.samples(sub, "w/s/x", 1).await.remove(0);
            assert_payload(&s, len, 0);
            assert!(ts(&s["ts"]).is_some(), "{sub}: no timestamp");
        }
    }
    a.cmd(json!({"op": "put", "key": "w/deep/er/x", "len": 3}))
        .await;
    assert_payload(&b.samples("all", "w/deep/er/x", 1).await.remove(0), 3, 0);
    a.cmd(json!({"op": "delete", "key": "w/s/x"})).await;
    for sub in ["star", "all"] {
        let d = b.samples(sub, "w/s/x", 1).await.remove(0);
        assert_eq!(d["kind"], "delete", "{sub}");
    }
    // "w/*/x" must not have matched "w/deep/er/x".
    assert!(
        !b.events
            .iter()
            .any(|v| v["sub"] == "star" && v["key"] == "w/deep/er/x"),
        "a single-chunk wildcard matched two chunks"
    );

    // A Python queryable answering puts of every size, a delete and an error.
    let mut answers: Vec<Value> = common::SIZES
        .iter()
        .enumerate()
        .map(|(i, len)| json!({"key": format!("q/py/{i}"), "len": len, "seed": i}))
        .collect();
    answers.push(json!({"key": "q/py/gone", "delete": true}));
    answers.push(json!({"err": true, "text": "nope"}));
    b.cmd(
        json!({"op": "queryable", "key": "q/py/**", "name": "q", "complete": true,
        "replies": answers}),
    )
    .await;
    // A Plexus queryable beside it.
    let plexus = plexus_connected(WhatAmI::Client, &router.locator).await;
    let pq = plexus
        .declare_queryable("q/px/**")
        .callback(|q: plexus::Query| {
            tokio::spawn(async move {
                let _ = q.reply("q/px/a", payload(1 << 20)).await;
            });
        })
        .await
        .expect("queryable");

    let check = |r: &Value| {
        let rs = r["replies"].as_array().expect("replies");
        assert_eq!(rs.len(), common::SIZES.len() + 2, "{r}");
        for (i, len) in common::SIZES.iter().enumerate() {
            let rep = rs
                .iter()
                .find(|x| x["key"] == format!("q/py/{i}"))
                .unwrap_or_else(|| panic!("no reply {i}: {r}"));
            assert_payload(rep, *len, i);
        }
        assert!(
            rs.iter()
                .any(|x| x["key"] == "q/py/gone" && x["kind"] == "delete")
        );
        assert!(rs.iter().any(|x| x["ok"] == false && x["text"] == "nope"));
    };
    check(&until_answered(&mut a, "q/py/**").await);
    a.cmd(json!({"op": "querier", "key": "q/py/**", "name": "qr"}))
        .await;
    check(&a.cmd(json!({"op": "querier_get", "name": "qr"})).await);

    let px = until_answered(&mut a, "q/px/**").await["replies"][0].clone();
    assert_eq!(px["key"], "q/px/a");
    assert_eq!(px["len"], 1 << 20);
    assert_eq!(px["crc"], crc32(&payload(1 << 20)));
    drop(pq);
    a.cmd(json!({"op": "close"})).await;
    b.cmd(json!({"op": "close"})).await;
}

/// Liveliness between Python clients through `plexusd`: history, a live token appearing
/// and going, and a liveliness query; and a Plexus token seen by Python.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_liveliness_through_plexusd() {
    let Some(py) = python() else { return };
    let router = plexusd().await;
    let mut a = Agent::client(&py, "a", &router.locator).await;
    let mut b = Agent::client(&py, "b", &router.locator).await;
    a.cmd(json!({"op": "token", "key": "lv/a/1", "name": "t1"}))
        .await;
    b.cmd(json!({"op": "live_sub", "key": "lv/**", "name": "l", "history": true}))
        .await;
    b.event("the existing token", |v| {
        v["ev"] == "live" && v["key"] == "lv/a/1" && v["kind"] == "put"
    })
    .await;
    a.cmd(json!({"op": "token", "key": "lv/a/2", "name": "t2"}))
        .await;
    b.event("a new token", |v| {
        v["ev"] == "live" && v["key"] == "lv/a/2" && v["kind"] == "put"
    })
    .await;
    let plexus = plexus_connected(WhatAmI::Client, &router.locator).await;
    let token = plexus
        .liveliness()
        .declare_token("lv/px")
        .await
        .expect("token");
    b.event("the Plexus token", |v| {
        v["ev"] == "live" && v["key"] == "lv/px" && v["kind"] == "put"
    })
    .await;
    // The liveliness query comes from a session without a liveliness subscriber: in
    // Zenoh 1.10.2 a session that subscribes to the keys it queries now and then gets an
    // empty answer (about 1 run in 100 through plexusd and 1 in 300 through a Zenoh
    // router, the same test against both): its routing layer skips the router's replies
    // for tokens it already passed to that subscriber ("Already propagated" in its broker
    // hat) and answers from its own tables, which now and then come out empty.
    let mut c = Agent::client(&py, "c", &router.locator).await;
    let got = c.cmd(json!({"op": "live_get", "key": "lv/**"})).await;
    assert_eq!(got["keys"], json!(["lv/a/1", "lv/a/2", "lv/px"]));
    c.cmd(json!({"op": "close"})).await;
    a.cmd(json!({"op": "undeclare", "name": "t1"})).await;
    b.event("the token going", |v| {
        v["ev"] == "live" && v["key"] == "lv/a/1" && v["kind"] == "delete"
    })
    .await;
    drop(token);
    b.event("the Plexus token going", |v| {
        v["ev"] == "live" && v["key"] == "lv/px" && v["kind"] == "delete"
    })
    .await;
    a.cmd(json!({"op": "close"})).await;
    b.event("the closed session's token going", |v| {
        v["ev"] == "live" && v["key"] == "lv/a/2" && v["kind"] == "delete"
    })
    .await;
    b.cmd(json!({"op": "close"})).await;
}

/// A Python peer and a Plexus peer, each way: puts of every size, gets, and timestamps
/// only when the publisher asked for them (peers do not stamp by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_peer_with_a_plexus_peer() {
    let Some(py) = python() else { return };
    let (plexus, loc) = plexus_listening(WhatAmI::Peer).await;
    let mut p = Agent::spawn(&py, "peer").await;
    p.open(json!({"op": "open", "mode": "peer", "connect": [loc]}))
        .await;
    p.cmd(json!({"op": "sub", "key": "pp/**", "name": "s"}))
        .await;
    p.cmd(json!({"op": "queryable", "key": "pp/q", "name": "q",
        "replies": [{"key": "pp/q", "len": 1 << 20, "seed": 7}]}))
        .await;
    let psub = plexus.declare_subscriber("pp/**").await.expect("subscribe");

    // Plexus → Python.
    timeout(WAIT, async {
        loop {
            plexus.put("pp/probe", "p").await.expect("put");
            if p.got_sample_soon("s", "pp/probe").await {
                return;
            }
        }
    })
    .await
    .expect("the Python subscription never reached Plexus");
    p.clear();
    for len in common::SIZES {
        plexus.put("pp/x", payload(len)).await.expect("put");
        let s = p.samples("s", "pp/x", 1).await.remove(0);
        assert_eq!(s["len"], len);
        assert_eq!(s["crc"], crc32(&payload(len)));
        assert_eq!(s["ts"], Value::Null, "a peer does not stamp by default");
    }

    // Python → Plexus.
    for len in common::SIZES {
        let key = format!("pp/y/{len}");
        let got = timeout(WAIT, async {
            loop {
                p.cmd(json!({"op": "put", "key": key, "len": len, "seed": 3}))
                    .await;
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
                while let Ok(Ok(s)) = tokio::time::timeout_at(deadline, psub.recv_async()).await {
                    if s.key_expr().as_str() == key {
                        return s;
                    }
                }
            }
        })
        .await
        .expect("nothing from the Python peer");
        assert_eq!(got.payload().as_ref(), pattern(len, 3));
    }

    // Plexus get → Python queryable (1 MiB reply).
    let reply = timeout(WAIT, async {
        loop {
            let rx = plexus.get("pp/q").await.expect("get");
            if let Ok(r) = rx.recv_async().await {
                return r;
            }
        }
    })
    .await
    .expect("no reply from the Python queryable");
    let s = reply.result().expect("a value");
    assert_eq!(s.payload().as_ref(), pattern(1 << 20, 7));
    p.cmd(json!({"op": "close"})).await;
}
