//! Helpers for the tests that run `plexusd`: starting it with an HTTP port, a small
//! HTTP/1.1 client (with chunked bodies and Server-Sent Events), and client sessions in
//! separate processes that a test can kill; and (`daemon.rs`) the daemon with its log
//! lines as they come, its RSS and statistics, and a client that never reads; and
//! (`poll.rs`) the bounded asking of another process for state that nothing announces.
#![allow(dead_code)] // each test file uses its own subset

mod daemon;
#[allow(unused_imports)] // each test file uses its own subset
pub use daemon::*;
pub mod poll;
/// The root tests' bounded waits on samples and access-control checks.
#[path = "../../../tests/common/pubsub.rs"]
pub mod pubsub;
/// The transport tests' hand-driven peer bytes, for the tests that play one against
/// the daemon.
#[path = "../../../transport/tests/common/raw.rs"]
pub mod raw;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// The bound on every single wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running `plexusd`, killed when dropped.
pub struct Plexusd {
    pub child: Child,
    pub lines: tokio::io::Lines<BufReader<ChildStdout>>,
    /// Its TCP locator, e.g. `tcp/127.0.0.1:41234`.
    pub locator: String,
    /// Its HTTP address, e.g. `127.0.0.1:41235`.
    pub http: String,
    pub zid: String,
}

/// Reads lines until one contains `needle`.
pub async fn line_with(
    lines: &mut tokio::io::Lines<BufReader<ChildStdout>>,
    needle: &str,
) -> String {
    let found = timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        Ok(None) => panic!("the output ended before a line with {needle:?}"),
        Err(_) => panic!("no line with {needle:?} within {WAIT:?}"),
    }
}

fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
        .trim_matches('"')
        .to_string()
}

impl Plexusd {
    /// Starts `plexusd` on loopback with an ephemeral TCP port and HTTP port, plus `extra`
    /// arguments.
    pub async fn start(extra: &[&str]) -> Plexusd {
        let mut args = vec!["-l", "tcp/127.0.0.1:0", "--rest-http-port", "127.0.0.1:0"];
        args.extend(extra);
        Plexusd::start_with(&[], &args).await
    }

    /// Starts `plexusd` with `args` (which must give an HTTP port), run through `prefix`
    /// (e.g. `ip netns exec <ns>`) if it is not empty.
    pub async fn start_with(prefix: &[&str], args: &[&str]) -> Plexusd {
        let bin = env!("CARGO_BIN_EXE_plexusd");
        let mut cmd = match prefix.split_first() {
            None => Command::new(bin),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
        };
        let mut child = cmd
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start plexusd");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let started = line_with(&mut lines, "plexusd started").await;
        let zid = field(&started, "zid");
        let locator = field(
            &line_with(&mut lines, "listening locator=").await,
            "locator",
        );
        let http = field(
            &line_with(&mut lines, "REST plugin listening").await,
            "addr",
        );
        Plexusd {
            child,
            lines,
            locator,
            http,
            zid,
        }
    }
}

/// A queryable on `key` in `s` that answers every query with `answer` on the query's key.
pub async fn answering_queryable(
    s: &plexus::Session,
    key: &str,
    answer: &'static str,
) -> plexus::Queryable<()> {
    s.declare_queryable(key)
        .callback(move |q: plexus::Query| {
            tokio::spawn(async move {
                q.reply(q.key_expr().clone(), answer).await.expect("reply");
            });
        })
        .await
        .expect("queryable")
}

/// Gets `key` from `s` until a round brings replies (the queryable's declaration reached
/// `s`'s router), within `within`; returns that round's replies.
pub async fn replies_once_routed(
    s: &plexus::Session,
    key: &str,
    within: Duration,
) -> Vec<plexus::Reply> {
    let what = format!("a reply to {key}");
    poll::until(&what, within, Duration::from_millis(50), async || {
        let rx = s
            .get(key)
            .timeout(Duration::from_secs(2))
            .await
            .expect("get");
        let mut replies = Vec::new();
        while let Ok(r) = rx.recv_async().await {
            replies.push(r);
        }
        if replies.is_empty() {
            return Err("no reply");
        }
        Ok(replies)
    })
    .await
}

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request (with `Connection: close`) and reads the whole response.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    timeout(WAIT, async {
        let (mut reader, status, hdrs) = send(addr, method, path, headers, body, true).await;
        let body = read_body(&mut reader, &hdrs).await;
        HttpResponse {
            status,
            headers: hdrs,
            body,
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no complete response within {WAIT:?}"))
}

async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> (BufReader<TcpStream>, u16, Vec<(String, String)>) {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connect to plexusd's HTTP port");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if close {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).await.expect("write request");
    s.write_all(body).await.expect("write body");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut hdrs = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).await.expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            hdrs.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (r, status, hdrs)
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    })
}

async fn read_chunk(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
    let mut data = vec![0; size + 2];
    r.read_exact(&mut data).await.ok()?;
    data.truncate(size);
    (size > 0).then_some(data)
}

async fn read_body(r: &mut BufReader<TcpStream>, headers: &[(String, String)]) -> Vec<u8> {
    if is_chunked(headers) {
        let mut out = Vec::new();
        while let Some(c) = read_chunk(r).await {
            out.extend(c);
        }
        return out;
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut out = Vec::new();
    match len {
        Some(n) => {
            out.resize(n, 0);
            r.read_exact(&mut out).await.expect("body");
        }
        None => {
            r.read_to_end(&mut out).await.expect("body");
        }
    }
    out
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {}", self.data))
    }
}

/// An open Server-Sent Events stream.
pub struct Sse {
    reader: BufReader<TcpStream>,
    buf: String,
}

impl Sse {
    /// `GET path` with `Accept: text/event-stream`.
    pub async fn open(addr: &str, path: &str) -> Sse {
        let (reader, status, headers) = timeout(
            WAIT,
            send(
                addr,
                "GET",
                path,
                &[("Accept", "text/event-stream")],
                b"",
                false,
            ),
        )
        .await
        .expect("SSE headers within the bound");
        assert_eq!(status, 200, "SSE on {path}");
        let ctype = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(ctype.starts_with("text/event-stream"), "{ctype}");
        Sse {
            reader,
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped).
    pub async fn next(&mut self) -> SseEvent {
        timeout(WAIT, async {
            loop {
                while let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let mut ev = SseEvent {
                        event: "message".into(),
                        data: String::new(),
                    };
                    let mut any = false;
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            ev.event = v.trim().to_string();
                            any = true;
                        } else if let Some(v) = line.strip_prefix("data:") {
                            if !ev.data.is_empty() {
                                ev.data.push('\n');
                            }
                            ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                            any = true;
                        }
                    }
                    if any {
                        return ev;
                    }
                }
                let chunk = read_chunk(&mut self.reader)
                    .await
                    .expect("the SSE stream ended");
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("no SSE event within the bound")
    }

    /// The next event whose JSON key satisfies `pred`.
    pub async fn next_matching(&mut self, pred: impl Fn(&SseEvent) -> bool) -> SseEvent {
        loop {
            let ev = self.next().await;
            if pred(&ev) {
                return ev;
            }
        }
    }
}

/// The name of the ignored test that, run with `PLEXUS_HELPER_CONNECT` set, opens a
/// client session in its own process for the calling test to kill.
pub const HELPER: &str = "helper_client_process";

/// A client session in another process (this test binary, running [`HELPER`]).
pub struct ClientProcess {
    pub child: Child,
    pub zid: String,
}

impl ClientProcess {
    pub async fn start(locator: &str) -> ClientProcess {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--ignored", "--exact", HELPER, "--nocapture"])
            .env("PLEXUS_HELPER_CONNECT", locator)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the client process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = line_with(&mut lines, "HELPER READY").await;
        let zid = ready.split_whitespace().last().expect("zid").to_string();
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ClientProcess { child, zid }
    }

    /// SIGKILL: the process dies without closing its transport.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        let _ = timeout(WAIT, self.child.wait()).await;
    }
}

/// The body of [`HELPER`]: connects, says so, and waits to be killed.
pub async fn helper_body() {
    let Ok(locator) = std::env::var("PLEXUS_HELPER_CONNECT") else {
        return; // run directly with --ignored: nothing to do
    };
    let ep: plexus_link::Endpoint = locator.parse().expect("locator");
    let s = plexus::open(
        plexus::Config::default()
            .with_mode(plexus::WhatAmI::Client)
            .with_connect(vec![ep]),
    )
    .await
    .expect("client session");
    let _sub = s.declare_subscriber("helper/**").await.expect("subscribe");
    println!("HELPER READY {}", s.zid());
    // Until killed (bounded, so a forgotten helper still ends).
    tokio::time::sleep(Duration::from_secs(120)).await;
}
