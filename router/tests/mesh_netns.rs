//! Failover across network namespaces: four `plexusd`, each in a namespace the test makes,
//! joined by veth pairs into a square (two disjoint paths between the publisher's router
//! and the subscriber's), and one link of the active path taken down with
//! `ip link set … down` while a publisher runs: no process exits, the routers see the link
//! die when its lease expires, and delivery must resume over the other path.
//!
//! Needs root (or CAP_NET_ADMIN) and iproute2; elsewhere it prints `SKIPPED: <reason>`,
//! except under `CI=true`, where it must run. When it runs it prints `RAN: netns failover`.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Plexusd, WAIT};
use plexus::{CongestionControl, Reliability, Sample};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

/// The lease every router announces (ms); the keep-alive is the default quarter of it.
const LEASE_MS: u64 = 2000;
const KEY: &str = "netns/fo";
/// The name of the ignored test that runs a client inside a namespace for the real test.
const HELPER: &str = "netns_client_helper";

/// The namespaces the test made, deleted when dropped (also on panic). Their veths go
/// with them; processes still inside were killed by their own guards, dropped first.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("could not delete namespace {ns}: {e}");
            }
        }
    }
}

/// Runs `ip args`; the error is its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    ip(args).unwrap_or_else(|e| panic!("{e}"));
}

/// Makes the namespaces, or says why it cannot.
fn namespaces(names: &[String]) -> Result<Namespaces, String> {
    let mut made = Namespaces(Vec::new());
    for ns in names {
        ip(&["netns", "add", ns])?;
        made.0.push(ns.clone());
        must(&["-n", ns, "link", "set", "lo", "up"]);
    }
    Ok(made)
}

/// A veth pair `a_dev` in `a` (address `a_ip`) to `b_dev` in `b` (address `b_ip`), both
/// made inside the namespaces (nothing appears in the test's own namespace).
fn veth(a: &str, a_dev: &str, a_ip: &str, b: &str, b_dev: &str, b_ip: &str) {
    must(&[
        "-n", a, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b,
    ]);
    for (ns, dev, addr) in [(a, a_dev, a_ip), (b, b_dev, b_ip)] {
        must(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
        must(&["-n", ns, "link", "set", dev, "up"]);
    }
}

/// The bytes `dev` in `ns` has sent.
fn tx_bytes(ns: &str, dev: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-j", "-s", "link", "show", "dev", dev])
        .output()
        .expect("run ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`ip -j -s link` output ({e}): {out:?}"));
    v[0]["stats64"]["tx"]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no tx bytes for {dev} in {v}"))
}

/// Starts a router in `ns` with the config file `config`, listening on `listen` and
/// connecting to `connect`.
async fn router(ns: &str, zid: &str, config: &str, listen: &[&str], connect: &[&str]) -> Plexusd {
    let mut args = vec!["-i", zid, "-c", config, "--rest-http-port", "127.0.0.1:0"];
    for l in listen {
        args.extend(["-l", l]);
    }
    for c in connect {
        args.extend(["-e", c]);
    }
    Plexusd::start_with(&["ip", "netns", "exec", ns], &args).await
}

/// Everything the routers and clients printed, for failure messages.
type Log = Arc<Mutex<Vec<String>>>;

fn tail(log: &Log) -> String {
    let log = log.lock().expect("lock");
    log[log.len().saturating_sub(60)..].join("\n")
}

/// A router whose output is read from now on (so it never blocks on a full pipe): every
/// line goes to the log and to `lines`.
struct Router {
    _child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Router {
    fn new(name: &'static str, r: Plexusd, log: &Log) -> Router {
        let Plexusd {
            child, mut lines, ..
        } = r;
        let (tx, rx) = mpsc::unbounded_channel();
        let log = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().expect("lock").push(format!("[{name}] {line}"));
                let _ = tx.send(line);
            }
        });
        Router {
            _child: child,
            lines: rx,
        }
    }

    /// Waits until it has printed a line with each of `needles` (in any order).
    async fn until_all(&mut self, needles: &[String], log: &Log) {
        let mut left: Vec<&String> = needles.iter().collect();
        let found = timeout(WAIT, async {
            while !left.is_empty() {
                let Some(line) = self.lines.recv().await else {
                    return false;
                };
                left.retain(|n| !line.contains(n.as_str()));
            }
            true
        })
        .await;
        if found != Ok(true) {
            panic!("no lines with {needles:?}; log:\n{}", tail(log));
        }
    }
}

/// A client session in a namespace: this test binary running [`HELPER`] there.
struct Client {
    _child: Child,
    stdin: Option<ChildStdin>,
    /// Lines other than `got N`/`sent N`.
    events: mpsc::UnboundedReceiver<String>,
    /// Each `got N` or `sent N`, with the time it was read (to read or to await).
    nums: watch::Sender<Vec<(Instant, u32)>>,
}

impl Client {
    async fn start(ns: &str, role: &str, connect: &str, log: &Log) -> Client {
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(["--ignored", "--exact", HELPER, "--nocapture"])
            .env("PLEXUS_NETNS_ROLE", role)
            .env("PLEXUS_NETNS_CONNECT", connect)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start a client in a namespace");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (tx, events) = mpsc::unbounded_channel();
        let nums = watch::Sender::new(Vec::new());
        let (keep, all, role) = (nums.clone(), log.clone(), role.to_string());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let n = line
                    .strip_prefix("got ")
                    .or_else(|| line.strip_prefix("sent "))
                    .and_then(|n| n.parse().ok());
                match n {
                    Some(n) => keep.send_modify(|v| v.push((Instant::now(), n))),
                    None => {
                        all.lock().expect("lock").push(format!("[{role}] {line}"));
                        let _ = tx.send(line);
                    }
                }
            }
        });
        let mut c = Client {
            _child: child,
            stdin,
            events,
            nums,
        };
        c.event("READY", log).await;
        c
    }

    /// Waits for a line starting with `prefix` and returns it.
    async fn event(&mut self, prefix: &str, log: &Log) -> String {
        let found = timeout(WAIT, async {
            while let Some(line) = self.events.recv().await {
                if line.starts_with(prefix) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no {prefix:?} from a client; log:\n{}", tail(log)),
        }
    }

    fn nums(&self) -> Vec<(Instant, u32)> {
        self.nums.borrow().clone()
    }

    /// Waits until `pred` holds for what it has received or sent so far.
    async fn until(&self, what: &str, log: &Log, pred: impl Fn(&[(Instant, u32)]) -> bool) {
        let mut nums = self.nums.subscribe();
        let held = nums.wait_for(|v| pred(v));
        if !matches!(timeout(WAIT, held).await, Ok(Ok(_))) {
            panic!("{what} did not happen within {WAIT:?}; log:\n{}", tail(log));
        }
    }
}

/// The body of [`HELPER`]: in its namespace, a client session connected to
/// `PLEXUS_NETNS_CONNECT` that subscribes to [`KEY`] and prints `got N` for each sample
/// (role `sub`), or publishes 0, 1, 2, … on it (Block, reliable), printing `sent N` after
/// each put, until its stdin says `stop` (role `pub`). Either ends when its stdin closes.
async fn helper_body(role: &str, connect: &str) {
    let session = common::client(connect).await;
    // Each line on stdin, and its end, as a message (read on a thread of its own).
    let (tx, mut stdin) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(());
            line.clear();
        }
        let _ = tx.send(());
    });
    if role == "sub" {
        let _sub = session
            .declare_subscriber(KEY)
            .callback(|s: Sample| println!("got {}", String::from_utf8_lossy(s.payload())))
            .await
            .expect("subscriber");
        println!("READY sub");
        // Until the test is done with it (bounded, so a forgotten helper still ends).
        let _ = timeout(Duration::from_secs(120), stdin.recv()).await;
        return;
    }
    let publisher = session
        .declare_publisher(KEY)
        .congestion_control(CongestionControl::Block)
        .reliability(Reliability::Reliable)
        .await
        .expect("publisher");
    println!("READY pub");
    let mut last = None;
    for i in 0..60_000u32 {
        publisher.put(i.to_string()).await.expect("put");
        println!("sent {i}");
        last = Some(i);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
            _ = stdin.recv() => break,
        }
    }
    println!("DONE {}", last.expect("one put at least"));
    let _ = timeout(Duration::from_secs(120), stdin.recv()).await;
}

/// Writes `line` to stderr past the test harness's capture, so that CI's output says
/// whether the test ran.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `t` relative to `origin`, signed, e.g. `-1.2ms` or `+1.5s`.
fn offset(t: Instant, origin: Instant) -> String {
    match t.checked_duration_since(origin) {
        Some(d) => format!("+{d:?}"),
        None => format!("-{:?}", origin - t),
    }
}

#[tokio::test]
#[ignore = "a client process for netns_failover_moves_traffic_to_the_other_path"]
async fn netns_client_helper() {
    if let (Ok(role), Ok(connect)) = (
        std::env::var("PLEXUS_NETNS_ROLE"),
        std::env::var("PLEXUS_NETNS_CONNECT"),
    ) {
        helper_body(&role, &connect).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netns_failover_moves_traffic_to_the_other_path() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let pid = std::process::id();
    let names: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| format!("plx-{pid}-{n}"))
        .collect();
    let _namespaces = match namespaces(&names) {
        Ok(made) => made,
        Err(reason) if !ci => {
            say(&format!(
                "SKIPPED: netns failover: cannot make network namespaces: {reason}"
            ));
            return;
        }
        Err(reason) => panic!("CI=true and no network namespaces: {reason}"),
    };
    let [a, b, c, d] = [&names[0], &names[1], &names[2], &names[3]];

    // The square: a (publisher's router) – b – d (subscriber's router), and a – c – d.
    veth(a, "ab", "10.0.1.1", b, "ba", "10.0.1.2");
    veth(b, "bd", "10.0.2.1", d, "db", "10.0.2.2");
    veth(a, "ac", "10.0.3.1", c, "ca", "10.0.3.2");
    veth(c, "cd", "10.0.4.1", d, "dc", "10.0.4.2");

    // A short lease everywhere; a's link to c weighs more, so a – b – d is the active path.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let plain = dir.join(format!("netns-{pid}.json5"));
    let weighted = dir.join(format!("netns-{pid}-a.json5"));
    let lease = format!("transport: {{ link: {{ tx: {{ lease: {LEASE_MS} }} }} }}");
    std::fs::write(&plain, format!("{{ {lease} }}")).expect("write config");
    std::fs::write(
        &weighted,
        format!(
            "{{ {lease}, routing: {{ router: {{ linkstate: {{
                 transport_weights: [{{ dst_zid: \"c3\", weight: 1000 }}] }} }} }} }}"
        ),
    )
    .expect("write config");
    let (plain, weighted) = (
        plain.to_str().expect("utf-8 path"),
        weighted.to_str().expect("utf-8 path"),
    );
    let log: Log = Arc::default();
    let any = "tcp/0.0.0.0:7447";
    let mut rb = Router::new("b", router(b, "b2", plain, &[any], &[]).await, &log);
    let mut rc = Router::new("c", router(c, "c3", plain, &[any], &[]).await, &log);
    let local = "tcp/127.0.0.1:7447";
    let ra = router(
        a,
        "a1",
        weighted,
        &[local],
        &["tcp/10.0.1.2:7447", "tcp/10.0.3.2:7447"],
    )
    .await;
    let _ra = Router::new("a", ra, &log);
    let rd = router(
        d,
        "d4",
        plain,
        &[local],
        &["tcp/10.0.2.1:7447", "tcp/10.0.4.1:7447"],
    )
    .await;
    let _rd = Router::new("d", rd, &log);
    // The middle routers print the links a and d opened to them.
    let links = ["transport to a1", "transport to d4"].map(String::from);
    rb.until_all(&links, &log).await;
    rc.until_all(&links, &log).await;

    let sub = Client::start(d, "sub", local, &log).await;
    let mut publisher = Client::start(a, "pub", local, &log).await;
    sub.until("first delivery", &log, |got| !got.is_empty())
        .await;
    let (bd0, cd0) = (tx_bytes(b, "bd"), tx_bytes(c, "cd"));
    sub.until("delivery over the first path", &log, |got| got.len() >= 300)
        .await;
    // The data went over b – d: its link carried far more than c – d's keep-alives.
    let (bd1, cd1) = (tx_bytes(b, "bd") - bd0, tx_bytes(c, "cd") - cd0);
    assert!(
        bd1 > 4 * cd1,
        "the active path is not a – b – d: b to d carried {bd1} bytes, c to d {cd1}"
    );

    // Take the link b – d down (at b's end); nobody exits.
    must(&["-n", b, "link", "set", "bd", "down"]);
    let down_at = Instant::now();
    let sent_after = |sent: &[(Instant, u32)]| sent.iter().find(|(t, _)| *t > down_at).map(|s| s.1);
    // Delivery resumes: a message published after the link went down arrives.
    let (mut sent, mut got) = (publisher.nums.subscribe(), sub.nums.subscribe());
    let resumed = timeout(WAIT, async {
        let mut first_new = None;
        sent.wait_for(|s| {
            first_new = sent_after(s);
            first_new.is_some()
        })
        .await
        .ok()?;
        let first_new = first_new?;
        let mut at = None;
        got.wait_for(|g| {
            at = g.iter().find(|(_, n)| *n >= first_new).map(|g| g.0);
            at.is_some()
        })
        .await
        .ok()?;
        at
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("delivery never resumed; log:\n{}", tail(&log)));
    let switch = resumed - down_at;
    let n_before = sub.nums().len();
    sub.until("delivery over the second path", &log, |got| {
        got.len() >= n_before + 300
    })
    .await;
    let stdin = publisher.stdin.as_mut().expect("stdin");
    stdin
        .write_all(b"stop\n")
        .await
        .expect("stop the publisher");
    let done = publisher.event("DONE", &log).await;
    let last: u32 = done[5..].parse().expect("DONE <last>");
    sub.until("the last message", &log, |got| {
        got.iter().any(|g| g.1 == last)
    })
    .await;

    // Count: from the first message the subscriber got (earlier ones went before its
    // subscription reached a) to the last one sent.
    let got: Vec<u32> = sub.nums().into_iter().map(|g| g.1).collect();
    let first = got[0];
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for n in &got {
        *counts.entry(*n).or_default() += 1;
    }
    let dups: usize = counts.values().map(|n| n - 1).sum();
    let lost: Vec<u32> = (first..=last).filter(|n| !counts.contains_key(n)).collect();
    let sent_at: BTreeMap<u32, Instant> =
        publisher.nums().into_iter().map(|(t, n)| (n, t)).collect();
    say(&format!(
        "RAN: netns failover: data over a-b-d ({bd1} bytes on b-d, {cd1} on c-d), link b-d down, delivery resumed over a-c-d after {switch:?} \
         (lease {LEASE_MS} ms); {} of {} messages lost in the switch, {dups} duplicated",
        lost.len(),
        last - first + 1
    ));
    if let (Some(l0), Some(l1)) = (lost.first(), lost.last()) {
        let from = down_at.saturating_duration_since(sent_at[l0]);
        let to = sent_at[l1].saturating_duration_since(down_at);
        say(&format!(
            "RAN: netns failover: lost {l0}..={l1}, sent from {} to {} after the link went down",
            offset(sent_at[l0], down_at),
            offset(sent_at[l1], down_at),
        ));
        assert_eq!(
            lost.len() as u32,
            l1 - l0 + 1,
            "the lost messages are not one run: {lost:?}"
        );
        // Only what was in flight on b – d, or sent before the routers saw it die.
        assert!(
            from <= Duration::from_secs(1),
            "lost {l0}, sent {from:?} before"
        );
        assert!(
            to <= switch,
            "lost {l1}, sent {to:?} after, but delivery resumed after {switch:?}"
        );
    }
    assert_eq!(dups, 0, "duplicates after failover");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "messages arrived out of order"
    );
    assert!(
        switch <= Duration::from_millis(LEASE_MS) + Duration::from_secs(1),
        "delivery resumed only after {switch:?} (lease {LEASE_MS} ms + 1 s)"
    );
}
