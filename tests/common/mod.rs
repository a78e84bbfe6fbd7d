//! The test support of the root `tests/`, in one place: opening Plexus and Zenoh
//! sessions on loopback, the built example programs, and bounded waits on events.
//!
//! Every wait here is a `timeout(WAIT, …)` on something that happens (a sample, a reply
//! handler closing, a connectivity event): no test sleeps to let something happen.
#![allow(dead_code)] // each test file uses its own subset

mod pubsub;
#[allow(unused_imports)] // each test file uses its own subset
pub use pubsub::*;

use std::path::PathBuf;
use std::time::Duration;

use plexus::{Config, ConnectivityEvent, Endpoint, Reply, Session, WhatAmI, ZenohId};
use tokio::time::timeout;

/// The bound on every single wait in a test.
pub const WAIT: Duration = Duration::from_secs(10);

/// The payload sizes of the interoperability matrix: empty, small, one byte more than
/// a batch (so fragmented) and 1 MiB.
pub const SIZES: [usize; 4] = [0, 8, 65_537, 1 << 20];

pub fn ep(s: &str) -> Endpoint {
    s.parse().expect("endpoint")
}

/// A recognisable payload of `len` bytes.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A Plexus session in `mode` listening on an ephemeral loopback port, and its locator.
pub async fn plexus_listening(mode: WhatAmI) -> (Session, String) {
    let s = plexus::open(
        Config::default()
            .with_mode(mode)
            .with_listen(vec![ep("tcp/127.0.0.1:0")]),
    )
    .await
    .expect("open a listening Plexus session");
    let loc = s.locators().first().expect("a listener").to_string();
    (s, loc)
}

/// A Plexus session in `mode` that only connects to `to`.
pub async fn plexus_connected(mode: WhatAmI, to: &str) -> Session {
    plexus::open(
        Config::default()
            .with_mode(mode)
            .with_listen(vec![])
            .with_connect(vec![ep(to)]),
    )
    .await
    .expect("open a connecting Plexus session")
}

/// Two Plexus peers: the first listens, the second is connected to it.
pub async fn plexus_pair() -> (Session, Session) {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    (a, b)
}

/// A Plexus peer that neither listens nor connects (everything stays in-process).
pub async fn plexus_alone(timestamping: bool) -> Session {
    plexus::open(
        Config::default()
            .with_mode(WhatAmI::Peer)
            .with_listen(vec![])
            .with_timestamping(timestamping),
    )
    .await
    .expect("open a lone Plexus session")
}

/// Waits until `watcher` has received every declaration `declarer` made so far.
///
/// `declarer` declares a liveliness token on a fresh key, which `watcher` watches:
/// declarations travel in order on a transport, so once the token is seen, everything
/// declared before it (subscribers, queryables) has arrived too.
pub async fn declarations_reached(declarer: &Session, watcher: &Session) {
    let key = format!("test/declared/{}", ZenohId::random());
    let seen = watcher
        .liveliness()
        .declare_subscriber(&key)
        .await
        .expect("liveliness subscriber");
    let token = declarer
        .liveliness()
        .declare_token(&key)
        .await
        .expect("liveliness token");
    let s = timeout(WAIT, seen.recv_async())
        .await
        .expect("the declarations did not arrive within 10 s")
        .expect("liveliness subscriber open");
    assert_eq!(s.key_expr().as_str(), key);
    drop(token);
}

/// The next connectivity event that `pick` accepts, within [`WAIT`] (others are skipped).
pub async fn connectivity<T>(
    events: &flume::Receiver<ConnectivityEvent>,
    what: &str,
    mut pick: impl FnMut(ConnectivityEvent) -> Option<T>,
) -> T {
    timeout(WAIT, async {
        loop {
            let ev = events.recv_async().await.expect("event channel open");
            if let Some(t) = pick(ev) {
                return t;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within 10 s"))
}

/// Every reply until the query ends (its channel closes), within [`WAIT`].
pub async fn replies(rx: flume::Receiver<Reply>) -> Vec<Reply> {
    timeout(WAIT, async {
        let mut out = Vec::new();
        while let Ok(r) = rx.recv_async().await {
            out.push(r);
        }
        out
    })
    .await
    .expect("the query did not end within 10 s")
}

/// The zid as the admin space's spec prints it: upper-case hex.
pub fn upper(zid: &ZenohId) -> String {
    zid.to_string().to_uppercase()
}

/// The built example program `name` (cargo builds a package's examples before its
/// integration tests, into `target/<profile>/examples/`).
pub fn example(name: &str) -> PathBuf {
    // current_exe is target/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example binary {} not found: run `cargo build --examples -p plexus-examples` first",
        path.display()
    );
    path
}

/// A Zenoh 1.10.2 configuration without scouting.
pub fn zenoh_config(mode: &str, connect: Option<&str>, listen: Option<&str>) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", &format!(r#""{mode}""#))
        .expect("mode");
    c.insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    let connect = connect
        .map(|e| format!(r#"["{e}"]"#))
        .unwrap_or("[]".into());
    c.insert_json5("connect/endpoints", &connect)
        .expect("connect");
    let listen = listen.map(|e| format!(r#"["{e}"]"#)).unwrap_or("[]".into());
    c.insert_json5("listen/endpoints", &listen).expect("listen");
    c
}

/// A Zenoh session in `mode` listening on an ephemeral loopback port, and its locator.
pub async fn zenoh_listening(mode: &str) -> (zenoh::Session, String) {
    let z = zenoh::open(zenoh_config(mode, None, Some("tcp/127.0.0.1:0")))
        .await
        .expect("open a listening Zenoh session");
    let loc = zenoh_locator(&z).await;
    (z, loc)
}

/// The TCP locator a Zenoh session listens on.
pub async fn zenoh_locator(z: &zenoh::Session) -> String {
    z.info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("a tcp locator")
        .to_string()
}

/// The next Zenoh sample, within [`WAIT`].
pub async fn zrecv(
    rx: &zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>,
) -> zenoh::sample::Sample {
    timeout(WAIT, rx.recv_async())
        .await
        .expect("Zenoh received nothing within 10 s")
        .expect("Zenoh subscriber channel closed")
}

/// A certificate authority made at test time (rcgen, ECDSA P-256).
pub struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn distinguished(cn: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    dn
}

/// A certificate and its private key, as PEM text.
pub struct Identity {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name = distinguished(cn);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    /// The CA certificate as PEM text.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate with common name `cn`, valid for `localhost` and `127.0.0.1`.
    pub fn issue(&self, cn: &str) -> Identity {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params.distinguished_name = distinguished(cn);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Writes `text` to `name` in `dir`; returns the path as a string.
pub fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write a test file");
    path.display().to_string()
}

/// Log lines of this test binary (INFO and above of the Plexus crates), captured.
static LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static LOG_WRITTEN: tokio::sync::Notify = tokio::sync::Notify::const_new();

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf).into_owned();
        LOG.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        LOG_WRITTEN.notify_waiters();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing the log of this test binary (once; later calls do nothing).
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "plexus_transport=info,plexus=info,plexus_link=info",
            ))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

/// The captured log lines holding every one of `parts`.
pub fn log_lines(parts: &[&str]) -> Vec<String> {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .cloned()
        .collect()
}

/// Waits (within [`WAIT`]) for a captured log line holding every one of `parts`.
pub async fn logged(parts: &[&str]) -> String {
    let found = timeout(WAIT, async {
        loop {
            let written = LOG_WRITTEN.notified();
            if let Some(line) = log_lines(parts).into_iter().next() {
                return line;
            }
            written.await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no log line with {parts:?} within 10 s"))
}
