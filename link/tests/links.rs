//! Links over real sockets: TCP (IPv4, IPv6 when available), UDP and unix stream sockets.

use std::future::Future;
use std::time::Duration;

use plexus_link::{
    Endpoint, Link, LinkConfig, LinkError, LinkReader, LinkWriter, Listener, UDP_MTU, connect,
    listen,
};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}

fn ep(s: &str) -> Endpoint {
    match s.parse() {
        Ok(e) => e,
        Err(e) => panic!("`{s}` should parse: {e}"),
    }
}

fn cfg() -> LinkConfig {
    LinkConfig {
        connect_timeout: Duration::from_secs(5),
        ..LinkConfig::default()
    }
}

/// Connects to the listener and accepts the link: returns (client, server).
async fn pair(listener: &mut Listener, to: &Endpoint) -> (Link, Link) {
    let config = cfg();
    let (client, server) = within("connect+accept", async {
        tokio::join!(connect(to, &config), listener.accept())
    })
    .await;
    (
        client.expect("connect succeeds"),
        server.expect("accept succeeds"),
    )
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("address ends in :port")
}

/// Checks that two ends of a stream link describe each other.
fn check_stream_facts(client: &Link, server: &Link, listener: &Listener) {
    assert_eq!(client.dst(), server.src());
    assert_eq!(client.src(), server.dst());
    assert_eq!(client.dst().to_string(), listener.locator().to_string());
    for link in [client, server] {
        assert!(link.is_reliable());
        assert!(link.is_streamed());
        assert_eq!(link.group(), None);
        assert!(link.info().group().is_none());
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Writes `data` then closes the writer.
async fn send_all(mut w: LinkWriter, data: Vec<u8>) -> LinkWriter {
    w.write_all(&data).await.expect("write_all");
    w.close().await.expect("close");
    w
}

/// Reads until end of stream with a small buffer to exercise partial reads.
async fn recv_all(mut r: LinkReader) -> (LinkReader, Vec<u8>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 7919];
    loop {
        let n = r.read(&mut buf).await.expect("read");
        if n == 0 {
            return (r, out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Moves 1 MiB each way at once, then checks small framed exchanges via `read_exact`.
async fn exercise_stream(client: Link, server: Link) {
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();

    // Small framed messages with read_exact and write_vectored_all.
    within("framed exchange", async {
        cw.write_vectored_all(&[b"he", b"", b"llo", b" world"])
            .await
            .expect("vectored write");
        let mut got = [0u8; 11];
        sr.read_exact(&mut got).await.expect("read_exact");
        assert_eq!(&got, b"hello world");
        sw.write_all(b"pong").await.expect("write");
        let mut got = [0u8; 4];
        cr.read_exact(&mut got).await.expect("read_exact");
        assert_eq!(&got, b"pong");
    })
    .await;

    // Facts survive the split.
    assert_eq!(cr.info().dst(), sw.info().src());
    assert_eq!(cw.info().src(), sr.info().dst());

    let up = pattern(1 << 20, 1);
    let down = pattern(1 << 20, 2);
    let (cw_task, sr_task) = (
        tokio::spawn(send_all(cw, up.clone())),
        tokio::spawn(recv_all(sr)),
    );
    let (sw_task, cr_task) = (
        tokio::spawn(send_all(sw, down.clone())),
        tokio::spawn(recv_all(cr)),
    );
    let (cw, sr, sw, cr) = within("1 MiB each way", async {
        tokio::join!(cw_task, sr_task, sw_task, cr_task)
    })
    .await;
    let (_cw, (mut sr, got_up), _sw, (mut cr, got_down)) = (
        cw.expect("task"),
        sr.expect("task"),
        sw.expect("task"),
        cr.expect("task"),
    );
    assert!(got_up == up, "client to server bytes differ");
    assert!(got_down == down, "server to client bytes differ");

    // After the peer closed, read_exact reports it.
    let mut one = [0u8; 1];
    let err = within("read after close", sr.read_exact(&mut one))
        .await
        .expect_err("peer closed");
    assert!(matches!(err, LinkError::ClosedByPeer { .. }), "{err:?}");
    assert!(err.to_string().contains("closed by peer"), "{err}");
    assert_eq!(within("eof", cr.read(&mut one)).await.expect("eof"), 0);
}

async fn tcp_round_trip(address: &str) {
    let mut listener = within("listen", listen(&ep(address), &cfg()))
        .await
        .expect("listen");
    let bound = listener.locator().clone();
    assert_eq!(bound.protocol(), "tcp");
    let port = port_of(bound.address());
    assert_ne!(port, 0, "bound locator carries the real port");
    let (client, server) = pair(&mut listener, &bound.to_endpoint()).await;

    check_stream_facts(&client, &server, &listener);
    assert_eq!(port_of(client.dst().address()), port);
    assert_eq!(port_of(server.src().address()), port);
    for link in [&client, &server] {
        assert_eq!(link.src().protocol(), "tcp");
        // Zenoh's TCP MTU: 65535 minus IP+TCP headers, rounded down to a multiple of MSS/2.
        assert!(
            link.mtu() > 1000 && link.mtu() <= 65535 - 40,
            "mtu {}",
            link.mtu()
        );
        assert_eq!(
            link.tcp_nodelay(),
            Some(true),
            "TCP_NODELAY on {}",
            link.src()
        );
    }
    exercise_stream(client, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_ipv4_round_trip_and_facts() {
    tcp_round_trip("tcp/127.0.0.1:0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_ipv6_round_trip_and_facts() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: no IPv6 loopback on this machine");
        return;
    }
    tcp_round_trip("tcp/[::1]:0").await;
}

#[tokio::test]
async fn tcp_listener_keeps_metadata_and_config_and_applies_buffers() {
    let endpoint = ep("tcp/127.0.0.1:0?iface=lo#so_rcvbuf=65536;so_sndbuf=65536");
    let mut listener = within("listen", listen(&endpoint, &cfg()))
        .await
        .expect("listen");
    assert_eq!(listener.locator().metadata().get("iface"), Some("lo"));
    assert_eq!(listener.endpoint().config().get("so_sndbuf"), Some("65536"));
    assert!(listener.locator().to_string().ends_with("?iface=lo"));

    let to = ep(&format!(
        "tcp/{}#so_sndbuf=32768",
        listener.locator().address()
    ));
    let config = LinkConfig {
        so_rcvbuf: Some(32768),
        ..cfg()
    };
    let (client, server) = within("connect+accept", async {
        tokio::join!(connect(&to, &config), listener.accept())
    })
    .await;
    let (client, server) = (client.expect("connect"), server.expect("accept"));
    // Linux reports twice the requested size; other systems at least the request.
    assert!(client.send_buffer_size().expect("tcp") >= 32768);
    assert!(client.recv_buffer_size().expect("tcp") >= 32768);
    assert!(server.send_buffer_size().expect("tcp") >= 65536);
    assert_eq!(server.tcp_nodelay(), Some(true));
    assert!(
        client.src().metadata().is_empty(),
        "link locators carry no metadata"
    );
}

#[tokio::test]
async fn tcp_nodelay_can_be_disabled() {
    let config = LinkConfig {
        tcp_nodelay: false,
        ..cfg()
    };
    let mut listener = within("listen", listen(&ep("tcp/127.0.0.1:0"), &config))
        .await
        .expect("listen");
    let to = listener.locator().to_endpoint();
    let (client, server) = within("connect+accept", async {
        tokio::join!(connect(&to, &config), listener.accept())
    })
    .await;
    assert_eq!(client.expect("connect").tcp_nodelay(), Some(false));
    assert_eq!(server.expect("accept").tcp_nodelay(), Some(false));
}

#[tokio::test]
async fn tcp_host_names_resolve_at_open_time() {
    let mut listener = within("listen", listen(&ep("tcp/localhost:0"), &cfg()))
        .await
        .expect("listen on localhost");
    let port = port_of(listener.locator().address());
    let to = ep(&format!("tcp/localhost:{port}"));
    let (client, server) = pair(&mut listener, &to).await;
    assert_eq!(client.dst(), server.src());
    assert_ne!(
        client.dst().address(),
        "localhost",
        "links report resolved addresses"
    );
}

#[tokio::test]
async fn tcp_refused_connection_names_the_endpoint() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let to = ep(&format!("tcp/127.0.0.1:{port}"));
    let err = within("refused connect", connect(&to, &cfg()))
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(err, LinkError::ConnectionRefused { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("connection refused"), "{text}");
    assert!(text.contains(&to.to_string()), "{text}");
}

#[tokio::test]
async fn dropping_a_tcp_listener_keeps_links() {
    let mut listener = within("listen", listen(&ep("tcp/127.0.0.1:0"), &cfg()))
        .await
        .expect("listen");
    let to = listener.locator().to_endpoint();
    let (mut client, mut server) = pair(&mut listener, &to).await;
    drop(listener);
    within("exchange after drop", async {
        client.write_all(b"still").await.expect("write");
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"still");
    })
    .await;
    let err = within("connect after drop", connect(&to, &cfg()))
        .await
        .expect_err("listener gone");
    assert!(
        matches!(err, LinkError::ConnectionRefused { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_demultiplex_per_peer() {
    let mut listener = within("listen", listen(&ep("udp/127.0.0.1:0"), &cfg()))
        .await
        .expect("listen");
    let bound = listener.locator().clone();
    let port = port_of(bound.address());
    assert_ne!(port, 0);

    let mut c1 = within("connect", connect(&bound.to_endpoint(), &cfg()))
        .await
        .expect("connect 1");
    let mut c2 = within("connect", connect(&bound.to_endpoint(), &cfg()))
        .await
        .expect("connect 2");
    let mut buf = vec![0u8; 65536];

    c1.write_all(b"hello").await.expect("send");
    let mut s1 = within("accept 1", listener.accept()).await.expect("accept");
    let n = within("read", s1.read(&mut buf)).await.expect("read");
    assert_eq!(&buf[..n], b"hello");

    c2.write_all(b"two").await.expect("send");
    let mut s2 = within("accept 2", listener.accept()).await.expect("accept");
    c1.write_vectored_all(&[b"one", b"-", b"again"])
        .await
        .expect("send");
    let n = within("read", s2.read(&mut buf)).await.expect("read");
    assert_eq!(&buf[..n], b"two");
    let n = within("read", s1.read(&mut buf)).await.expect("read");
    assert_eq!(&buf[..n], b"one-again", "one datagram per vectored write");

    // Facts.
    for (client, server) in [(&c1, &s1), (&c2, &s2)] {
        assert_eq!(client.dst(), server.src());
        assert_eq!(client.src(), server.dst());
        assert_eq!(port_of(client.dst().address()), port);
        for link in [client, server] {
            assert_eq!(link.src().protocol(), "udp");
            assert!(!link.is_reliable());
            assert!(!link.is_streamed());
            assert_eq!(link.group(), None);
            assert_eq!(link.mtu(), UDP_MTU);
            assert_eq!(link.tcp_nodelay(), None);
        }
    }
    assert_ne!(s1.dst(), s2.dst());

    // Replies go back through the shared socket to the right peer.
    s2.write_all(b"to-two").await.expect("reply");
    s1.write_all(b"to-one").await.expect("reply");
    let n = within("read", c1.read(&mut buf)).await.expect("read");
    assert_eq!(&buf[..n], b"to-one");
    let n = within("read", c2.read(&mut buf)).await.expect("read");
    assert_eq!(&buf[..n], b"to-two");

    // A full-MTU datagram passes, a larger one is refused before sending.
    let big = pattern(usize::from(UDP_MTU), 3);
    c1.write_all(&big).await.expect("mtu-sized datagram");
    let n = within("read big", s1.read(&mut buf)).await.expect("read");
    assert!(buf[..n] == big[..], "mtu-sized datagram intact");
    let err = c1
        .write_all(&pattern(usize::from(UDP_MTU) + 1, 4))
        .await
        .expect_err("too large");
    assert!(matches!(err, LinkError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("larger than the MTU"), "{err}");
    let err = s1
        .read_exact(&mut buf[..4])
        .await
        .expect_err("not streamed");
    assert!(err.to_string().contains("streamed"), "{err}");

    // Dropping the listener stops accepting but existing links keep working, split or not.
    drop(listener);
    let (mut r1, _w1) = s1.split();
    c1.write_all(b"after-drop").await.expect("send");
    let n = within("read after drop", r1.read(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf[..n], b"after-drop");
    assert_eq!(r1.info().mtu(), UDP_MTU);

    // Closing a writer refuses later writes.
    let (_r2, mut w2) = c2.split();
    w2.close().await.expect("close");
    assert!(w2.write_all(b"x").await.is_err());
}

#[cfg(unix)]
mod unix {
    use super::*;

    fn unix_ep(path: &std::path::Path) -> Endpoint {
        ep(&format!("unixsock-stream/{}", path.display()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unix_round_trip_facts_and_cleanup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plexus.sock");
        let endpoint = unix_ep(&path);
        let mut listener = within("listen", listen(&endpoint, &cfg()))
            .await
            .expect("listen");
        assert_eq!(listener.locator(), endpoint.locator());
        assert!(path.exists());

        let (client, server) = pair(&mut listener, &endpoint).await;

        // Probing the live path connects to it, so this comes after the accept above.
        let err = within("second listen", listen(&endpoint, &cfg()))
            .await
            .expect_err("path in use");
        assert!(matches!(err, LinkError::AddressInUse { .. }), "{err:?}");
        assert!(err.to_string().contains(&endpoint.to_string()), "{err}");
        assert!(path.exists(), "the live socket file is left alone");

        check_stream_facts(&client, &server, &listener);
        assert_eq!(server.src().address(), path.display().to_string());
        #[cfg(target_os = "linux")]
        assert!(
            client.src().address().starts_with('@'),
            "client end named in the abstract namespace: {}",
            client.src()
        );
        for link in [&client, &server] {
            assert_eq!(link.src().protocol(), "unixsock-stream");
            assert_eq!(link.mtu(), 65535);
            assert_eq!(link.tcp_nodelay(), None);
        }
        drop(listener);
        assert!(
            !path.exists(),
            "dropping the listener removes the socket file"
        );
        exercise_stream(client, server).await;
    }

    #[tokio::test]
    async fn unix_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        assert!(path.exists());
        let endpoint = unix_ep(&path);
        let mut listener = within("listen", listen(&endpoint, &cfg()))
            .await
            .expect("stale file replaced");
        let (mut client, mut server) = pair(&mut listener, &endpoint).await;
        within("exchange", async {
            client.write_all(b"hi").await.expect("write");
            let mut got = [0u8; 2];
            server.read_exact(&mut got).await.expect("read");
            assert_eq!(&got, b"hi");
        })
        .await;
    }

    #[tokio::test]
    async fn unix_refuses_non_socket_path_and_missing_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"not a socket").expect("write");
        let err = within("listen", listen(&unix_ep(&file), &cfg()))
            .await
            .expect_err("not a socket");
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert!(file.exists(), "foreign files are never removed");

        let missing = unix_ep(&dir.path().join("missing.sock"));
        let err = within("connect", connect(&missing, &cfg()))
            .await
            .expect_err("nobody listens");
        assert!(
            matches!(err, LinkError::ConnectionRefused { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&missing.to_string()), "{err}");
    }
}
