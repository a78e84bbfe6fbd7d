//! Runs the built `plexusd` binary: two client sessions exchange a publication through
//! it, it logs their transports, a bad config file is refused, a config file without a
//! mode keeps router mode without a warning, and SIGTERM stops it.

mod common;

use std::time::Duration;

use common::{Daemon, WAIT, client, signal};
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexusd_routes_between_clients_and_stops_on_sigterm() {
    let mut daemon = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let locator = daemon.locator.clone();

    let sub_side = client(&locator).await;
    let (_, opened) = daemon.line_with("opened", WAIT).await;
    assert!(opened.contains(&sub_side.zid().to_string()), "{opened}");
    assert!(opened.contains("client"), "{opened}");
    let pub_side = client(&locator).await;

    let sub = sub_side
        .declare_subscriber("daemon/**")
        .await
        .expect("subscribe");
    let got = timeout(WAIT, async {
        loop {
            pub_side.put("daemon/x", "via plexusd").await.expect("put");
            if let Ok(Ok(s)) = timeout(Duration::from_millis(100), sub.recv_async()).await {
                return s;
            }
        }
    })
    .await
    .expect("the publication never went through plexusd");
    assert_eq!(got.key_expr().as_str(), "daemon/x");
    assert_eq!(&got.payload()[..], b"via plexusd");

    pub_side.close().await;
    daemon.line_with("closed", WAIT).await;

    signal(daemon.pid, "-TERM");
    daemon.line_with("shutting down", WAIT).await;
    let exit = daemon.exit_status().await;
    assert!(exit.success(), "plexusd exited with {exit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexusd_refuses_a_bad_config_file_and_names_the_key() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plexusd-bad.json5");
    std::fs::write(&path, "{ listen: { endpoints: [\"tcp/127.0.0.1:0\"] }, transport: { link: { tx: { leese: 5 } } } }")
        .expect("write config");
    let out = timeout(
        WAIT,
        Command::new(env!("CARGO_BIN_EXE_plexusd"))
            .args(["-c", path.to_str().expect("utf-8 path")])
            .output(),
    )
    .await
    .expect("plexusd did not exit")
    .expect("run plexusd");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("transport/link/tx/leese"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_without_a_mode_is_no_conflict_with_router_mode() {
    // The file's other keys apply over the router's defaults: no warning about a mode
    // the file never named (it used to say "ignoring mode peer").
    let quiet = Daemon::with_config(
        "nomode",
        Some("{ timestamping: { drop_future_timestamp: true } }"),
    )
    .await;
    assert!(
        !quiet.seen().iter().any(|l| l.contains("ignoring mode")),
        "{:#?}",
        quiet.seen()
    );
    // A mode the file names is overridden, and said so.
    let warned = Daemon::with_config("peermode", Some("{ mode: \"peer\" }")).await;
    assert!(
        warned
            .seen()
            .iter()
            .any(|l| l.contains("ignoring mode peer from the config")),
        "{:#?}",
        warned.seen()
    );
}
