//! Endpoint and locator parsing, printing and open-time validation.

use std::time::Duration;

use plexus_link::{Endpoint, EndpointError, LinkConfig, LinkError, Locator, connect, listen};

fn parse(s: &str) -> Endpoint {
    match s.parse() {
        Ok(e) => e,
        Err(e) => panic!("`{s}` should parse: {e}"),
    }
}

#[test]
fn valid_forms_round_trip_through_display() {
    for s in [
        "tcp/127.0.0.1:7447",
        "tcp/[::1]:0",
        "tcp/localhost:7447",
        "udp/127.0.0.1:7447",
        "unixsock-stream//tmp/plexus.sock",
        "tcp/127.0.0.1:7447?iface=lo",
        "tcp/127.0.0.1:7447#so_rcvbuf=65536;so_sndbuf=65536",
        "tcp/127.0.0.1:7447?iface=lo;prio=1-7#so_sndbuf=1",
        "tcp/127.0.0.1:7447?rel=",
    ] {
        let e = parse(s);
        assert_eq!(e.to_string(), s);
        assert_eq!(parse(&e.to_string()), e);
    }
}

#[test]
fn sections_are_sorted_like_zenoh() {
    let e = parse("tcp/127.0.0.1:7447?z=1;a=2#so_sndbuf=65536;so_rcvbuf=65536");
    assert_eq!(
        e.to_string(),
        "tcp/127.0.0.1:7447?a=2;z=1#so_rcvbuf=65536;so_sndbuf=65536"
    );
}

#[test]
fn accessors_expose_every_part() {
    let e = parse("unixsock-stream//tmp/a/b.sock?iface=lo#so_sndbuf=65536;so_rcvbuf=1024");
    assert_eq!(e.protocol(), "unixsock-stream");
    assert_eq!(e.address(), "/tmp/a/b.sock");
    assert_eq!(e.metadata().get("iface"), Some("lo"));
    assert!(e.metadata().contains_key("iface"));
    assert_eq!(e.metadata().len(), 1);
    assert_eq!(e.config().get("so_sndbuf"), Some("65536"));
    assert_eq!(e.config().get("so_rcvbuf"), Some("1024"));
    assert_eq!(e.config().get("missing"), None);
    let pairs: Vec<_> = e.config().iter().collect();
    assert_eq!(pairs, [("so_rcvbuf", "1024"), ("so_sndbuf", "65536")]);
    assert_eq!(
        e.locator().to_string(),
        "unixsock-stream//tmp/a/b.sock?iface=lo"
    );
    assert_eq!(e.locator().metadata().get("iface"), Some("lo"));
    assert_eq!(Endpoint::from(e.locator().clone()).config().len(), 0);
}

#[test]
fn locator_parses_and_rejects_config() {
    let l: Locator = "udp/10.0.0.1:7447?iface=eth0"
        .parse()
        .expect("valid locator");
    assert_eq!(l.protocol(), "udp");
    assert_eq!(l.address(), "10.0.0.1:7447");
    assert_eq!(l.to_string(), "udp/10.0.0.1:7447?iface=eth0");
    let err = "tcp/1.2.3.4:5#so_sndbuf=1"
        .parse::<Locator>()
        .expect_err("config in locator");
    assert!(
        err.to_string().contains("cannot carry a `#config`"),
        "{err}"
    );
    assert_eq!(
        Locator::new("tcp", "1.2.3.4:5").expect("valid").to_string(),
        "tcp/1.2.3.4:5"
    );
}

#[test]
fn malformed_strings_name_the_bad_part() {
    let cases = [
        ("tcp127.0.0.1:7447", "missing `/` separator"),
        ("/127.0.0.1:7447", "empty protocol"),
        ("t c p/1.2.3.4:5", "invalid character in protocol `t c p`"),
        ("tcp/", "empty address"),
        ("tcp/?a=1", "empty address"),
        ("tcp/#a=1", "empty address"),
        ("tcp/1.2.3.4:5?", "empty metadata section"),
        ("tcp/1.2.3.4:5?;;", "empty metadata section"),
        ("tcp/1.2.3.4:5#", "empty config section"),
        (
            "tcp/1.2.3.4:5?key",
            "bad metadata entry `key`: expected `key=value`",
        ),
        ("tcp/1.2.3.4:5#so_sndbuf", "bad config entry `so_sndbuf`"),
        ("tcp/1.2.3.4:5?=v", "bad metadata entry `=v`: empty key"),
        ("tcp/1.2.3.4:5?a=b=c", "more than one `=`"),
        ("tcp/1.2.3.4:5?a=1;a=2", "duplicate metadata key `a`"),
        ("tcp/1.2.3.4:5#b=1;b=1", "duplicate config key `b`"),
        ("tcp/1.2.3.4:5?a=1?b=2", "`?` and `#` are reserved"),
        (
            "tcp/1.2.3.4:5#a=1?b=2",
            "metadata (`?`) must come before config (`#`)",
        ),
    ];
    for (input, expected) in cases {
        let err = input
            .parse::<Endpoint>()
            .expect_err(&format!("`{input}` should not parse"));
        let text = err.to_string();
        assert!(
            text.contains(expected),
            "`{input}`: `{text}` lacks `{expected}`"
        );
        assert!(text.contains(input), "`{input}`: `{text}` lacks the input");
    }
}

fn quick() -> LinkConfig {
    LinkConfig {
        connect_timeout: Duration::from_secs(5),
        ..LinkConfig::default()
    }
}

/// Errors detected before touching the network, for both connect and listen.
#[tokio::test]
async fn open_time_validation_gives_clear_errors() {
    let cases = [
        ("foo/1.2.3.4:5", "unsupported protocol `foo`"),
        ("tcp/127.0.0.1", "missing `:port`"),
        ("tcp/notaport:x", "bad port `x`"),
        ("udp/127.0.0.1:65536", "bad port `65536`"),
        ("tcp/:7447", "missing host"),
        ("tcp/::1:7447", "must be written in brackets"),
        ("tcp/[::1:7447", "missing `]`"),
        ("tcp/[nope]:1", "`nope` is not an IPv6 address"),
        (
            "unixsock-stream/relative.sock",
            "expected an absolute socket path",
        ),
        (
            "tcp/127.0.0.1:1#so_sndbuf=lots",
            "invalid config value `so_sndbuf=lots`",
        ),
    ];
    for (input, expected) in cases {
        let endpoint = parse(input);
        let errors = [
            connect(&endpoint, &quick()).await.expect_err(input),
            listen(&endpoint, &quick()).await.expect_err(input),
        ];
        for err in errors {
            let text = err.to_string();
            assert!(
                text.contains(expected),
                "`{input}`: `{text}` lacks `{expected}`"
            );
            assert!(
                text.contains(input),
                "`{input}`: `{text}` lacks the endpoint"
            );
            match (input, &err) {
                ("foo/1.2.3.4:5", LinkError::UnsupportedProtocol { protocol, .. }) => {
                    assert_eq!(protocol, "foo");
                }
                ("foo/1.2.3.4:5", other) => panic!("unexpected {other:?}"),
                (_, LinkError::InvalidEndpoint(EndpointError::InvalidAddress { .. }))
                | (_, LinkError::InvalidEndpoint(EndpointError::InvalidConfigValue { .. })) => {}
                (_, other) => panic!("`{input}`: unexpected {other:?}"),
            }
        }
    }
}
