//! usrpwd authentication in the sans-IO handshake: Plexus against Plexus through the codec,
//! every refusal with its reason on both sides, and replays of the Zenoh 1.10.2 exchange
//! recorded in `shared/wire-captures/usrpwd.jsonl`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use plexus_transport::auth::{AuthError, UsrPwd};
use plexus_transport::handshake::{Handshake, HandshakeConfig, HandshakeError};
use plexus_transport::wire::transport::{Close, CloseReason, TransportMessage};
use plexus_transport::wire::{Reader, WhatAmI, ZenohId};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn encode(m: &TransportMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.write(&mut out);
    out
}

fn decode(b: &[u8]) -> TransportMessage {
    let mut r = Reader::new(Bytes::copy_from_slice(b));
    let m = TransportMessage::read(&mut r).expect("decode");
    assert!(r.is_empty(), "trailing bytes after {m:?}");
    m
}

fn usrpwd(credentials: Option<(&str, &str)>, dictionary: &str) -> Arc<UsrPwd> {
    Arc::new(
        UsrPwd::new(
            credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            UsrPwd::parse_dictionary(dictionary).expect("dictionary"),
        )
        .expect("usrpwd settings"),
    )
}

fn cfg(whatami: WhatAmI, auth: Option<Arc<UsrPwd>>) -> HandshakeConfig {
    let mut c = HandshakeConfig::new(ZenohId::random(), whatami);
    c.auth = auth;
    c
}

/// What each side ended with, and every message that went across (encoded).
struct Outcome {
    opener: Result<Handshake, HandshakeError>,
    acceptor: Result<Handshake, HandshakeError>,
    wire: Vec<(&'static str, Vec<u8>)>,
}

/// Runs both sides through the codec until one fails or both are done; a failed side's
/// last words (its CLOSE) are delivered to the other side.
fn run(o: HandshakeConfig, a: HandshakeConfig) -> Outcome {
    let now = Instant::now();
    let mut opener = Handshake::opener(o, now);
    let mut acceptor = Handshake::acceptor(a, now);
    let mut wire = Vec::new();
    let mut errs: (Option<HandshakeError>, Option<HandshakeError>) = (None, None);
    loop {
        let mut moved = false;
        while let Some(m) = opener.poll_transmit() {
            moved = true;
            let b = encode(&m);
            wire.push(("opener", b.clone()));
            if errs.1.is_none()
                && let Err(e) = acceptor.handle_message(decode(&b), now)
            {
                errs.1 = Some(e);
            }
        }
        while let Some(m) = acceptor.poll_transmit() {
            moved = true;
            let b = encode(&m);
            wire.push(("acceptor", b.clone()));
            if errs.0.is_none()
                && let Err(e) = opener.handle_message(decode(&b), now)
            {
                errs.0 = Some(e);
            }
        }
        if !moved {
            break;
        }
    }
    Outcome {
        opener: errs.0.map_or(Ok(opener), Err),
        acceptor: errs.1.map_or(Ok(acceptor), Err),
        wire,
    }
}

#[test]
fn right_credentials_establish_and_name_the_user_on_the_acceptor() {
    let out = run(
        cfg(
            WhatAmI::Client,
            Some(usrpwd(Some(("alice", "wonderland")), "")),
        ),
        cfg(
            WhatAmI::Router,
            Some(usrpwd(None, "alice:wonderland\nbob:builder")),
        ),
    );
    let opener = out.opener.expect("opener ok");
    let acceptor = out.acceptor.expect("acceptor ok");
    let (o, a) = (
        opener.established().expect("opener established"),
        acceptor.established().expect("acceptor established"),
    );
    assert_eq!(a.auth_user.as_deref(), Some("alice"));
    assert_eq!(o.auth_user, None, "the opener learns no user name");
    // INIT syn offers (`c3 01 02` inside, more extensions follow), INIT ack challenges
    // with a z64 nonce, OPEN syn answers with user and 32-byte HMAC, OPEN ack confirms.
    let shown: Vec<String> = out.wire.iter().map(|(_, b)| to_hex(b)).collect();
    assert!(shown[0].contains("c30102"), "{}", shown[0]);
    assert!(
        shown[1].contains("c30a22") || shown[1].contains("430a22"),
        "{}",
        shown[1]
    );
    assert!(shown[2].contains("4329422705616c69636520"), "{}", shown[2]);
    assert!(shown[3].ends_with("430102"), "{}", shown[3]);
}

#[test]
fn a_wrong_password_is_refused_with_reasons_on_both_sides() {
    let out = run(
        cfg(WhatAmI::Client, Some(usrpwd(Some(("alice", "guess")), ""))),
        cfg(WhatAmI::Router, Some(usrpwd(None, "alice:wonderland"))),
    );
    let acc = out.acceptor.expect_err("acceptor refuses");
    assert_eq!(
        acc,
        HandshakeError::Auth(AuthError::WrongPassword {
            user: "alice".into()
        })
    );
    assert_eq!(
        acc.to_string(),
        "usrpwd authentication failed: wrong password for user `alice`"
    );
    let op = out.opener.expect_err("opener learns it was refused");
    assert_eq!(
        op,
        HandshakeError::Auth(AuthError::Refused {
            user: "alice".into(),
            reason: CloseReason::Generic
        })
    );
    assert!(
        op.to_string()
            .contains("the peer refused our usrpwd credentials (user `alice`)"),
        "{op}"
    );
    // Zenoh's refusal: CLOSE(GENERIC), `03 00`, right after the OPEN syn.
    let (who, last) = out.wire.last().expect("messages");
    assert_eq!((*who, last.as_slice()), ("acceptor", &[0x03, 0x00][..]));
}

#[test]
fn an_unknown_user_is_refused() {
    let out = run(
        cfg(WhatAmI::Peer, Some(usrpwd(Some(("mallory", "x")), ""))),
        cfg(WhatAmI::Peer, Some(usrpwd(None, "alice:wonderland"))),
    );
    assert_eq!(
        out.acceptor.expect_err("refused"),
        HandshakeError::Auth(AuthError::UnknownUser {
            user: "mallory".into()
        })
    );
    assert!(matches!(
        out.opener,
        Err(HandshakeError::Auth(AuthError::Refused { .. }))
    ));
}

#[test]
fn an_opener_without_credentials_is_refused_at_init() {
    let out = run(
        cfg(WhatAmI::Client, None),
        cfg(WhatAmI::Router, Some(usrpwd(None, "alice:wonderland"))),
    );
    assert_eq!(
        out.acceptor.expect_err("refused"),
        HandshakeError::Auth(AuthError::Missing)
    );
    assert_eq!(
        out.opener.expect_err("closed"),
        HandshakeError::ClosedByPeer {
            reason: CloseReason::Generic
        }
    );
    assert_eq!(out.wire.len(), 2, "INIT syn, then CLOSE");
    // A dictionary without credentials does not make the opener authenticate either.
    let out = run(
        cfg(WhatAmI::Peer, Some(usrpwd(None, "carol:pw"))),
        cfg(WhatAmI::Peer, Some(usrpwd(None, "alice:wonderland"))),
    );
    assert!(out.acceptor.is_err() && out.opener.is_err());
}

#[test]
fn an_opener_with_credentials_refuses_a_peer_that_asks_for_none() {
    let out = run(
        cfg(
            WhatAmI::Client,
            Some(usrpwd(Some(("alice", "wonderland")), "")),
        ),
        cfg(WhatAmI::Router, None),
    );
    let err = out.opener.expect_err("refused");
    assert_eq!(
        err,
        HandshakeError::Auth(AuthError::NotOffered {
            user: "alice".into()
        })
    );
    assert!(
        err.to_string().contains("no nonce in its INIT ack"),
        "{err}"
    );
    assert_eq!(
        out.acceptor.expect_err("told"),
        HandshakeError::ClosedByPeer {
            reason: CloseReason::Generic
        }
    );
}

#[test]
fn without_usrpwd_on_either_side_nothing_changes() {
    let out = run(cfg(WhatAmI::Peer, None), cfg(WhatAmI::Peer, None));
    let a = out.acceptor.expect("ok");
    assert_eq!(a.established().expect("done").auth_user, None);
    for (_, b) in &out.wire {
        assert!(
            !to_hex(b).contains("4301"),
            "no Auth extension: {}",
            to_hex(b)
        );
    }
}

#[test]
fn an_open_ack_without_confirmation_is_refused_by_the_opener() {
    let now = Instant::now();
    let mut op = Handshake::opener(
        cfg(
            WhatAmI::Client,
            Some(usrpwd(Some(("alice", "wonderland")), "")),
        ),
        now,
    );
    let _syn = op.poll_transmit().expect("INIT syn");
    // The captured INIT ack of connection 0, then its OPEN ack without the Auth extension.
    op.handle_message(decode(&hex(CAPTURED_INIT_ACK_0)), now)
        .expect("INIT ack");
    let _open = op.poll_transmit().expect("OPEN syn");
    let err = op
        .handle_message(decode(&hex("620ae5899357")), now)
        .expect_err("not confirmed");
    assert_eq!(
        err,
        HandshakeError::Auth(AuthError::NotConfirmed {
            user: "alice".into()
        })
    );
    assert!(matches!(
        op.poll_transmit(),
        Some(TransportMessage::Close(Close {
            reason: CloseReason::Generic,
            ..
        }))
    ));
}

// Connection 0 (accepted) and 1 (wrong password) of `usrpwd.jsonl`: a Zenoh client `alice`
// against a Zenoh router whose dictionary holds `alice:wonderland`.
const CAPTURED_INIT_SYN_0: &str = "c109f2fba1ee15e573c4ab4054866317a1d50f0ac8ff81c301022701";
const CAPTURED_INIT_ACK_0: &str = "e109f0078d9701a23a2a2faa45a1e46da6d6c40a00c03130014a949c0b303392e65737ff1fac27b32df2a0f02da8b4deb5fb2bbab75075fc7b737893f3cd28a644582aa86c70901981c30a22bacaf48d849e82b7a22701";
const CAPTURED_OPEN_SYN_0: &str = "c20ac0e2a91c3130014a949c0b303392e65737ff1fac27b32df2a0f02da8b4deb5fb2bbab75075fc7b737893f3cd28a644582aa86c7090194329422705616c69636520b5e2868f9a8e70f26316d0c5eb44f5d34f4097bb24cc55f1797b147a4ca6a0c5";
const CAPTURED_OPEN_ACK_0: &str = "e20ae5899357430102";
const CAPTURED_AUTH_0: &str =
    "422705616c69636520b5e2868f9a8e70f26316d0c5eb44f5d34f4097bb24cc55f1797b147a4ca6a0c5";
const CAPTURED_INIT_SYN_1: &str = "c109f2f40fb13fe5b7c4caaa626c5f8028d5bf0ac8ff81c301022701";
const CAPTURED_INIT_ACK_1: &str = "e109f0078d9701a23a2a2faa45a1e46da6d6c40a00c03130e959cdfb8cbe5d43fb2babab0dab3c576169d5e99f4ce1924809e8bd6a18c9058a3825041e121b0b78815bbefa0e90c181c30a22cedb8a83ac83f48de12701";
const CAPTURED_OPEN_SYN_1: &str = "c20ab188c9763130e959cdfb8cbe5d43fb2babab0dab3c576169d5e99f4ce1924809e8bd6a18c9058a3825041e121b0b78815bbefa0e90c14329422705616c696365208b1beaa408bde3cda3f3c113d556c2a696f692b81d3f7154c26a14fb3a65a3e8";

/// The nonce a captured INIT ack carries.
fn nonce_of(init_ack: &str) -> u64 {
    let TransportMessage::Init(ack) = decode(&hex(init_ack)) else {
        panic!("not an INIT")
    };
    let auth = ack.auth.expect("Auth extension");
    // `22` then a zint.
    assert_eq!(auth[0], 0x22);
    let mut r = Reader::new(auth.slice(1..));
    r.zint("nonce").expect("zint")
}

#[test]
fn plexus_opener_answers_the_captured_zenoh_challenge_byte_for_byte() {
    let now = Instant::now();
    let mut op = Handshake::opener(
        cfg(
            WhatAmI::Client,
            Some(usrpwd(Some(("alice", "wonderland")), "")),
        ),
        now,
    );
    let Some(TransportMessage::Init(syn)) = op.poll_transmit() else {
        panic!("INIT syn")
    };
    assert_eq!(
        syn.auth.as_deref(),
        Some(&[0x02][..]),
        "as Zenoh's `c3 01 02`"
    );
    op.handle_message(decode(&hex(CAPTURED_INIT_ACK_0)), now)
        .expect("INIT ack");
    let Some(TransportMessage::Open(open)) = op.poll_transmit() else {
        panic!("OPEN syn")
    };
    assert_eq!(to_hex(open.auth.as_deref().expect("auth")), CAPTURED_AUTH_0);
    op.handle_message(decode(&hex(CAPTURED_OPEN_ACK_0)), now)
        .expect("OPEN ack");
    assert!(op.established().is_some());
}

#[test]
fn plexus_acceptor_checks_the_captured_zenoh_answers() {
    for (init_syn, init_ack, open_syn, user) in [
        (
            CAPTURED_INIT_SYN_0,
            CAPTURED_INIT_ACK_0,
            CAPTURED_OPEN_SYN_0,
            Ok("alice"),
        ),
        (
            CAPTURED_INIT_SYN_1,
            CAPTURED_INIT_ACK_1,
            CAPTURED_OPEN_SYN_1,
            Err(AuthError::WrongPassword {
                user: "alice".into(),
            }),
        ),
    ] {
        let now = Instant::now();
        let mut a = cfg(WhatAmI::Router, Some(usrpwd(None, "alice:wonderland")));
        a.nonce = Some(nonce_of(init_ack));
        let mut acc = Handshake::acceptor(a, now);
        acc.handle_message(decode(&hex(init_syn)), now)
            .expect("INIT syn");
        let Some(TransportMessage::Init(ack)) = acc.poll_transmit() else {
            panic!("INIT ack")
        };
        // The challenge is encoded as Zenoh encodes it.
        assert!(
            to_hex(&encode(&TransportMessage::Init(ack.clone())))
                .contains(&to_hex(&hex(init_ack)[hex(init_ack).len() - 14..])),
            "{ack:?}"
        );
        // Zenoh's OPEN syn, with our cookie in place of its acceptor's.
        let TransportMessage::Open(mut open) = decode(&hex(open_syn)) else {
            panic!("OPEN syn")
        };
        open.cookie = ack.cookie.clone();
        let res = acc.handle_message(TransportMessage::Open(open), now);
        match user {
            Ok(user) => {
                res.expect("accepted");
                let Some(TransportMessage::Open(ack)) = acc.poll_transmit() else {
                    panic!("OPEN ack")
                };
                assert_eq!(
                    ack.auth.as_deref(),
                    Some(&[0x02][..]),
                    "as Zenoh's `43 01 02`"
                );
                assert_eq!(
                    acc.established().expect("done").auth_user.as_deref(),
                    Some(user)
                );
            }
            Err(expected) => {
                assert_eq!(res, Err(HandshakeError::Auth(expected)));
                let close = acc.poll_transmit().expect("CLOSE");
                assert_eq!(encode(&close), hex("0300"), "as Zenoh's refusal");
            }
        }
    }
}

#[test]
fn dictionary_and_credentials_are_checked() {
    assert!(UsrPwd::new(Some(("".into(), "x".into())), HashMap::new()).is_err());
    assert!(UsrPwd::new(Some(("u".into(), "".into())), HashMap::new()).is_err());
    let a = usrpwd(Some(("me", "pw")), "x:y");
    assert_eq!(a.user(), Some("me"));
    assert_eq!(a.users().count(), 1);
}
