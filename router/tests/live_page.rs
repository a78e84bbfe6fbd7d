//! The live connectivity page at `/`, in a real headless Chromium driven through the
//! DevTools protocol: a client connects and its row appears within 2 s without a reload;
//! it is killed and the row goes, the event log giving the reason.
//!
//! Chromium is Debian's (`/usr/bin/chromium`, or `PLEXUS_CHROMIUM`); `.ci/run` installs
//! it. Without it the test fails when `CI=true`, and is skipped otherwise. With
//! `PLEXUS_UPDATE_SCREENSHOT=1` it waits for some RTT history and writes the page's
//! picture to `docs/live-page.png`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process, run by the other tests"]
async fn helper_client_process() {
    helper_body().await;
}

/// Chromium starts slowly on a loaded machine.
const BROWSER_WAIT: Duration = Duration::from_secs(30);

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PLEXUS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from("/usr/bin/chromium");
    p.is_file().then_some(p)
}

/// Chromium, or `None` (the test then skips) where it is missing outside CI.
fn chromium_or_skip() -> Option<PathBuf> {
    let exe = chromium();
    if exe.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing: CI must have it (.ci/run installs Debian's chromium)"
        );
        eprintln!("skipped: no chromium (install Debian's chromium to run this test)");
    }
    exe
}

/// A headless Chromium with one page, driven through the DevTools protocol.
struct Browser {
    _child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn launch(exe: &Path) -> Browser {
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("profile dir");
        // The flags that work on this kind of machine (no sandbox as root, no network
        // besides loopback).
        let mut child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1100,620",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        // Chromium says on stderr which port it chose, once it listens there:
        // `DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>`.
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let port = timeout(BROWSER_WAIT, async {
            while let Ok(Some(line)) = err.next_line().await {
                if let Some(port) = line
                    .split_once("DevTools listening on ws://")
                    .and_then(|(_, url)| url.split_once('/'))
                    .and_then(|(addr, _)| addr.rsplit_once(':'))
                    .and_then(|(_, port)| port.parse::<u16>().ok())
                {
                    return Some(port);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromium did not open its DevTools port");
        // Keep draining its stderr so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = err.next_line().await {} });
        // The page it opens becomes a target a little later, without a word.
        let list = format!("127.0.0.1:{port}");
        let what = "chromium having a page target";
        let targets = poll::until(what, BROWSER_WAIT, Duration::from_millis(50), async || {
            let r = http(&list, "GET", "/json/list", &[], b"").await;
            let v = r.json();
            match v
                .as_array()
                .and_then(|a| a.iter().find(|t| t["type"] == "page"))
            {
                Some(page) => Ok(page.clone()),
                None => Err(v),
            }
        })
        .await;
        let url = targets["webSocketDebuggerUrl"]
            .as_str()
            .expect("webSocketDebuggerUrl")
            .to_string();
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("DevTools websocket");
        Browser {
            _child: child,
            ws,
            next_id: 0,
            profile,
        }
    }

    /// Calls a DevTools method and returns its result (events in between are ignored).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws
            .send(Message::from(msg))
            .await
            .expect("send to chromium");
        timeout(BROWSER_WAIT, async {
            while let Some(m) = self.ws.next().await {
                let Ok(Message::Text(t)) = m else { continue };
                let v: Value = serde_json::from_str(t.as_str()).expect("DevTools JSON");
                if v["id"] == id {
                    if let Some(e) = v.get("error") {
                        panic!("{method}: {e}");
                    }
                    return v["result"].clone();
                }
            }
            panic!("the DevTools connection closed");
        })
        .await
        .unwrap_or_else(|_| panic!("{method}: no answer from chromium"))
    }

    /// Evaluates `expr` in the page: its value, or the exception it threw.
    async fn try_eval(&mut self, expr: &str) -> Result<Value, Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true }),
            )
            .await;
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Evaluates `expr` in the page; returns its value.
    async fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr)
            .await
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    /// Opens `url` and waits until its document has loaded (navigation answers before the new
    /// document replaces the old one).
    async fn open(&mut self, url: &str) {
        self.call("Page.enable", json!({})).await;
        self.call("Page.navigate", json!({ "url": url })).await;
        let loaded = format!(
            "location.href === {} && document.readyState === 'complete'",
            Value::String(url.to_string())
        );
        self.until(&loaded, BROWSER_WAIT)
            .await
            .unwrap_or_else(|| panic!("{url} did not load"));
    }

    /// Polls `expr` until it is `true`; returns how long it took, or `None` past `bound`.
    /// An expression that throws (an element not there yet) counts as not yet true. (The
    /// page follows the router through its own SSE stream and polls; nothing tells the
    /// test when it has redrawn.)
    async fn until(&mut self, expr: &str, bound: Duration) -> Option<Duration> {
        let start = Instant::now();
        let every = Duration::from_millis(25);
        poll::ask(bound, every, async || match self.try_eval(expr).await {
            Ok(Value::Bool(true)) => Ok(start.elapsed()),
            other => Err(other),
        })
        .await
        .ok()
    }

    async fn screenshot(&mut self, path: &Path) {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("png data"))
            .expect("base64");
        std::fs::write(path, png).expect("write screenshot");
    }
}

fn row(zid: &str) -> String {
    format!(r#"!!document.querySelector('tr.transport[data-zid="{zid}"]')"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_a_client_coming_and_going_without_reload() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let update = std::env::var("PLEXUS_UPDATE_SCREENSHOT").as_deref() == Ok("1");
    let d = Plexusd::start(&[]).await;
    let stays = ClientProcess::start(&d.locator).await;
    let mut b = Browser::launch(&exe).await;
    b.open(&format!("http://{}/", d.http)).await;
    b.until(
        "document.querySelector('#status') !== null && document.querySelector('#status').className === 'live'",
        BROWSER_WAIT,
    )
    .await
    .expect("the page never went live (SSE connected)");
    b.until(&row(&stays.zid), WAIT)
        .await
        .expect("the client connected before the page loaded is not shown");
    // A mark that a reload would wipe out.
    b.eval("window.__plexusMark = 'no reload'; true").await;

    // A client connects: its row appears within 2 s.
    let comes = ClientProcess::start(&d.locator).await;
    let took = b.until(&row(&comes.zid), Duration::from_secs(2)).await;
    assert!(
        took.is_some(),
        "the new client's row did not appear within 2 s"
    );
    b.until(
        &format!(
            r#"document.querySelector('tr.transport[data-zid="{}"] + tr.link') !== null"#,
            comes.zid
        ),
        WAIT,
    )
    .await
    .expect("the client's link row did not appear");
    assert_eq!(
        b.eval("document.querySelector('#log').textContent")
            .await
            .as_str()
            .map(|t| t.contains(&format!("transport opened: {}", comes.zid))),
        Some(true),
        "the log shows the opening"
    );

    let _extra = if update {
        Some(ClientProcess::start(&d.locator).await)
    } else {
        None
    };
    if update {
        // For the picture: a third client, and some RTT history on every link.
        b.until(
            "[...document.querySelectorAll('[data-history] polyline')].length >= 3 && [...document.querySelectorAll('[data-history] polyline')].every(p => p.getAttribute('points').split(' ').length >= 6)",
            Duration::from_secs(40),
        )
        .await
        .expect("no RTT history for the picture");
    }

    // It is killed: its row goes, the log says why.
    let gone = comes.zid.clone();
    comes.kill().await;
    b.until(&format!("!{}", row(&gone)), WAIT)
        .await
        .expect("the killed client's row is still there");
    let log = b
        .eval("document.querySelector('#log').textContent")
        .await
        .as_str()
        .expect("log text")
        .to_string();
    let closed = format!("transport closed: {}: ", gone);
    let at = log
        .find(&closed)
        .unwrap_or_else(|| panic!("no close in the log: {log}"));
    let reason = &log[at + closed.len()..];
    assert!(
        reason.starts_with("link failed") || reason.starts_with("lease expired"),
        "the log gives the reason: {log}"
    );
    assert_eq!(
        b.eval(&row(&stays.zid)).await,
        Value::Bool(true),
        "the other client's row stays"
    );
    assert_eq!(
        b.eval("window.__plexusMark").await,
        Value::String("no reload".into()),
        "the page was reloaded"
    );

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    b.screenshot(&shot).await;
    if update {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).expect("docs/");
        std::fs::copy(&shot, docs.join("live-page.png")).expect("copy the screenshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_draws_the_router_mesh_with_the_rtt_of_each_own_link() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    // A chain of three routers: the page is d's, in the middle.
    let left = Plexusd::start(&[]).await;
    let d = Plexusd::start(&["-e", left.locator.as_str()]).await;
    let right = Plexusd::start(&["-e", d.locator.as_str()]).await;
    let mut b = Browser::launch(&exe).await;
    b.open(&format!("http://{}/", d.http)).await;
    let edge = |a: &str, z: &str| {
        format!(
            r#"(document.querySelector('#mesh-links tr[data-edge="{a} {z}"]') || document.querySelector('#mesh-links tr[data-edge="{z} {a}"]'))"#
        )
    };
    // Both of d's links show a measured RTT; the graph has the three routers.
    let measured = |z: &str| {
        format!(
            "({e} !== null && /[0-9]/.test({e}.querySelector('[data-rtt]').textContent))",
            e = edge(&d.zid, z)
        )
    };
    let shown = b
        .until(
        &format!(
            "!document.querySelector('#mesh').hidden && {} && {} && document.querySelectorAll('#mesh-graph circle').length === 3",
            measured(&left.zid),
            measured(&right.zid)
        ),
        // The page polls every 2 s; the first RTTs come with the first probes.
        WAIT * 3,
    )
    .await;
    if shown.is_none() {
        let table = b.eval("document.querySelector('#mesh').outerHTML").await;
        panic!("the mesh with d's two links and their RTTs never showed: {table}");
    }
    assert_eq!(
        b.eval(&format!(
            "document.querySelector('#mesh-graph circle[data-node=\"{}\"]').getAttribute('fill')",
            d.zid
        ))
        .await,
        Value::String("#36c".into()),
        "this router is the filled node"
    );
    // The right router goes: its node and link leave the page without a reload.
    b.eval("window.__plexusMark = 'no reload'; true").await;
    let gone = right.zid.clone();
    drop(right);
    b.until(
        &format!(
            "{} === null && document.querySelectorAll('#mesh-graph circle').length === 2",
            edge(&d.zid, &gone)
        ),
        WAIT,
    )
    .await
    .expect("the router that went is still drawn");
    assert_eq!(
        b.eval("window.__plexusMark").await,
        Value::String("no reload".into()),
        "the page was reloaded"
    );
}
