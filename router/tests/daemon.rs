//! Runs the built `plexusd` binary: it listens, accepts a transport, logs it, and stops
//! cleanly on SIGTERM.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use plexus_link::Endpoint;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

struct Quiet;

impl TransportHandler for Quiet {
    fn opened(&self, _t: &Transport) -> Arc<dyn PeerHandler> {
        Arc::new(Quiet)
    }
}

impl PeerHandler for Quiet {
    fn message(&self, _msg: NetworkMessage) {}
    fn event(&self, _event: TransportEvent) {}
}

/// Reads lines until one contains `needle`; returns it.
async fn line_with(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    needle: &str,
) -> String {
    let found = timeout(Duration::from_secs(10), async {
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
        Ok(None) => panic!("plexusd's output ended before a line with {needle:?}"),
        Err(_) => panic!("no line with {needle:?} within 10 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexusd_accepts_a_transport_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plexusd"))
        .args(["-l", "tcp/127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start plexusd");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let listening = line_with(&mut lines, "listening").await;
    let locator = listening
        .split_whitespace()
        .find_map(|w| w.strip_prefix("locator="))
        .expect("the listening line names the locator")
        .to_string();

    let mgr = TransportManager::new(
        TransportConfig::new(ZenohId::random(), WhatAmI::Client),
        Arc::new(Quiet),
    );
    let ep: Endpoint = locator.parse().expect("locator parses as an endpoint");
    let t = timeout(Duration::from_secs(10), mgr.connect(&ep))
        .await
        .expect("connect timed out")
        .expect("connect");
    assert_eq!(t.whatami(), WhatAmI::Router);
    let opened = line_with(&mut lines, "transport opened").await;
    assert!(opened.contains(&mgr.zid().to_string()), "{opened}");
    assert!(opened.contains("client"), "{opened}");

    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    line_with(&mut lines, "shutting down").await;
    let exit = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("plexusd did not exit")
        .expect("wait");
    assert!(exit.success(), "plexusd exited with {exit}");
}
