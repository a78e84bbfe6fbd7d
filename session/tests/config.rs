//! Tests of `plexus::config`: defaults, JSON5 parsing, key insertion and error messages.

use std::time::Duration;

use plexus::config::RetryConf;
use plexus::{Config, ConfigError};
use plexus_link::Endpoint;
use plexus_transport::wire::{WhatAmI, ZenohId};

fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

fn err(text: &str) -> String {
    Config::from_json5(text).unwrap_err().to_string()
}

#[test]
fn defaults_per_mode() {
    let p = Config::default();
    assert_eq!(p.mode(), WhatAmI::Peer);
    assert_eq!(p.id(), None);
    assert!(p.connect_endpoints().is_empty());
    assert_eq!(p.listen_endpoints(), vec![ep("tcp/[::]:0")]);
    assert!(!p.timestamping());
    assert!(!p.drop_future_timestamp());
    assert_eq!(p.scouting_multicast_enabled(), None);
    assert_eq!(p.queries_default_timeout(), Duration::from_millis(10_000));
    assert_eq!(p.lease(), Duration::from_millis(10_000));
    assert_eq!(
        p.connect_retry(),
        RetryConf {
            period_init: Duration::from_millis(1000),
            period_max: Duration::from_millis(4000),
            factor: 2.0,
            timeout: None,
            exit_on_failure: false,
        }
    );
    assert_eq!(Config::peer().listen_endpoints(), p.listen_endpoints());

    let r = Config::router();
    assert_eq!(r.mode(), WhatAmI::Router);
    assert_eq!(r.listen_endpoints(), vec![ep("tcp/[::]:7447")]);
    assert!(r.timestamping());
    assert_eq!(r.connect_retry().timeout, None);
    assert!(!r.connect_retry().exit_on_failure);

    let c = Config::client();
    assert_eq!(c.mode(), WhatAmI::Client);
    assert!(c.listen_endpoints().is_empty());
    assert!(!c.timestamping());
    assert_eq!(c.connect_retry().timeout, Some(Duration::ZERO));
    assert!(c.connect_retry().exit_on_failure);

    // An empty document is the default.
    let e = Config::from_json5("{}").unwrap();
    assert_eq!(e.mode(), WhatAmI::Peer);
    assert_eq!(e.listen_endpoints(), vec![ep("tcp/[::]:0")]);
}

#[test]
fn default_transport_config_matches_transport_defaults() {
    let zid = ZenohId::new(0x1234).unwrap();
    let t = Config::default()
        .transport_config(zid)
        .expect("transport config");
    let d = plexus_transport::TransportConfig::new(zid, WhatAmI::Peer);
    assert_eq!(t.zid, zid);
    assert_eq!(t.whatami, WhatAmI::Peer);
    assert_eq!(t.lease, d.lease);
    assert_eq!(t.keep_alive, d.keep_alive);
    assert_eq!(t.batch_size, d.batch_size);
    assert_eq!(t.qos, d.qos);
    assert_eq!(t.open_timeout, d.open_timeout);
    assert_eq!(t.accept_timeout, d.accept_timeout);
    assert_eq!(t.max_message_size, d.max_message_size);
}

const FULL: &str = r#"
// A full Plexus configuration, in Zenoh's key names.
{
  id: "a1b2c3",
  mode: 'router', /* block comment */
  connect: {
    endpoints: ["tcp/10.0.0.1:7447", "tcp/10.0.0.2:7447",],
    timeout_ms: 30000,
    exit_on_failure: true,
    retry: { period_init_ms: 500, period_max_ms: 8000, period_increase_factor: 1.5, },
  },
  listen: { endpoints: ["tcp/0.0.0.0:7448"], },
  scouting: { multicast: { enabled: false } },
  timestamping: { enabled: { router: false, peer: true, client: true }, drop_future_timestamp: true },
  queries_default_timeout: 2500,
  transport: {
    unicast: { open_timeout: 3000, accept_timeout: 4000, qos: { enabled: false } },
    link: {
      tx: { lease: 5000, keep_alive: 5, batch_size: 8192, },
      rx: { max_message_size: 1048576 },
    },
  },
}
"#;

fn check_full(c: &Config) {
    assert_eq!(c.id(), Some("a1b2c3".parse().unwrap()));
    assert_eq!(c.mode(), WhatAmI::Router);
    assert_eq!(
        c.connect_endpoints(),
        &[ep("tcp/10.0.0.1:7447"), ep("tcp/10.0.0.2:7447")]
    );
    assert_eq!(c.listen_endpoints(), vec![ep("tcp/0.0.0.0:7448")]);
    assert_eq!(c.scouting_multicast_enabled(), Some(false));
    assert!(!c.timestamping());
    assert!(c.drop_future_timestamp());
    assert_eq!(c.queries_default_timeout(), Duration::from_millis(2500));
    assert_eq!(
        c.connect_retry(),
        RetryConf {
            period_init: Duration::from_millis(500),
            period_max: Duration::from_millis(8000),
            factor: 1.5,
            timeout: Some(Duration::from_secs(30)),
            exit_on_failure: true,
        }
    );
    let zid = ZenohId::new(7).unwrap();
    let t = c.transport_config(zid).expect("transport config");
    assert_eq!(t.zid, zid);
    assert_eq!(t.whatami, WhatAmI::Router);
    assert_eq!(t.lease, Duration::from_millis(5000));
    assert_eq!(t.keep_alive, 5);
    assert_eq!(t.batch_size, 8192);
    assert!(!t.qos);
    assert_eq!(t.open_timeout, Duration::from_millis(3000));
    assert_eq!(t.accept_timeout, Duration::from_millis(4000));
    assert_eq!(t.max_message_size, 1 << 20);
}

#[test]
fn full_json5_document_parses() {
    check_full(&Config::from_json5(FULL).unwrap());
}

#[test]
fn from_file_reads_and_names_the_file() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("plexus-config-{}.json5", std::process::id()));
    std::fs::write(&path, FULL).unwrap();
    check_full(&Config::from_file(&path).unwrap());

    std::fs::write(&path, "{ mode: 'pear' }").unwrap();
    let e = Config::from_file(&path).unwrap_err();
    assert_eq!(e.path(), Some("mode"));
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(r#""mode": expected"#), "{msg}");
    std::fs::remove_file(&path).unwrap();

    let missing = dir.join("plexus-config-does-not-exist.json5");
    let e = Config::from_file(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(
        e.to_string().starts_with(&format!(
            "cannot read configuration file {}",
            missing.display()
        )),
        "{e}"
    );
}

#[test]
fn insert_json5_nested_paths() {
    let mut c = Config::default();
    c.insert_json5("mode", "\"client\"").unwrap();
    assert_eq!(c.mode(), WhatAmI::Client);
    c.insert_json5("connect/endpoints", r#"["tcp/127.0.0.1:7447"]"#)
        .unwrap();
    assert_eq!(c.connect_endpoints(), &[ep("tcp/127.0.0.1:7447")]);
    c.insert_json5("transport/link/tx/lease", "3000").unwrap();
    assert_eq!(c.lease(), Duration::from_millis(3000));
    c.insert_json5("transport/unicast/qos/enabled", "false")
        .unwrap();
    assert!(
        !c.transport_config(ZenohId::random())
            .expect("transport config")
            .qos
    );
    c.insert_json5("id", "'ff'").unwrap();
    assert_eq!(c.id(), ZenohId::new(0xff));

    // A section merges: other keys of the section are kept.
    c.insert_json5(
        "transport/link",
        "{ tx: { keep_alive: 2 }, rx: { max_message_size: 4096 } }",
    )
    .unwrap();
    let t = c
        .transport_config(ZenohId::random())
        .expect("transport config");
    assert_eq!((t.keep_alive, t.max_message_size), (2, 4096));
    assert_eq!(t.lease, Duration::from_millis(3000));
    c.insert_json5("", "{ queries_default_timeout: 7 }")
        .unwrap();
    assert_eq!(c.queries_default_timeout(), Duration::from_millis(7));

    // null resets optional keys to their default.
    c.insert_json5("id", "null").unwrap();
    assert_eq!(c.id(), None);
    c.insert_json5("mode", "null").unwrap();
    assert_eq!(c.mode(), WhatAmI::Peer);

    // A failed insert leaves the configuration unchanged.
    let before = format!("{c:?}");
    let e = c
        .insert_json5(
            "transport",
            "{ link: { tx: { keep_alive: 9, lease: -1 } } }",
        )
        .unwrap_err();
    assert_eq!(e.path(), Some("transport/link/tx/lease"));
    assert_eq!(format!("{c:?}"), before);
}

#[test]
fn insert_json5_errors() {
    let mut c = Config::default();
    let e = c.insert_json5("transport/link/tx/leese", "1").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"unknown configuration key "transport/link/tx/leese" (did you mean "transport/link/tx/lease"?)"#
    );
    let e = c.insert_json5("connect//endpoints", "[]").unwrap_err();
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
    let e = c.insert_json5("mode", "client").unwrap_err();
    // An unquoted word is not a JSON5 value: the value must be quoted, as in Zenoh.
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(r#"value of "mode": invalid JSON5"#),
        "{e}"
    );
    let e = c.insert_json5("mode", "'client").unwrap_err();
    assert!(
        e.to_string()
            .starts_with(r#"value of "mode": invalid JSON5 at line 1"#),
        "{e}"
    );
    let e = c.insert_json5("transport", "5").unwrap_err();
    assert_eq!(e.to_string(), r#""transport": expected an object, got 5"#);
}

#[test]
fn unknown_key_names_full_path() {
    assert_eq!(
        err("{ transport: { link: { tx: { leese: 5 } } } }"),
        r#"unknown configuration key "transport/link/tx/leese" (did you mean "transport/link/tx/lease"?)"#
    );
    assert_eq!(
        err("{ plugins_loading: {} }"),
        r#"unknown configuration key "plugins_loading""#
    );
    assert_eq!(
        err("{ scouting: { multicast: { address: '224.0.0.224:7446' } } }"),
        r#"unknown configuration key "scouting/multicast/address""#
    );
    assert_eq!(
        err("{ mod: 'peer' }"),
        r#"unknown configuration key "mod" (did you mean "mode"?)"#
    );
    let e = Config::from_json5("{ connect: { retry: { period_init: 5 } } }").unwrap_err();
    assert_eq!(e.path(), Some("connect/retry/period_init"));
    assert_eq!(
        err("{ timestamping: { enabled: { rooter: true } } }"),
        r#"unknown configuration key "timestamping/enabled/rooter""#
    );
}

#[test]
fn bad_mode() {
    assert_eq!(
        err("{ mode: 'pear' }"),
        r#""mode": expected "router", "peer" or "client", got "pear""#
    );
    assert_eq!(
        err("{ mode: 1 }"),
        r#""mode": expected "router", "peer" or "client", got 1"#
    );
}

#[test]
fn bad_endpoint_names_key_and_index() {
    let e = Config::from_json5("{ connect: { endpoints: ['tcp/1.2.3.4:7447', 'tcp1.2.3.4'] } }")
        .unwrap_err();
    assert!(
        matches!(&e, ConfigError::InvalidEndpoint { path, index: 1, .. } if path == "connect/endpoints"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        r#""connect/endpoints"[1]: invalid endpoint `tcp1.2.3.4`: missing `/` separator between protocol and address"#
    );
    assert_eq!(
        err("{ listen: { endpoints: ['tcp/[::]:0', 7] } }"),
        r#""listen/endpoints[1]": expected an endpoint string such as "tcp/127.0.0.1:7447", got 7"#
    );
    assert_eq!(
        err("{ listen: { endpoints: 'tcp/[::]:0' } }"),
        r#""listen/endpoints": expected a list of endpoint strings, got "tcp/[::]:0""#
    );
    let e = Config::from_json5("{ listen: { endpoints: { router: ['/x'] } } }").unwrap_err();
    assert!(
        e.to_string()
            .starts_with(r#""listen/endpoints/router"[0]: invalid endpoint `/x`"#),
        "{e}"
    );
}

#[test]
fn negative_or_zero_durations_rejected() {
    assert_eq!(
        err("{ transport: { link: { tx: { lease: -5 } } } }"),
        r#""transport/link/tx/lease": expected a positive integer (milliseconds), got -5"#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { lease: 0 } } } }"),
        r#""transport/link/tx/lease": expected a positive integer (milliseconds), got 0"#
    );
    assert_eq!(
        err("{ queries_default_timeout: -1 }"),
        r#""queries_default_timeout": expected a non-negative integer (milliseconds), got -1"#
    );
    assert_eq!(
        err("{ connect: { retry: { period_init_ms: -1 } } }"),
        r#""connect/retry/period_init_ms": expected a non-negative integer (milliseconds), got -1"#
    );
    assert_eq!(
        err("{ connect: { retry: { period_increase_factor: 0.5 } } }"),
        r#""connect/retry/period_increase_factor": expected a number >= 1, got 0.5"#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { batch_size: 65536 } } } }"),
        r#""transport/link/tx/batch_size": expected an integer from 1 to 65535 (bytes), got 65536"#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { keep_alive: 0 } } } }"),
        r#""transport/link/tx/keep_alive": expected a positive integer, got 0"#
    );
    // A negative connect timeout is Zenoh's "retry forever".
    let c = Config::from_json5("{ connect: { timeout_ms: -1 } }").unwrap();
    assert_eq!(c.connect_retry().timeout, None);
}

#[test]
fn wrong_types_name_key_and_expectation() {
    assert_eq!(
        err("{ transport: { link: { tx: { lease: '10s' } } } }"),
        r#""transport/link/tx/lease": expected a positive integer (milliseconds), got "10s""#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { lease: 1.5 } } } }"),
        r#""transport/link/tx/lease": expected a positive integer (milliseconds), got 1.5"#
    );
    assert_eq!(
        err("{ transport: { unicast: { qos: { enabled: 'yes' } } } }"),
        r#""transport/unicast/qos/enabled": expected true or false, got "yes""#
    );
    assert_eq!(
        err("{ scouting: { multicast: true } }"),
        r#""scouting/multicast": expected an object, got true"#
    );
    assert_eq!(
        err("{ transport: { unicast: { qos: { enabled: null } } } }"),
        r#""transport/unicast/qos/enabled": expected true or false, got null"#
    );
    assert_eq!(
        err("[1, 2]"),
        r#""configuration": expected an object, got a list of 2 items"#
    );
    assert_eq!(
        err("{ connect: { exit_on_failure: { peer: 1 } } }"),
        r#""connect/exit_on_failure/peer": expected true or false, got 1"#
    );
}

#[test]
fn bad_zid() {
    for bad in ["xyz", "", "0", "123456789012345678901234567890123"] {
        let e = Config::from_json5(&format!("{{ id: '{bad}' }}")).unwrap_err();
        assert!(matches!(e, ConfigError::InvalidId { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(r#""id": invalid zenoh id "{bad}": expected 1 to 32 hex digits, not all zero"#)
        );
    }
    assert_eq!(
        err("{ id: 42 }"),
        r#""id": expected a hex zenoh id string, got 42"#
    );
}

#[test]
fn lease_alias() {
    let c = Config::from_json5("{ transport: { unicast: { lease: 2500 } } }").unwrap();
    assert_eq!(c.lease(), Duration::from_millis(2500));
    let c = Config::from_json5(
        "{ transport: { unicast: { lease: 2500 }, link: { tx: { lease: 2500 } } } }",
    )
    .unwrap();
    assert_eq!(c.lease(), Duration::from_millis(2500));
    let e = Config::from_json5(
        "{ transport: { link: { tx: { lease: 3000 } }, unicast: { lease: 2500 } } }",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Conflict { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        r#""transport/link/tx/lease" (3000) and "transport/unicast/lease" (2500) set the same setting to different values"#
    );
    // Separate inserts are separate settings: the last one wins.
    let mut c = Config::default();
    c.insert_json5("transport/link/tx/lease", "3000").unwrap();
    c.insert_json5("transport/unicast/lease", "2500").unwrap();
    assert_eq!(c.lease(), Duration::from_millis(2500));
}

#[test]
fn timestamping_mode_dependent_both_forms() {
    let c = Config::from_json5("{ timestamping: { enabled: true } }").unwrap();
    for mode in [WhatAmI::Router, WhatAmI::Peer, WhatAmI::Client] {
        assert!(c.clone().with_mode(mode).timestamping(), "{mode}");
    }
    let c = Config::from_json5("{ timestamping: { enabled: false } }").unwrap();
    assert!(!c.with_mode(WhatAmI::Router).timestamping());

    let c = Config::from_json5("{ timestamping: { enabled: { router: false, client: true } } }")
        .unwrap();
    assert!(!c.clone().with_mode(WhatAmI::Router).timestamping());
    assert!(c.clone().with_mode(WhatAmI::Client).timestamping());
    // Peer was left out: Zenoh's default for peers (false).
    assert!(!c.clone().with_mode(WhatAmI::Peer).timestamping());
    let c = Config::from_json5("{ timestamping: { enabled: { peer: true } } }").unwrap();
    assert!(c.clone().with_mode(WhatAmI::Router).timestamping());
    assert!(c.timestamping());

    let mut c = Config::router();
    c.insert_json5("timestamping/enabled", "{ router: false }")
        .unwrap();
    assert!(!c.timestamping());
}

#[test]
fn mode_dependent_endpoints() {
    let text = "{ listen: { endpoints: { router: ['tcp/[::]:7000'], peer: ['tcp/[::]:7001'] } } }";
    let c = Config::from_json5(text).unwrap();
    assert_eq!(c.listen_endpoints(), vec![ep("tcp/[::]:7001")]);
    let r = c.clone().with_mode(WhatAmI::Router);
    assert_eq!(r.listen_endpoints(), vec![ep("tcp/[::]:7000")]);
    assert!(c.with_mode(WhatAmI::Client).listen_endpoints().is_empty());
    // Explicitly empty overrides the default.
    let c = Config::from_json5("{ mode: 'router', listen: { endpoints: [] } }").unwrap();
    assert!(c.listen_endpoints().is_empty());
}

#[test]
fn builders_set_values() {
    let zid = ZenohId::new(0xabc).unwrap();
    let c = Config::default()
        .with_mode(WhatAmI::Client)
        .with_id(zid)
        .with_connect(vec![ep("tcp/127.0.0.1:7447")])
        .with_listen(vec![ep("tcp/127.0.0.1:0")])
        .with_lease(Duration::from_secs(3))
        .with_timestamping(true);
    assert_eq!(c.mode(), WhatAmI::Client);
    assert_eq!(c.id(), Some(zid));
    assert_eq!(c.connect_endpoints(), &[ep("tcp/127.0.0.1:7447")]);
    assert_eq!(c.listen_endpoints(), vec![ep("tcp/127.0.0.1:0")]);
    assert!(c.timestamping());
    let t = c.transport_config(zid).expect("transport config");
    assert_eq!(t.lease, Duration::from_secs(3));
    assert_eq!(t.whatami, WhatAmI::Client);
}

#[test]
fn syntax_errors() {
    let e = Config::from_json5("{ mode: 'peer', mode: 'client' }").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert!(e.to_string().contains(r#"duplicate key "mode""#), "{e}");
    let e = Config::from_json5("{\n  mode: 'peer'\n  id: 'ab'\n}").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("configuration: invalid JSON5 at line 2"),
        "{e}"
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = Config::from_json5(&deep).unwrap_err();
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
    let e = Config::from_json5(
        "{ transport: { link: { rx: { max_message_size: 99999999999999999999 } } } }",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
}

#[test]
fn supported_keys_all_accepted() {
    let keys: Vec<_> = Config::supported_keys().collect();
    assert_eq!(keys.len(), 68);
    for key in keys {
        let mut c = Config::default();
        let e = c.insert_json5(key, "'not-a-valid-value-for-any-key'");
        // Every key is known: the error, if any, is about the value, never the key.
        if let Err(e) = e {
            assert!(!matches!(e, ConfigError::UnknownKey { .. }), "{key}: {e}");
            assert_eq!(
                e.path().map(|p| p.starts_with(key)),
                Some(true),
                "{key}: {e}"
            );
        }
    }
}

#[test]
fn retry_next_period() {
    let r = Config::default().connect_retry();
    assert_eq!(
        r.next_period(Duration::from_millis(1000)),
        Duration::from_millis(2000)
    );
    assert_eq!(
        r.next_period(Duration::from_millis(3000)),
        Duration::from_millis(4000)
    );
}

#[test]
fn never_panics_on_garbage() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 2000,
        ..Default::default()
    });
    let chars = "[\\[\\]{}:,'\" a-z0-9/\\-.\n*]{0,60}";
    runner
        .run(&(chars, "[a-z/]{0,20}"), |(text, key)| {
            let _ = Config::from_json5(&text);
            let _ = Config::default().insert_json5(&key, &text);
            Ok(())
        })
        .unwrap();
    runner
        .run(
            &prop::sample::select(Config::supported_keys().collect::<Vec<_>>()),
            |key| {
                for v in [
                    "null",
                    "true",
                    "-1",
                    "0",
                    "1.5",
                    "[]",
                    "{}",
                    "['x']",
                    "{peer: 1}",
                    "'a'",
                ] {
                    let _ = Config::default().insert_json5(key, v);
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn adminspace_keys_follow_zenoh_defaults() {
    let d = Config::default().adminspace();
    assert!(!d.enabled, "off unless asked, as in Zenoh");
    assert!(d.read && !d.write, "Zenoh's permission defaults");
    assert_eq!(d.max_closed_transports, 1000);
    let c = Config::from_json5(
        "{ adminspace: { enabled: true, permissions: { read: false, write: true }, max_closed_transports: 5 } }",
    )
    .unwrap();
    let a = c.adminspace();
    assert!(a.enabled && !a.read && a.write);
    assert_eq!(a.max_closed_transports, 5);
    let e = err("{ adminspace: { permissions: { read: 'yes' } } }");
    assert!(e.contains("adminspace/permissions/read"), "{e}");
    let e = err("{ adminspace: { max_closed_transports: -1 } }");
    assert!(e.contains("adminspace/max_closed_transports"), "{e}");
    let e = err("{ adminspace: { enable: true } }");
    assert!(e.contains(r#"did you mean "adminspace/enabled""#), "{e}");
}

#[test]
fn metadata_and_plugin_sections_are_free_form() {
    let mut c = Config::from_json5(
        "{ metadata: { name: 'edge-1', tags: [1, 2] }, plugins: { rest: { http_port: 8000 }, storage_manager: { volumes: {} } } }",
    )
    .unwrap();
    assert_eq!(c.metadata()["name"], "edge-1");
    assert_eq!(c.plugin("rest").unwrap()["http_port"], 8000);
    let mut names: Vec<_> = c.plugin_names().collect();
    names.sort();
    assert_eq!(names, ["rest", "storage_manager"]);
    // Zenoh's way of setting one plugin key, as `zenohd --rest-http-port` does.
    c.insert_json5("plugins/rest/http_port", r#""127.0.0.1:0""#)
        .unwrap();
    c.insert_json5("plugins/rest/__required__", "true").unwrap();
    let rest = c.plugin("rest").unwrap();
    assert_eq!(rest["http_port"], "127.0.0.1:0");
    assert_eq!(rest["__required__"], true);
    c.insert_json5("plugins/x/a/b", "1").unwrap();
    assert_eq!(c.plugin("x").unwrap()["a"]["b"], 1);
    c.insert_json5("plugins/x", "null").unwrap();
    assert!(c.plugin("x").is_none());
    // A plugin section must be an object; a value inside it cannot be walked through.
    let e = c.insert_json5("plugins/rest", "8000").unwrap_err();
    assert_eq!(e.path(), Some("plugins/rest"), "{e}");
    let e = c
        .insert_json5("plugins/rest/http_port/deeper", "1")
        .unwrap_err();
    assert_eq!(e.path(), Some("plugins/rest/http_port"), "{e}");
    assert_eq!(c.plugin("rest").unwrap()["http_port"], "127.0.0.1:0");
}

#[test]
fn tls_keys_follow_zenoh() {
    use plexus_link::Pem;
    // Zenoh 1.10.2's DEFAULT_CONFIG.json5 `tls` section is accepted as it is.
    let c = Config::from_json5(
        r#"{ transport: { link: { tls: {
            root_ca_certificate: null, listen_private_key: null, listen_certificate: null,
            enable_mtls: false, connect_private_key: null, connect_certificate: null,
            verify_name_on_connect: true, close_link_on_expiration: false } } } }"#,
    )
    .expect("Zenoh's defaults");
    assert_eq!(c.tls(), &plexus_link::TlsConfig::default());

    let c = Config::from_json5(
        r#"{ transport: { link: { tls: {
            root_ca_certificate: "/etc/plexus/ca.pem",
            listen_certificate_base64: "LS0tLS1CRUdJTg==",
            listen_private_key: "/etc/plexus/key.pem",
            enable_mtls: true, verify_name_on_connect: false, so_sndbuf: 65536 } } } }"#,
    )
    .expect("valid");
    let tls = c.tls();
    assert_eq!(
        tls.root_ca_certificate,
        Some(Pem::File("/etc/plexus/ca.pem".into()))
    );
    assert_eq!(
        tls.listen_certificate,
        Some(Pem::Base64("LS0tLS1CRUdJTg==".into()))
    );
    assert!(tls.enable_mtls && !tls.verify_name_on_connect);
    assert_eq!(tls.so_sndbuf, Some(65536));
    let t = c
        .transport_config(ZenohId::random())
        .expect("transport config");
    assert_eq!(&t.link.tls, tls);
    assert!(
        !format!("{c:?}").contains("LS0tLS1CRUdJTg=="),
        "inline PEM is not shown"
    );

    // One form per item; null resets only the form it names.
    let e = err(r#"{ transport: { link: { tls: {
        root_ca_certificate: "/a.pem", root_ca_certificate_base64: "QQ==" } } } }"#);
    assert!(
        e.contains("\"transport/link/tls/root_ca_certificate_base64\": \"transport/link/tls/root_ca_certificate\" is set too"),
        "{e}"
    );
    let mut c = Config::default();
    c.insert_json5("transport/link/tls/connect_certificate", "'/c.pem'")
        .expect("set");
    c.insert_json5("transport/link/tls/connect_certificate_base64", "null")
        .expect("null of the other form");
    assert!(c.tls().connect_certificate.is_some());
    c.insert_json5("transport/link/tls/connect_certificate", "null")
        .expect("reset");
    assert!(c.tls().connect_certificate.is_none());

    let e = err("{ transport: { link: { tls: { close_link_on_expiration: true } } } }");
    assert!(e.contains("not supported by Plexus"), "{e}");
    let e = err("{ transport: { link: { tls: { enable_mtls: 'yes' } } } }");
    assert!(e.contains("transport/link/tls/enable_mtls"), "{e}");
    let e = err("{ transport: { link: { tls: { listen_private_key_base64: 42 } } } }");
    assert!(e.contains("not shown") && !e.contains("42"), "{e}");
    let e = err("{ transport: { link: { tls: { root_ca_certificat: '/a' } } } }");
    assert!(e.contains("did you mean"), "{e}");
}

#[test]
fn usrpwd_keys_follow_zenoh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dict = dir.path().join("users.txt");
    std::fs::write(&dict, "alice:wonderland\n\nbob : builder\n").expect("write");
    let c = Config::from_json5(&format!(
        r#"{{ transport: {{ auth: {{ usrpwd: {{
            user: "router", password: "s3cret", dictionary_file: {:?} }} }} }} }}"#,
        dict.display().to_string()
    ))
    .expect("valid");
    let auth = c
        .transport_config(ZenohId::random())
        .expect("transport config")
        .auth
        .expect("usrpwd on");
    assert_eq!(auth.user(), Some("router"));
    let mut users: Vec<&[u8]> = auth.users().collect();
    users.sort();
    assert_eq!(users, vec![&b"alice"[..], &b"bob"[..]]);
    let shown = format!("{c:?}{auth:?}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("wonderland"),
        "{shown}"
    );

    // Off by default and with Zenoh's null defaults.
    let off = Config::from_json5(
        "{ transport: { auth: { usrpwd: { user: null, password: null, dictionary_file: null } } } }",
    )
    .expect("nulls");
    assert!(
        off.transport_config(ZenohId::random())
            .expect("ok")
            .auth
            .is_none()
    );

    // user and password go together (Zenoh's validator).
    let half = Config::from_json5("{ transport: { auth: { usrpwd: { user: 'alice' } } } }")
        .expect("parses");
    let e = half
        .transport_config(ZenohId::random())
        .expect_err("half")
        .to_string();
    assert!(e.contains("`user` and `password` go together"), "{e}");

    // The dictionary file is read when the session opens; errors name key, file, line.
    let missing = Config::default().with_usrpwd_dictionary(dir.path().join("nope.txt"));
    let e = missing
        .transport_config(ZenohId::random())
        .expect_err("missing file")
        .to_string();
    assert!(
        e.contains("\"transport/auth/usrpwd/dictionary_file\": cannot read")
            && e.contains("nope.txt"),
        "{e}"
    );
    std::fs::write(&dict, "alice:wonderland\nbroken line\n").expect("write");
    let e = Config::default()
        .with_usrpwd_dictionary(&dict)
        .transport_config(ZenohId::random())
        .expect_err("bad line")
        .to_string();
    assert!(e.contains("line 2: expected `user:password`"), "{e}");
    let e = err("{ transport: { auth: { usrpwd: { password: 1234 } } } }");
    assert!(!e.contains("1234"), "{e}");
}

#[test]
fn tx_queue_keys_as_in_zenoh() {
    let d = Config::default()
        .transport_config(ZenohId::random())
        .expect("transport config")
        .queue;
    assert_eq!(d.size, [16; 8], "Plexus's default (Zenoh: 2)");
    assert_eq!(d.wait_before_drop, Duration::from_micros(1000));
    assert_eq!(
        d.max_wait_before_drop_fragments,
        Duration::from_micros(50_000)
    );
    assert_eq!(d.wait_before_close, Duration::from_micros(5_000_000));
    assert!(d.batching, "batching is on by default, as in Zenoh");
    assert_eq!(d.batching_time_limit, Duration::from_millis(1));

    // Zenoh's DEFAULT_CONFIG.json5 section, as written there.
    let c = Config::from_json5(
        "{ transport: { link: { tx: { queue: {
            size: { control: 2, real_time: 2, interactive_high: 2, interactive_low: 2,
                    data_high: 2, data: 4, data_low: 2, background: 1 },
            congestion_control: {
              drop: { wait_before_drop: 2000, max_wait_before_drop_fragments: 60000 },
              block: { wait_before_close: 3000000 },
            },
            batching: { enabled: false, time_limit: 5 },
        } } } } }",
    )
    .unwrap();
    let q = c
        .transport_config(ZenohId::random())
        .expect("transport config")
        .queue;
    assert_eq!(q.size, [2, 2, 2, 2, 2, 4, 2, 1]);
    assert_eq!(q.wait_before_drop, Duration::from_millis(2));
    assert_eq!(q.max_wait_before_drop_fragments, Duration::from_millis(60));
    assert_eq!(q.wait_before_close, Duration::from_secs(3));
    assert!(!q.batching);
    assert_eq!(q.batching_time_limit, Duration::from_millis(5));

    // Negative waits are forever, as in Zenoh.
    let mut c = Config::default();
    c.insert_json5(
        "transport/link/tx/queue/congestion_control/block/wait_before_close",
        "-1",
    )
    .unwrap();
    let q = c
        .transport_config(ZenohId::random())
        .expect("transport config")
        .queue;
    assert!(q.wait_before_close > Duration::from_secs(365 * 24 * 3600));

    // A batching time limit too long to add to an instant is kept as "forever".
    let mut c = Config::default();
    c.insert_json5(
        "transport/link/tx/queue/batching/time_limit",
        "9223372036854775807",
    )
    .unwrap();
    let q = c
        .transport_config(ZenohId::random())
        .expect("transport config")
        .queue;
    let far = q.batching_time_limit;
    assert!(far > Duration::from_secs(365 * 24 * 3600));
    assert!(std::time::Instant::now().checked_add(far).is_some());

    // Out of Zenoh's range, or not a number: the error names the key.
    assert_eq!(
        err("{ transport: { link: { tx: { queue: { size: { data: 17 } } } } } }"),
        r#""transport/link/tx/queue/size/data": expected an integer from 1 to 16 (batches), got 17"#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { queue: { size: { control: 0 } } } } } }"),
        r#""transport/link/tx/queue/size/control": expected an integer from 1 to 16 (batches), got 0"#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { queue: { batching: { time_limit: -1 } } } } } }"),
        r#""transport/link/tx/queue/batching/time_limit": expected a non-negative integer (milliseconds), got -1"#
    );
    assert_eq!(
        err("{ transport: { link: { tx: { queue: { batching: { enabled: 'yes' } } } } } }"),
        r#""transport/link/tx/queue/batching/enabled": expected true or false, got "yes""#
    );
    let e = err(
        "{ transport: { link: { tx: { queue: { congestion_control: { drop: { wait_before_drop: 'soon' } } } } } } }",
    );
    assert!(
        e.contains("transport/link/tx/queue/congestion_control/drop/wait_before_drop")
            && e.contains("microseconds"),
        "{e}"
    );
    let e = err("{ transport: { link: { tx: { queue: { sise: {} } } } } }");
    assert!(e.contains("transport/link/tx/queue/sise"), "{e}");
}

#[test]
fn transport_weights_take_zenohs_shape_and_bad_entries_are_named() {
    let mut c = Config::from_json5(
        r#"{ mode: "router", routing: { router: { linkstate: {
            transport_weights: [{ dst_zid: "c3", weight: 200 }] } } } }"#,
    )
    .unwrap();
    c.insert_json5(
        "routing/router/linkstate/transport_weights",
        r#"[{ dst_zid: "a1", weight: 7 }]"#,
    )
    .unwrap();
    for (bad, needle) in [
        (r#"[{ dst_zid: "c3", weight: 0 }]"#, "1 to 65535"),
        (r#"[{ dst_zid: "c3" }]"#, "1 to 65535"),
        (r#"[{ dst_zid: "not hex", weight: 1 }]"#, "entry 0"),
        (
            r#"[{ dst_zid: "c3", weight: 1 }, { dst_zid: "c3", weight: 2 }]"#,
            "appears twice",
        ),
        (r#"{ dst_zid: "c3", weight: 1 }"#, "expected a list"),
    ] {
        let e = err(&format!(
            "{{ routing: {{ router: {{ linkstate: {{ transport_weights: {bad} }} }} }} }}"
        ));
        assert!(
            e.contains("routing/router/linkstate/transport_weights") && e.contains(needle),
            "{bad}: {e}"
        );
    }
}

#[test]
fn rtt_weights_are_a_plexus_key_and_bad_values_are_named() {
    Config::from_json5(
        r#"{ mode: "router", routing: { router: { linkstate: {
            rtt_weights: { enabled: true, window: 4, alpha: 0.5, us_per_unit: 50,
                           min_weight: 2, hysteresis: 0.1, min_step: 1, hold_down_ms: 500 } } } } }"#,
    )
    .unwrap();
    for (bad, needle) in [
        ("{ enabled: 1 }", "enabled must be true or false"),
        ("{ window: 0 }", "window must be from 1 to 64"),
        ("{ window: 65 }", "window must be an integer"),
        ("{ alpha: 0 }", "alpha must be in (0, 1]"),
        ("{ us_per_unit: 0 }", "us_per_unit must be at least 1"),
        ("{ hysteresis: -1 }", "hysteresis must be in [0, 10)"),
        ("{ hold_down: 5 }", "unknown key \"hold_down\""),
        ("[true]", "expected an object"),
    ] {
        let e = err(&format!(
            "{{ routing: {{ router: {{ linkstate: {{ rtt_weights: {bad} }} }} }} }}"
        ));
        assert!(
            e.contains("routing/router/linkstate/rtt_weights") && e.contains(needle),
            "{bad}: {e}"
        );
    }
}
