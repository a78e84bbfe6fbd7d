use super::*;
use crate::config::access_control::{
    parse_permission, parse_policies, parse_rules, parse_subjects,
};
use serde_json::Value;
use serde_json::json;

fn conf(v: Value) -> Result<AclConf, ConfigError> {
    let mut c = AclConf {
        enabled: v["enabled"].as_bool().unwrap_or(false),
        ..Default::default()
    };
    if let Some(p) = v.get("default_permission") {
        c.default_permission = parse_permission("access_control/default_permission", p)?;
    }
    if let Some(r) = v.get("rules") {
        c.rules = Some(parse_rules("access_control/rules", r)?);
    }
    if let Some(s) = v.get("subjects") {
        c.subjects = Some(parse_subjects("access_control/subjects", s)?);
    }
    if let Some(p) = v.get("policies") {
        c.policies = Some(parse_policies("access_control/policies", p)?);
    }
    Ok(c)
}

fn policy(v: Value) -> Arc<AclPolicy> {
    AclPolicy::compile(&conf(v).unwrap()).unwrap().unwrap()
}

fn key(k: &str) -> OwnedKeyExpr {
    OwnedKeyExpr::new(k).unwrap()
}

fn tcp_user(user: &str) -> FaceFacts {
    FaceFacts {
        zid: Some("a1".parse().unwrap()),
        username: Some(user.into()),
        link_protocols: vec!["tcp".into()],
        ..Default::default()
    }
}

fn error_of(v: Value) -> String {
    match conf(v).and_then(|c| AclPolicy::compile(&c)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    }
}

fn deny_put_demo() -> Value {
    json!({
        "enabled": true,
        "default_permission": "allow",
        "rules": [
            { "id": "no-secret", "messages": ["put"], "flows": ["ingress"],
              "permission": "deny", "key_exprs": ["demo/secret/**"] },
        ],
        "subjects": [ { "id": "alice", "usernames": ["alice"] } ],
        "policies": [ { "rules": ["no-secret"], "subjects": ["alice"] } ],
    })
}

#[test]
fn deny_rule_with_default_allow() {
    let p = policy(deny_put_demo());
    let alice = p.face(&tcp_user("alice")).unwrap();
    let bob = p.face(&tcp_user("bob")).unwrap();
    use AclMessage::*;
    use Flow::*;
    assert!(!alice.allows(Ingress, Put, &key("demo/secret/x")));
    assert!(alice.allows(Ingress, Put, &key("demo/public")));
    assert!(alice.allows(Ingress, Delete, &key("demo/secret/x")));
    assert!(alice.allows(Egress, Put, &key("demo/secret/x")));
    // The rule must include the key: a wider publication key is not covered.
    assert!(alice.allows(Ingress, Put, &key("demo/**")));
    assert!(bob.allows(Ingress, Put, &key("demo/secret/x")));
    // Cached answers are the same.
    assert!(!alice.allows(Ingress, Put, &key("demo/secret/x")));
}

#[test]
fn allow_rules_with_default_deny() {
    let p = policy(json!({
        "enabled": true,
        "rules": [
            { "id": "pub", "messages": ["put", "declare_subscriber"],
              "flows": ["ingress", "egress"], "permission": "allow", "key_exprs": ["demo/**"] },
            { "id": "veto", "messages": ["put"], "permission": "deny",
              "key_exprs": ["demo/veto"] },
        ],
        "subjects": [ { "id": "tcp", "link_protocols": ["tcp"] },
                      { "id": "tls", "link_protocols": ["tls"] } ],
        "policies": [ { "id": "p", "rules": ["pub", "veto"], "subjects": ["tcp"] } ],
    }));
    use AclMessage::*;
    use Flow::*;
    let tcp = p.face(&tcp_user("x")).unwrap();
    assert!(tcp.allows(Ingress, Put, &key("demo/a")));
    assert!(tcp.allows(Egress, DeclareSubscriber, &key("demo/a/b")));
    assert!(
        !tcp.allows(Ingress, Put, &key("demo/veto")),
        "deny wins over allow"
    );
    assert!(!tcp.allows(Ingress, Put, &key("other")));
    assert!(!tcp.allows(Ingress, Query, &key("demo/a")));
    let tls = p
        .face(&FaceFacts {
            link_protocols: vec!["tls".into()],
            ..Default::default()
        })
        .unwrap();
    // A matched subject that no policy names gets default_permission.
    assert!(!tls.allows(Ingress, Put, &key("demo/a")));
    // Nothing matched: default_permission.
    let none = p
        .face(&FaceFacts {
            link_protocols: vec!["udp".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(!none.allows(Egress, Put, &key("demo/a")));
}

#[test]
fn any_allowing_subject_allows() {
    let p = policy(json!({
        "enabled": true,
        "rules": [
            { "id": "a", "messages": ["put"], "permission": "allow", "key_exprs": ["a/**"] },
            { "id": "b", "messages": ["put"], "permission": "allow", "key_exprs": ["b/**"] },
        ],
        "subjects": [
            { "id": "user", "usernames": ["u"] },
            { "id": "cn", "cert_common_names": ["host"] },
            { "id": "zid", "zids": ["a1"] },
        ],
        "policies": [
            { "rules": ["a"], "subjects": ["user"] },
            { "rules": ["b"], "subjects": ["cn"] },
        ],
    }));
    use AclMessage::*;
    use Flow::*;
    let f = p
        .face(&FaceFacts {
            zid: Some("a1".parse().unwrap()),
            username: Some("u".into()),
            cert_common_names: vec!["host".into()],
            link_protocols: vec!["tls".into()],
            interfaces: vec![],
        })
        .unwrap();
    assert!(f.allows(Ingress, Put, &key("a/1")));
    assert!(f.allows(Egress, Put, &key("b/1")));
    assert!(!f.allows(Ingress, Put, &key("c/1")));
    let user_only = p.face(&tcp_user("u")).unwrap();
    assert!(user_only.allows(Ingress, Put, &key("a/1")));
    assert!(!user_only.allows(Ingress, Put, &key("b/1")));
}

#[test]
fn combinations_of_properties_all_must_match() {
    let p = policy(json!({
        "enabled": true,
        "rules": [ { "id": "r", "messages": ["query", "reply"], "permission": "allow",
                     "key_exprs": ["**"] } ],
        "subjects": [ { "id": "s", "usernames": ["u", "v"], "link_protocols": ["tls"] } ],
        "policies": [ { "rules": ["r"], "subjects": ["s"] } ],
    }));
    use AclMessage::*;
    use Flow::*;
    let tls_v = p
        .face(&FaceFacts {
            username: Some("v".into()),
            link_protocols: vec!["tls".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(tls_v.allows(Ingress, Query, &key("x")));
    assert!(tls_v.allows(Egress, Reply, &key("x/y")));
    let tcp_u = p.face(&tcp_user("u")).unwrap();
    assert!(!tcp_u.allows(Ingress, Query, &key("x")));
    // An interface subject matches a transport with a link on that interface.
    let p = policy(json!({
        "enabled": true, "default_permission": "allow",
        "rules": [ { "id": "r", "messages": ["put"], "permission": "deny", "key_exprs": ["**"] } ],
        "subjects": [ { "id": "s", "interfaces": ["lo"] } ],
        "policies": [ { "rules": ["r"], "subjects": ["s"] } ],
    }));
    assert!(p.uses_interfaces());
    assert!(
        p.face(&tcp_user("u"))
            .unwrap()
            .allows(Ingress, Put, &key("x")),
        "a transport on no known interface matched"
    );
    let on_lo = FaceFacts {
        interfaces: vec!["eth0".into(), "lo".into()],
        ..tcp_user("u")
    };
    assert!(!p.face(&on_lo).unwrap().allows(Ingress, Put, &key("x")));
    assert!(!policy(deny_put_demo()).uses_interfaces());
}

#[test]
fn interfaces_of_local_addresses() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    assert!(interfaces_of(&[]).is_empty());
    // The loopback address is on the loopback interface (`lo` on Linux).
    let lo = interfaces_of(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert_eq!(lo.len(), 1, "{lo:?}");
    #[cfg(target_os = "linux")]
    assert_eq!(lo, ["lo"]);
    // As an IPv4-mapped IPv6 address too.
    let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
    assert_eq!(interfaces_of(&[mapped]), lo);
    // An address no interface holds (TEST-NET-1) is on none.
    assert!(interfaces_of(&[IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77))]).is_empty());
    // The unspecified address is on every interface, the loopback one among them.
    let all = interfaces_of(&[IpAddr::V6(Ipv6Addr::UNSPECIFIED)]);
    assert!(all.contains(&lo[0]), "{all:?}");
}

#[test]
fn off_or_empty_lists() {
    assert!(
        AclPolicy::compile(&conf(json!({ "enabled": false })).unwrap())
            .unwrap()
            .is_none()
    );
    // Enabled with empty lists: default_permission everywhere.
    let p = policy(json!({ "enabled": true, "rules": [], "subjects": [], "policies": [] }));
    let f = p.face(&tcp_user("u")).unwrap();
    assert!(!f.allows(Flow::Egress, AclMessage::LivelinessToken, &key("x")));
    let p = policy(json!({ "enabled": true, "default_permission": "allow",
                           "rules": [], "subjects": [], "policies": [] }));
    assert!(p.face(&tcp_user("u")).is_none(), "nothing to check");
    // Only ingress rules with default allow: egress is not checked.
    let p = policy(deny_put_demo());
    let f = p.face(&tcp_user("alice")).unwrap();
    assert!(f.checks_ingress() && !f.checks_egress());
}

#[test]
fn errors_name_what_is_wrong() {
    let mut v = deny_put_demo();
    v["rules"][0]["messages"] = json!(["put", "publish"]);
    let e = error_of(v);
    assert!(
        e.contains("access_control/rules[0]") && e.contains("\"no-secret\""),
        "{e}"
    );
    assert!(e.contains("unknown message kind \"publish\""), "{e}");

    let mut v = deny_put_demo();
    v["rules"][0]["key_exprs"] = json!(["demo//x"]);
    let e = error_of(v);
    assert!(
        e.contains("\"no-secret\"") && e.contains("bad key expression \"demo//x\""),
        "{e}"
    );

    let mut v = deny_put_demo();
    v["rules"] = json!([v["rules"][0], v["rules"][0]]);
    let e = error_of(v);
    assert!(
        e.contains("rules[1]") && e.contains("\"no-secret\" is repeated"),
        "{e}"
    );

    let mut v = deny_put_demo();
    v["policies"][0]["rules"] = json!(["no-secret", "nope"]);
    let e = error_of(v);
    assert!(
        e.contains("policies[0]") && e.contains("rule \"nope\" is not in the rules list"),
        "{e}"
    );

    let mut v = deny_put_demo();
    v["policies"][0]["subjects"] = json!(["carol"]);
    let e = error_of(v);
    assert!(
        e.contains("subject \"carol\" is not in the subjects list"),
        "{e}"
    );

    let mut v = deny_put_demo();
    v["subjects"][0]["usernames"] = json!([]);
    let e = error_of(v);
    assert!(
        e.contains("subject \"alice\"") && e.contains("`usernames` is an empty list"),
        "{e}"
    );

    let mut v = deny_put_demo();
    v["subjects"][0]["link_protocols"] = json!(["carrier-pigeon"]);
    let e = error_of(v);
    assert!(
        e.contains("unknown link protocol \"carrier-pigeon\""),
        "{e}"
    );

    let mut v = deny_put_demo();
    v["rules"][0]["flows"] = json!(["inbound"]);
    assert!(error_of(v).contains("unknown flow \"inbound\""));

    let mut v = deny_put_demo();
    v["rules"][0]["permision"] = json!("deny");
    assert!(error_of(v).contains("unknown field \"permision\""));

    let mut v = deny_put_demo();
    v.as_object_mut().unwrap().remove("policies");
    let e = error_of(v);
    assert!(e.contains("`policies` not given"), "{e}");

    let mut v = deny_put_demo();
    v["policies"] = json!([{ "id": "p", "rules": ["no-secret"], "subjects": ["alice"] },
                           { "id": "p", "rules": ["no-secret"], "subjects": ["alice"] }]);
    assert!(error_of(v).contains("policy id \"p\" is repeated"));
}
