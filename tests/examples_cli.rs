//! Runs the built `z_*` example programs as a newcomer would, and checks what they print.
//!
//! Cargo builds a package's examples before its integration tests, so the binaries are in
//! `target/<profile>/examples/`. Every wait is bounded and every child is killed when its
//! handle is dropped, so a hung example fails the test instead of hanging it.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::example;

/// How long a line or an exit may take (generous: debug builds on a loaded machine).
const WAIT: Duration = Duration::from_secs(20);

/// A running example: its stdout as lines, its stderr collected; killed when dropped.
struct Proc {
    name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// Kept open so programs that quit at end of input keep running; see [`Proc::type_line`].
    stdin: Option<std::process::ChildStdin>,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(example(name))
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            name: format!("{name} {}", args.join(" ")),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            stdin,
        }
    }

    /// Types a line on the program's standard input.
    fn type_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    fn report(&self) -> String {
        format!(
            "`{}`\n--- stdout so far:\n{}\n--- stderr:\n{}",
            self.name,
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Reads lines until one satisfies `pred`, and returns it; panics after [`WAIT`].
    fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line {what} within {WAIT:?} from {}", self.report())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed before a line {what} from {}", self.report())
                }
            }
        }
    }

    /// Expects the exact line `want`.
    fn expect_line(&mut self, want: &str) {
        self.expect(&format!("{want:?}"), |l| l == want);
    }

    /// Waits for the process to exit by itself; returns its status and every stdout line.
    fn wait_exit(mut self) -> (ExitStatus, Vec<String>, String) {
        // The stdout pipe closes when the process exits: wait for that event (bounded),
        // keeping every line, then reap the process.
        let deadline = Instant::now() + WAIT;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("did not exit within {WAIT:?}: {}", self.report())
                }
            }
        }
        let status = self.child.wait().expect("wait");
        // The process is gone, so its stderr pipe is closed: the reader ends.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr.lock().unwrap().clone();
        (status, std::mem::take(&mut self.seen), stderr)
    }

    /// Reads the `Listening on tcp/127.0.0.1:<port>` line and returns the port.
    fn listening_port(&mut self) -> u16 {
        let line = self.expect("`Listening on tcp/127.0.0.1:<port>`", |l| {
            l.starts_with("Listening on tcp/127.0.0.1:")
        });
        line.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    /// Reads the `Session zid: <zid>` line and returns the zid.
    fn session_zid(&mut self) -> String {
        let line = self.expect("`Session zid: <zid>`", |l| l.starts_with("Session zid: "));
        line["Session zid: ".len()..].to_string()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an example to completion and checks it succeeded; returns its stdout lines.
fn run_ok(name: &str, args: &[&str]) -> Vec<String> {
    let p = Proc::spawn(name, args);
    let cmd = p.name.clone();
    let (status, lines, stderr) = p.wait_exit();
    assert!(
        status.success(),
        "`{cmd}` failed ({status})\n--- stdout:\n{}\n--- stderr:\n{stderr}",
        lines.join("\n")
    );
    lines
}

fn is_zid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn put_and_delete_reach_a_subscriber() {
    let mut sub = Proc::spawn(
        "z_sub",
        &["-m", "peer", "-l", "tcp/127.0.0.1:0", "-k", "demo/**"],
    );
    sub.expect_line("Opening session...");
    let port = sub.listening_port();
    sub.expect_line("Declaring Subscriber on 'demo/**'...");
    sub.expect_line("Enter 'q' to quit...");
    let endpoint = format!("tcp/127.0.0.1:{port}");

    let out = run_ok("z_put", &["-e", &endpoint, "-k", "demo/a", "-p", "hi"]);
    assert_eq!(
        out,
        ["Opening session...", "Putting Data ('demo/a': 'hi')..."],
        "z_put's output"
    );
    sub.expect_line(">> [Subscriber] Received PUT ('demo/a': 'hi')");

    let out = run_ok("z_delete", &["-e", &endpoint, "-k", "demo/a"]);
    assert_eq!(
        out,
        [
            "Opening session...",
            "Deleting resources matching 'demo/a'..."
        ],
        "z_delete's output"
    );
    sub.expect_line(">> [Subscriber] Received DELETE ('demo/a': '')");

    // z_sub quits cleanly on SIGTERM (as on CTRL-C), not when its stdin is closed.
    #[cfg(unix)]
    {
        let pid = sub.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        if killed.is_ok_and(|s| s.success()) {
            let (status, _, stderr) = sub.wait_exit();
            assert!(status.success(), "z_sub after SIGTERM: {status}\n{stderr}");
        }
    }
}

#[test]
fn get_reaches_a_queryable_and_info_lists_it() {
    let mut qbl = Proc::spawn(
        "z_queryable",
        &["-l", "tcp/127.0.0.1:0", "-k", "demo/q", "-p", "answer"],
    );
    qbl.expect_line("Opening session...");
    let qbl_zid = qbl.session_zid();
    assert!(is_zid(&qbl_zid), "queryable zid {qbl_zid:?}");
    let port = qbl.listening_port();
    qbl.expect_line("Declaring Queryable on 'demo/q'...");
    qbl.expect_line("Press CTRL-C to quit...");
    let endpoint = format!("tcp/127.0.0.1:{port}");

    // z_get exits by itself once the queryable has answered, long before its timeout
    // of ten minutes (`run_ok` waits at most 20 s).
    let out = run_ok("z_get", &["-e", &endpoint, "-s", "demo/**", "-o", "600000"]);
    assert_eq!(
        out,
        [
            "Opening session...",
            "Sending Query 'demo/**'...",
            ">> Received ('demo/q': 'answer')"
        ],
        "z_get's output"
    );
    qbl.expect_line(">> [Queryable ] Received Query 'demo/**'");
    qbl.expect_line(">> [Queryable ] Responding ('demo/q': 'answer')");

    // A query payload is shown by the queryable.
    let out = run_ok("z_get", &["-e", &endpoint, "-s", "demo/q", "-p", "please"]);
    assert!(
        out.iter().any(|l| l == ">> Received ('demo/q': 'answer')"),
        "{out:?}"
    );
    qbl.expect_line(">> [Queryable ] Received Query 'demo/q' with payload 'please'");

    let out = run_ok("z_info", &["-e", &endpoint]);
    assert_eq!(out.len(), 4, "z_info's output: {out:?}");
    assert_eq!(out[0], "Opening session...");
    let zid = out[1]
        .strip_prefix("zid: ")
        .unwrap_or_else(|| panic!("{:?}", out[1]));
    assert!(is_zid(zid) && zid != qbl_zid, "z_info's own zid {zid:?}");
    assert_eq!(out[2], "routers zid: []");
    assert_eq!(out[3], format!("peers zid: [{qbl_zid}]"));
}

#[test]
fn bad_flag_values_are_reported() {
    let (status, _, stderr) = Proc::spawn("z_put", &["-m", "pear"]).wait_exit();
    assert!(!status.success(), "z_put -m pear succeeded");
    assert!(
        stderr.contains("pear") && stderr.contains("--mode"),
        "stderr: {stderr}"
    );

    let (status, _, stderr) = Proc::spawn("z_put", &["-e", "tcp/127.0.0.1"]).wait_exit();
    assert!(!status.success(), "z_put -e tcp/127.0.0.1 succeeded");
    assert!(
        stderr.contains("tcp/127.0.0.1") && stderr.contains("port"),
        "stderr: {stderr}"
    );

    let (status, _, stderr) = Proc::spawn("z_get", &["-t", "SOME"]).wait_exit();
    assert!(!status.success(), "z_get -t SOME succeeded");
    assert!(
        stderr.contains("SOME") && stderr.contains("BEST_MATCHING"),
        "stderr: {stderr}"
    );
}

/// The admin-space transcripts of `../shared/seeds/zenoh-connectivity-status-and-events.md`,
/// printed by the three examples against live peers.
#[test]
fn admin_space_examples_print_the_spec_transcripts() {
    let zid = "[0-9A-F]+";
    let transport = format!(r#"@/session/{zid}/transport/unicast/{zid}"#);
    let link = format!(r#"{transport}/link/[0-9]+"#);
    let transport_json = r#"\{"zid":"[0-9A-F]+","whatami":"(router|peer|client)","is_qos":(true|false),"is_shm":(true|false)[^']*\}"#;
    let link_json = r#"\{"src":"[a-z]+/[^"]+","dst":"[a-z]+/[^"]+","group":null,"mtu":[0-9]+,"is_reliable":(true|false),"is_streamed":(true|false)[^']*\}"#;
    let re = |s: String| regex::Regex::new(&format!("^{s}$")).expect("regex");
    let get_transport = re(format!(
        r#">> Received \('{transport}': '{transport_json}'\)"#
    ));
    let get_link = re(format!(r#">> Received \('{link}': '{link_json}'\)"#));
    let sub_transport_put = re(format!(
        r#">> \[Subscriber\] Received PUT \('{transport}': '{transport_json}'\)"#
    ));
    let sub_link_put = re(format!(
        r#">> \[Subscriber\] Received PUT \('{link}': '{link_json}'\)"#
    ));
    let sub_link_delete = re(format!(
        r#">> \[Subscriber\] Received DELETE \('{link}': ''\)"#
    ));
    let sub_transport_delete = re(format!(
        r#">> \[Subscriber\] Received DELETE \('{transport}': ''\)"#
    ));

    // z_sub on @/session/**, listening.
    let mut sub = Proc::spawn(
        "z_sub",
        &["-m", "peer", "-l", "tcp/127.0.0.1:0", "-k", "@/session/**"],
    );
    sub.expect_line("Opening session...");
    let port = sub.listening_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    sub.expect_line("Declaring Subscriber on '@/session/**'...");
    sub.expect_line("Enter 'q' to quit...");

    // z_get from another session connected to it: its own transport and link.
    let out = run_ok(
        "z_get",
        &["-m", "peer", "-e", &endpoint, "-s", "@/session/**"],
    );
    assert_eq!(
        out.first().map(String::as_str),
        Some("Opening session..."),
        "{out:?}"
    );
    assert!(
        out.contains(&"Sending Query '@/session/**'...".to_string()),
        "{out:?}"
    );
    assert!(
        out.iter().any(|l| get_transport.is_match(l)),
        "no transport line in {out:?}"
    );
    assert!(
        out.iter().any(|l| get_link.is_match(l)),
        "no link line in {out:?}"
    );

    // z_sub saw that session come and go: transport Put, link Put, link Delete, transport Delete.
    sub.expect("a transport PUT", |l| sub_transport_put.is_match(l));
    sub.expect("a link PUT", |l| sub_link_put.is_match(l));
    sub.expect("a link DELETE", |l| sub_link_delete.is_match(l));
    sub.expect("a transport DELETE", |l| sub_transport_delete.is_match(l));

    // z_query_sub connected to z_sub: its transport predates the declaration, so it comes
    // from the initial query; `d` queries again; `q` quits.
    let mut qs = Proc::spawn(
        "z_query_sub",
        &["-m", "peer", "-e", &endpoint, "-k", "@/session/**"],
    );
    qs.expect_line("Opening session...");
    qs.expect_line(
        "Declaring QueryingSubscriber on @/session/** with an initial query on @/session/**",
    );
    qs.expect_line("Enter 'd' to issue the query again, or 'q' to quit...");
    qs.expect("a transport PUT from the query", |l| {
        sub_transport_put.is_match(l)
    });
    qs.expect("a link PUT from the query", |l| sub_link_put.is_match(l));
    qs.type_line("d");
    qs.expect("the transport again after 'd'", |l| {
        sub_transport_put.is_match(l)
    });
    qs.type_line("q");
    let (status, _, stderr) = qs.wait_exit();
    assert!(
        status.success(),
        "z_query_sub exited with {status}: {stderr}"
    );
    sub.type_line("q");
    let (status, _, stderr) = sub.wait_exit();
    assert!(status.success(), "z_sub exited with {status}: {stderr}");
}
