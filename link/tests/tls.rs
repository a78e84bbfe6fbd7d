//! TLS links over loopback, with certificates made by each test (rcgen): server
//! authentication, mTLS, refusals with their reasons, name checks, endpoint overrides and
//! concurrent handshakes.
#![cfg(feature = "tls")]

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use plexus_link::{
    Endpoint, Link, LinkConfig, LinkError, Listener, Pem, TlsConfig, connect, listen,
};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}

fn ep(s: &str) -> Endpoint {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
}

/// A certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn dn(cn: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    dn
}

impl Ca {
    fn new(cn: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name = dn(cn);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    fn pem(&self) -> Pem {
        Pem::Raw(self.cert.pem())
    }

    /// A certificate for `cn` valid for `names` (DNS names or IP addresses): (cert, key).
    fn issue(&self, cn: &str, names: &[&str]) -> (Pem, Pem) {
        let key = rcgen::KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params.distinguished_name = dn(cn);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        (Pem::Raw(cert.pem()), Pem::Raw(key.serialize_pem()))
    }
}

fn server_config(ca: &Ca, cn: &str) -> LinkConfig {
    let (cert, key) = ca.issue(cn, &["localhost", "127.0.0.1"]);
    let mut config = LinkConfig::default();
    config.tls.listen_certificate = Some(cert);
    config.tls.listen_private_key = Some(key);
    config
}

fn client_config(ca: &Ca) -> LinkConfig {
    let mut config = LinkConfig {
        connect_timeout: Duration::from_secs(5),
        ..LinkConfig::default()
    };
    config.tls.root_ca_certificate = Some(ca.pem());
    config
}

fn with_mtls(mut server: LinkConfig, client_ca: &Ca) -> LinkConfig {
    server.tls.enable_mtls = true;
    server.tls.root_ca_certificate = Some(client_ca.pem());
    server
}

fn with_client_cert(mut client: LinkConfig, ca: &Ca, cn: &str) -> LinkConfig {
    let (cert, key) = ca.issue(cn, &["client.invalid"]);
    client.tls.enable_mtls = true;
    client.tls.connect_certificate = Some(cert);
    client.tls.connect_private_key = Some(key);
    client
}

async fn tls_listener(config: &LinkConfig) -> (Listener, Endpoint) {
    let listener = listen(&ep("tls/127.0.0.1:0"), config)
        .await
        .expect("listen on tls");
    let to = listener.locator().to_endpoint();
    (listener, to)
}

/// Connects and accepts: (client result, server result).
async fn attempt(
    listener: &mut Listener,
    to: &Endpoint,
    client: &LinkConfig,
) -> (Result<Link, LinkError>, Result<Link, LinkError>) {
    within("connect+accept", async {
        tokio::join!(connect(to, client), listener.accept())
    })
    .await
}

/// Sends a little each way and checks it arrives.
async fn exchange(client: &mut Link, server: &mut Link) {
    within("exchange", async {
        client
            .write_vectored_all(&[b"he", b"llo"])
            .await
            .expect("client write");
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.expect("server read");
        assert_eq!(&got, b"hello");
        server.write_all(b"pong").await.expect("server write");
        let mut got = [0u8; 4];
        client.read_exact(&mut got).await.expect("client read");
        assert_eq!(&got, b"pong");
    })
    .await;
}

#[tokio::test]
async fn tls_link_carries_bytes_both_ways_and_names_the_server() {
    let ca = Ca::new("test CA");
    let (mut listener, to) = tls_listener(&server_config(&ca, "router-a")).await;
    assert_eq!(listener.locator().protocol(), "tls");
    let (client, server) = attempt(&mut listener, &to, &client_config(&ca)).await;
    let (mut client, mut server) = (client.expect("connect"), server.expect("accept"));
    assert_eq!(client.dst(), server.src());
    assert_eq!(client.src(), server.dst());
    assert_eq!(client.dst().to_string(), listener.locator().to_string());
    assert!(client.is_streamed() && client.is_reliable());
    assert!(client.mtu() > 1024, "mtu {}", client.mtu());
    assert_eq!(client.info().auth_identifier(), Some("router-a"));
    assert_eq!(
        server.info().auth_identifier(),
        None,
        "no client certificate without mTLS"
    );
    exchange(&mut client, &mut server).await;

    // Half a MiB each way at once, through the split halves.
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up: Vec<u8> = (0..(1 << 19)).map(|i: u32| (i % 253) as u8).collect();
    let down: Vec<u8> = up.iter().rev().copied().collect();
    let (u, d) = (up.clone(), down.clone());
    within("half a MiB each way", async move {
        let send_up = async {
            cw.write_all(&u).await.expect("write up");
            cw.close().await.expect("close up");
        };
        let send_down = async {
            sw.write_all(&d).await.expect("write down");
            sw.close().await.expect("close down");
        };
        let mut got_up = vec![0u8; u.len()];
        let mut got_down = vec![0u8; d.len()];
        let recv_up = sr.read_exact(&mut got_up);
        let recv_down = cr.read_exact(&mut got_down);
        let (_, _, a, b) = tokio::join!(send_up, send_down, recv_up, recv_down);
        a.expect("read up");
        b.expect("read down");
        assert!(got_up == up && got_down == down, "bytes differ");
        // close_notify then end of stream.
        let mut end = [0u8; 1];
        assert_eq!(sr.read(&mut end).await.expect("eof"), 0);
    })
    .await;
}

#[tokio::test]
async fn mtls_names_both_sides() {
    let ca = Ca::new("test CA");
    let server = with_mtls(server_config(&ca, "router-a"), &ca);
    let (mut listener, to) = tls_listener(&server).await;
    let client = with_client_cert(client_config(&ca), &ca, "alice-device");
    let (client, server) = attempt(&mut listener, &to, &client).await;
    let (mut client, mut server) = (client.expect("connect"), server.expect("accept"));
    assert_eq!(client.info().auth_identifier(), Some("router-a"));
    assert_eq!(server.info().auth_identifier(), Some("alice-device"));
    exchange(&mut client, &mut server).await;
}

#[tokio::test]
async fn mtls_refuses_a_client_certificate_from_another_ca_with_reasons_on_both_sides() {
    let ca = Ca::new("test CA");
    let rogue = Ca::new("rogue CA");
    let server = with_mtls(server_config(&ca, "router-a"), &ca);
    let (mut listener, to) = tls_listener(&server).await;
    let client = with_client_cert(client_config(&ca), &rogue, "mallory");
    let (client, server) = attempt(&mut listener, &to, &client).await;
    let err = server.expect_err("the server refuses the client certificate");
    assert!(matches!(err, LinkError::Tls { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("not signed by a CA we trust (unknown issuer)"),
        "{err}"
    );
    // TLS 1.3: the client learns of the refusal on its first read.
    let mut client = client.expect("the client's side of the handshake completes");
    let err = within("client read", async {
        let _ = client.write_all(b"hello").await;
        let mut buf = [0u8; 16];
        client.read(&mut buf).await.expect_err("refused")
    })
    .await;
    assert!(
        err.to_string()
            .contains("the peer refused our certificate: it is not signed by a CA the peer trusts"),
        "{err}"
    );

    // The listener still works afterwards.
    let good = with_client_cert(client_config(&ca), &ca, "alice");
    let (client, server) = attempt(&mut listener, &to, &good).await;
    exchange(&mut client.expect("connect"), &mut server.expect("accept")).await;
}

#[tokio::test]
async fn mtls_refuses_a_client_without_certificate() {
    let ca = Ca::new("test CA");
    let server = with_mtls(server_config(&ca, "router-a"), &ca);
    let (mut listener, to) = tls_listener(&server).await;
    let (client, server) = attempt(&mut listener, &to, &client_config(&ca)).await;
    let err = server.expect_err("refused");
    assert!(
        err.to_string().contains("presented no client certificate"),
        "{err}"
    );
    let mut client = client.expect("the client's side of the handshake completes");
    let err = within("client read", async {
        let mut buf = [0u8; 16];
        client.read(&mut buf).await.expect_err("refused")
    })
    .await;
    assert!(
        err.to_string().contains("requires a client certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused_by_the_client() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let (mut listener, to) = tls_listener(&server_config(&other, "router-x")).await;
    let (client, server) = attempt(&mut listener, &to, &client_config(&ca)).await;
    let err = client.expect_err("unknown CA");
    assert!(matches!(err, LinkError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown issuer"), "{err}");
    let err = server.expect_err("the client aborts");
    assert!(
        err.to_string().contains("the peer refused our certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn verify_name_on_connect_checks_the_host_unless_disabled() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.issue("elsewhere", &["elsewhere.example"]);
    let mut server = LinkConfig::default();
    server.tls.listen_certificate = Some(cert);
    server.tls.listen_private_key = Some(key);
    let (mut listener, to) = tls_listener(&server).await;
    let (client, server_side) = attempt(&mut listener, &to, &client_config(&ca)).await;
    let err = client.expect_err("name mismatch");
    assert!(
        err.to_string()
            .contains("does not name the host we connected to"),
        "{err}"
    );
    assert!(server_side.is_err());

    let mut lax = client_config(&ca);
    lax.tls.verify_name_on_connect = false;
    let (client, server_side) = attempt(&mut listener, &to, &lax).await;
    let (mut client, mut server_side) = (client.expect("chain only"), server_side.expect("ok"));
    assert_eq!(client.info().auth_identifier(), Some("elsewhere"));
    exchange(&mut client, &mut server_side).await;

    // The same switch per endpoint; a foreign CA still fails without name checks.
    let strict = client_config(&ca);
    let to_lax = ep(&format!("{to}#verify_name_on_connect=false"));
    let (client, server_side) = attempt(&mut listener, &to_lax, &strict).await;
    assert!(client.is_ok() && server_side.is_ok());
    let other = Ca::new("other CA");
    let mut foreign = client_config(&other);
    foreign.tls.verify_name_on_connect = false;
    let (client, _) = attempt(&mut listener, &to, &foreign).await;
    let err = client.expect_err("unknown CA");
    assert!(err.to_string().contains("unknown issuer"), "{err}");
}

#[tokio::test]
async fn endpoint_config_gives_certificates_in_base64_and_files() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.issue("router-b", &["localhost"]);
    let b64 = |p: &Pem| match p {
        Pem::Raw(text) => base64::engine::general_purpose::STANDARD.encode(text),
        other => panic!("{other:?}"),
    };
    let listen_on = ep(&format!(
        "tls/127.0.0.1:0#listen_certificate_base64={};listen_private_key_base64={}",
        b64(&cert),
        b64(&key)
    ));
    let mut listener = listen(&listen_on, &LinkConfig::default())
        .await
        .expect("listen with base64 endpoint config");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).expect("write CA");
    // By name (SNI `localhost`) with the CA from a file named in the endpoint.
    let port = listener
        .locator()
        .address()
        .rsplit_once(':')
        .expect("port")
        .1
        .to_owned();
    let to = ep(&format!(
        "tls/localhost:{port}#root_ca_certificate_file={}",
        ca_file.display()
    ));
    let (client, server) = attempt(&mut listener, &to, &LinkConfig::default()).await;
    let (mut client, mut server) = (client.expect("connect"), server.expect("accept"));
    assert_eq!(client.info().auth_identifier(), Some("router-b"));
    exchange(&mut client, &mut server).await;

    // The endpoint's entry wins over the link config's.
    let mut config = LinkConfig::default();
    config.tls.root_ca_certificate = Some(Pem::File(dir.path().join("missing.pem")));
    let (client, server) = attempt(&mut listener, &to, &config).await;
    assert!(client.is_ok() && server.is_ok());
}

#[tokio::test]
async fn bad_tls_configuration_is_named() {
    let ca = Ca::new("test CA");
    let no_cert = listen(&ep("tls/127.0.0.1:0"), &LinkConfig::default())
        .await
        .expect_err("no certificate");
    assert!(
        matches!(no_cert, LinkError::TlsConfig { .. }),
        "{no_cert:?}"
    );
    assert!(
        no_cert
            .to_string()
            .contains("listening on TLS needs `transport/link/tls/listen_certificate`"),
        "{no_cert}"
    );

    let mut mtls = server_config(&ca, "router");
    mtls.tls.enable_mtls = true;
    let err = listen(&ep("tls/127.0.0.1:0"), &mtls)
        .await
        .expect_err("no CA");
    assert!(
        err.to_string()
            .contains("`enable_mtls` needs `transport/link/tls/root_ca_certificate`"),
        "{err}"
    );

    let mut missing = LinkConfig::default();
    missing.tls.listen_certificate = Some(Pem::File("/nonexistent/cert.pem".into()));
    missing.tls.listen_private_key = Some(Pem::File("/nonexistent/key.pem".into()));
    let err = listen(&ep("tls/127.0.0.1:0"), &missing)
        .await
        .expect_err("missing file");
    assert!(
        err.to_string().contains(
            "`transport/link/tls/listen_certificate` (/nonexistent/cert.pem): cannot read"
        ),
        "{err}"
    );

    let mut garbage = server_config(&ca, "router");
    garbage.tls.listen_private_key = Some(Pem::Base64("%%%".into()));
    let err = listen(&ep("tls/127.0.0.1:0"), &garbage)
        .await
        .expect_err("bad base64");
    assert!(
        err.to_string()
            .contains("`transport/link/tls/listen_private_key_base64`: not valid base64"),
        "{err}"
    );

    let (_, other_key) = ca.issue("other", &["localhost"]);
    let mut mismatch = server_config(&ca, "router");
    mismatch.tls.listen_private_key = Some(other_key);
    let err = listen(&ep("tls/127.0.0.1:0"), &mismatch)
        .await
        .expect_err("key of another certificate");
    assert!(err.to_string().contains("do not fit"), "{err}");

    let err = connect(
        &ep("tls/127.0.0.1:1#enable_mtls=yes"),
        &LinkConfig::default(),
    )
    .await
    .expect_err("bad flag");
    assert!(
        err.to_string()
            .contains("invalid config value `enable_mtls=yes`"),
        "{err}"
    );
    let err = connect(&ep("tls/127.0.0.1:1#enable_mtls=true"), &client_config(&ca))
        .await
        .expect_err("no client certificate");
    assert!(
        err.to_string().contains(
            "connecting with `enable_mtls` needs `transport/link/tls/connect_certificate`"
        ),
        "{err}"
    );
    let err = connect(
        &ep("tls/127.0.0.1:1#root_ca_certificate_file=/a;root_ca_certificate_base64=b"),
        &LinkConfig::default(),
    )
    .await
    .expect_err("two forms");
    assert!(err.to_string().contains("give only one of"), "{err}");
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_others_and_times_out() {
    let ca = Ca::new("test CA");
    let listen_on = ep("tls/127.0.0.1:0#tls_handshake_timeout_ms=500");
    let mut listener = listen(&listen_on, &server_config(&ca, "router"))
        .await
        .expect("listen");
    let to = listener.locator().to_endpoint();
    let addr = listener.locator().address().to_owned();
    // A TCP connection that starts a TLS hello and then says nothing more.
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("tcp connect");
    silent.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    // A real client gets through meanwhile.
    let (client, server) = attempt(&mut listener, &to, &client_config(&ca)).await;
    exchange(&mut client.expect("connect"), &mut server.expect("accept")).await;
    // Then the silent one is dropped at its handshake deadline.
    let err = within("silent handshake deadline", listener.accept())
        .await
        .expect_err("timed out");
    assert!(
        matches!(
            err,
            LinkError::TimedOut {
                operation: "TLS handshake with",
                ..
            }
        ),
        "{err:?}"
    );
    let mut buf = [0u8; 8];
    let n = within("silent connection closed", async {
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf).await
    })
    .await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
}

#[test]
fn pem_debug_hides_inline_content() {
    let shown = format!(
        "{:?}",
        TlsConfig {
            listen_private_key: Some(Pem::Base64("c2VjcmV0".into())),
            connect_private_key: Some(Pem::Raw("-----BEGIN PRIVATE KEY-----".into())),
            ..TlsConfig::default()
        }
    );
    assert!(
        !shown.contains("c2VjcmV0") && !shown.contains("BEGIN"),
        "{shown}"
    );
    assert!(shown.contains("Base64(<8 characters>)"), "{shown}");
}
