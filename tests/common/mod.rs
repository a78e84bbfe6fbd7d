//! Helpers shared by the integration tests: opening Plexus and Zenoh sessions on
//! loopback, and bounded waits.
#![allow(dead_code)] // each test file uses its own subset

use std::time::Duration;

use plexus::{Config, Sample, Session, WhatAmI};
use plexus_link::Endpoint;
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
    let loc = z
        .info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("a tcp locator")
        .to_string();
    (z, loc)
}

/// The next sample, within [`WAIT`].
pub async fn recv(rx: &flume::Receiver<Sample>) -> Sample {
    timeout(WAIT, rx.recv_async())
        .await
        .expect("no sample within 10 s")
        .expect("subscriber channel closed")
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

/// Retries `probe` (which publishes, or queries, once) until `arrived` says the far
/// side got it, within [`WAIT`]: declarations travel asynchronously.
pub async fn until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let done = timeout(WAIT, async {
        loop {
            if probe().await {
                return;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{what}: nothing arrived within 10 s");
}

/// Waits (bounded) for up to 100 ms for `rx` to yield an item.
pub async fn arrived<T>(rx: &flume::Receiver<T>) -> bool {
    matches!(
        timeout(Duration::from_millis(100), rx.recv_async()).await,
        Ok(Ok(_))
    )
}

/// Publishes probes on `key` until the far subscriber `rx` sees one (the subscription
/// was routed), then empties `rx`.
pub async fn until_routed(put_on: &Session, key: &str, rx: &flume::Receiver<Sample>) {
    until("the subscription reaching the publisher", || async {
        put_on.put(key, "probe").await.expect("put");
        arrived(rx).await
    })
    .await;
    while rx.try_recv().is_ok() {}
}
