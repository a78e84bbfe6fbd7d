use super::*;

fn zid(v: u128) -> ZenohId {
    ZenohId::new(v).expect("nonzero")
}

#[test]
fn offer_never_includes_64_bit_sns_or_unknown_patch() {
    let mut cfg = HandshakeConfig::new(zid(1), WhatAmI::Peer);
    cfg.resolution = 0xff;
    cfg.patch = 7;
    let mut hs = Handshake::opener(cfg, Instant::now());
    let Some(TransportMessage::Init(syn)) = hs.poll_transmit() else {
        panic!("no INIT syn")
    };
    assert_eq!(syn.resolution, 0x0e);
    assert_eq!(syn.patch, 1);
    assert_eq!(hs.poll_transmit(), None);
}

#[test]
fn acceptor_answers_min_per_field() {
    let t0 = Instant::now();
    let mut acc = Handshake::acceptor(HandshakeConfig::new(zid(1), WhatAmI::Peer), t0);
    let mut syn = Init::syn(WhatAmI::Client, zid(2));
    syn.resolution = 0b1101; // 16-bit SNs, 64-bit request ids
    acc.handle_message(TransportMessage::Init(syn), t0).unwrap();
    let Some(TransportMessage::Init(ack)) = acc.poll_transmit() else {
        panic!("no INIT ack")
    };
    assert_eq!(ack.resolution, 0b1001);
    assert_eq!(ack.cookie.len(), 16);
    assert_eq!(ack.qos, None);
    assert_eq!(ack.patch, 0);
    assert_eq!(acc.poll_timeout(), Some(t0 + DEFAULT_TIMEOUT));
}

#[test]
fn errors_are_sticky_and_close_sent_once() {
    let t0 = Instant::now();
    let mut acc = Handshake::acceptor(HandshakeConfig::new(zid(1), WhatAmI::Peer), t0);
    let err = acc
        .handle_message(TransportMessage::KeepAlive, t0)
        .unwrap_err();
    assert_eq!(
        err,
        HandshakeError::Unexpected {
            expected: "INIT syn",
            got: "KEEP_ALIVE".into()
        }
    );
    assert_eq!(
        acc.handle_message(TransportMessage::KeepAlive, t0),
        Err(err.clone())
    );
    assert_eq!(
        acc.handle_timeout(t0 + Duration::from_secs(60)),
        Err(err.clone())
    );
    assert!(matches!(
        acc.poll_transmit(),
        Some(TransportMessage::Close(Close {
            reason: CloseReason::Invalid,
            session: false
        }))
    ));
    assert_eq!(acc.poll_transmit(), None);
    assert_eq!(acc.poll_timeout(), None);
    assert_eq!(acc.error(), Some(&err));
    // A decode error after the failure queues nothing more.
    let e = acc.handle_decode_error(DecodeError::malformed("x", "y"));
    assert!(matches!(e, HandshakeError::Malformed(_)));
    assert_eq!(acc.poll_transmit(), None);
}

/// Runs a handshake between two state machines; returns both outcomes.
fn run(
    mut opener: Handshake,
    mut acceptor: Handshake,
    tamper: impl Fn(&mut TransportMessage),
) -> (Handshake, Handshake) {
    let t0 = Instant::now();
    for _ in 0..4 {
        while let Some(mut m) = opener.poll_transmit() {
            tamper(&mut m);
            let _ = acceptor.handle_message(m, t0);
        }
        while let Some(m) = acceptor.poll_transmit() {
            let _ = opener.handle_message(m, t0);
        }
    }
    (opener, acceptor)
}

#[test]
fn multilink_is_agreed_and_proven_when_both_hold_a_key() {
    let t0 = Instant::now();
    let ka = Arc::new(MultilinkKey::generate().expect("key"));
    let kb = Arc::new(MultilinkKey::generate().expect("key"));
    let cfg = |z, k: Option<&Arc<MultilinkKey>>| {
        let mut c = HandshakeConfig::new(zid(z), WhatAmI::Peer);
        c.multilink = k.cloned();
        c
    };
    let (o, a) = run(
        Handshake::opener(cfg(1, Some(&ka)), t0),
        Handshake::acceptor(cfg(2, Some(&kb)), t0),
        |_| {},
    );
    let (o, a) = (
        o.established().expect("opener"),
        a.established().expect("acceptor"),
    );
    assert_eq!(o.multilink_key.as_ref(), Some(kb.public()));
    assert_eq!(a.multilink_key.as_ref(), Some(ka.public()));
    // One side without a key: no multilink, the handshake still completes.
    for (x, y) in [(Some(&ka), None), (None, Some(&kb))] {
        let (o, a) = run(
            Handshake::opener(cfg(1, x), t0),
            Handshake::acceptor(cfg(2, y), t0),
            |_| {},
        );
        assert_eq!(o.established().expect("opener").multilink_key, None);
        assert_eq!(a.established().expect("acceptor").multilink_key, None);
    }
    // A forged proof, or none, fails the acceptor's side.
    for forge in [true, false] {
        let (_, a) = run(
            Handshake::opener(cfg(1, Some(&ka)), t0),
            Handshake::acceptor(cfg(2, Some(&kb)), t0),
            |m| {
                if let TransportMessage::Open(open) = m {
                    open.multilink_syn = forge.then(|| Bytes::from_static(&[1, 7]));
                }
            },
        );
        assert!(
            matches!(a.error(), Some(HandshakeError::Multilink(_))),
            "{:?}",
            a.error()
        );
    }
}
