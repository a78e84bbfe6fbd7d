//! Peers and clients expose the same admin space, REST API and metrics as `plexusd` when
//! their configuration asks for it, and stop when the value `start` returned is dropped.

use std::time::Duration;

use plexus::{Config, Session, WhatAmI};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// `GET path` with `Connection: close`; the status and the body (the server sends a
/// `Content-Length` for these responses).
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("a response within the bound")?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

fn config(mode: WhatAmI, json5: &str) -> Config {
    let mut c = Config::from_json5(json5).expect("config");
    c = c.with_mode(mode);
    c
}

async fn get_json(s: &Session, selector: &str) -> Vec<(String, Value)> {
    let replies = s.get(selector).await.expect("get");
    let mut out = Vec::new();
    timeout(WAIT, async {
        while let Ok(r) = replies.recv_async().await {
            if let Ok(sample) = r.result() {
                out.push((
                    sample.key_expr().to_string(),
                    serde_json::from_slice(sample.payload()).unwrap_or(Value::Null),
                ));
            }
        }
    })
    .await
    .expect("the query did not end");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serves_the_admin_space_rest_and_metrics_when_configured() {
    let peer = plexus::open(config(
        WhatAmI::Peer,
        r#"{ listen: { endpoints: ["tcp/127.0.0.1:0"] },
             adminspace: { enabled: true },
             metadata: { name: "edge-1" },
             plugins: { rest: { http_port: "127.0.0.1:0" } } }"#,
    ))
    .await
    .expect("peer");
    let monitoring = plexus_plugin_rest::start(&peer).await.expect("start");
    let addr = monitoring.rest_addr().expect("REST is configured");
    let loc = peer.locators()[0].to_string();
    let client = plexus::open(
        Config::default()
            .with_mode(WhatAmI::Client)
            .with_connect(vec![loc.parse().expect("locator")]),
    )
    .await
    .expect("client");

    // A remote session reads `@/<zid>/peer`, as from a Zenoh peer with its admin space on.
    let root = format!("@/{}/peer", peer.zid());
    let replies = get_json(&client, &root).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    let (key, v) = &replies[0];
    assert_eq!(key, &root);
    assert_eq!(v["metadata"]["name"], "edge-1");
    assert_eq!(v["sessions"][0]["peer"], client.zid().to_string());
    assert_eq!(v["sessions"][0]["whatami"], "client");
    assert_eq!(v["plugins"]["rest"]["name"], "rest");

    // The same over HTTP, and the metrics.
    let (status, body) = get(addr, "/@/local/peer").await.expect("GET");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v[0]["value"]["zid"], peer.zid().to_string());
    let (status, metrics) = get(addr, "/metrics").await.expect("GET /metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"plexus_transports_open{whatami="client"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"local_whatami="peer""#), "{metrics}");

    // Dropping what `start` returned stops the HTTP server and withdraws the admin space.
    drop(monitoring);
    timeout(WAIT, async {
        while get(addr, "/@/local/peer").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the HTTP server still answers");
    timeout(WAIT, async {
        while !get_json(&client, &root).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the admin space still answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_serves_rest_without_an_admin_space_by_default() {
    let peer = plexus::open(config(
        WhatAmI::Peer,
        r#"{ listen: { endpoints: ["tcp/127.0.0.1:0"] } }"#,
    ))
    .await
    .expect("peer");
    let loc = peer.locators()[0].to_string();
    let client = plexus::open(config(
        WhatAmI::Client,
        &format!(
            r#"{{ connect: {{ endpoints: ["{loc}"] }}, plugins: {{ rest: {{ http_port: "127.0.0.1:0" }} }} }}"#
        ),
    ))
    .await
    .expect("client");
    let monitoring = plexus_plugin_rest::start(&client).await.expect("start");
    assert!(
        monitoring.admin_space().is_none(),
        "off for clients, as in Zenoh"
    );
    let addr = monitoring.rest_addr().expect("REST");
    let (status, body) = get(addr, "/@/local/session/**").await.expect("GET");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let keys: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    let transport = format!(
        "@/{}/session/transport/unicast/{}",
        client.zid(),
        peer.zid()
    );
    assert!(keys.contains(&transport.as_str()), "{keys:?}");
    // Without an admin space, `@/local/client` has nothing.
    let (status, body) = get(addr, "/@/local/client").await.expect("GET");
    assert_eq!((status, body.as_str()), (200, "[]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rest_settings_are_refused_with_the_key() {
    let s = plexus::open(config(
        WhatAmI::Peer,
        r#"{ listen: { endpoints: [] }, plugins: { rest: { http_port: "not a port" } } }"#,
    ))
    .await
    .expect("session");
    let e = plexus_plugin_rest::start(&s).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("plugins/rest/http_port: expected a port number"),
        "{e}"
    );

    // A port in use.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let s = plexus::open(config(
        WhatAmI::Peer,
        &format!(r#"{{ listen: {{ endpoints: [] }}, plugins: {{ rest: {{ http_port: "127.0.0.1:{port}" }} }} }}"#),
    ))
    .await
    .expect("session");
    let e = plexus_plugin_rest::start(&s).await.unwrap_err();
    assert!(matches!(e, plexus_plugin_rest::Error::Bind { .. }), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}
