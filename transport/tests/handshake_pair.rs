//! Sans-IO handshake tests: a Plexus opener against a Plexus acceptor, error paths,
//! and replays of real Zenoh 1.10.2 bytes from `shared/wire-captures/`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_transport::handshake::{
    Established, Handshake, HandshakeConfig, HandshakeError, short_name,
};
use plexus_transport::wire::transport::{
    Close, CloseReason, FrameHeader, Init, Open, QosExt, TransportMessage,
};
use plexus_transport::wire::{DecodeError, Priority, Reader, Reliability, WhatAmI, ZenohId};

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    Bytes::from(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>(),
    )
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

fn zid(s: &str) -> ZenohId {
    s.parse().expect("zid")
}

fn cfg(id: &str, whatami: WhatAmI) -> HandshakeConfig {
    HandshakeConfig::new(zid(id), whatami)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Opener,
    Acceptor,
}

/// Shuttles messages between an opener and an acceptor, optionally through the codec.
struct Pair {
    opener: Handshake,
    acceptor: Handshake,
    now: Instant,
    through_codec: bool,
    /// Every message delivered, with the side that sent it.
    log: Vec<(Side, TransportMessage)>,
}

impl Pair {
    fn new(o: HandshakeConfig, a: HandshakeConfig, through_codec: bool) -> Self {
        let now = Instant::now();
        Pair {
            opener: Handshake::opener(o, now),
            acceptor: Handshake::acceptor(a, now),
            now,
            through_codec,
            log: Vec::new(),
        }
    }

    /// Runs until neither side has anything to send; stops at the first error.
    fn run(&mut self) -> Result<(), (Side, HandshakeError)> {
        loop {
            let mut moved = false;
            while let Some(m) = self.opener.poll_transmit() {
                moved = true;
                let m = self.carry(Side::Opener, m);
                if let Err(e) = self.acceptor.handle_message(m, self.now) {
                    self.flush_failed(Side::Acceptor);
                    return Err((Side::Acceptor, e));
                }
            }
            while let Some(m) = self.acceptor.poll_transmit() {
                moved = true;
                let m = self.carry(Side::Acceptor, m);
                if let Err(e) = self.opener.handle_message(m, self.now) {
                    self.flush_failed(Side::Opener);
                    return Err((Side::Opener, e));
                }
            }
            if !moved {
                return Ok(());
            }
            self.now += Duration::from_millis(1);
        }
    }

    /// Delivers what a failed side still had to say (its CLOSE) to the other side.
    fn flush_failed(&mut self, failed: Side) {
        loop {
            let next = match failed {
                Side::Opener => self.opener.poll_transmit(),
                Side::Acceptor => self.acceptor.poll_transmit(),
            };
            let Some(m) = next else { return };
            let m = self.carry(failed, m);
            let _ = match failed {
                Side::Opener => self.acceptor.handle_message(m, self.now),
                Side::Acceptor => self.opener.handle_message(m, self.now),
            };
        }
    }

    fn carry(&mut self, from: Side, m: TransportMessage) -> TransportMessage {
        let m = if self.through_codec {
            decode(&encode(&m))
        } else {
            m
        };
        self.log.push((from, m.clone()));
        m
    }

    fn both(&self) -> (&Established, &Established) {
        (
            self.opener.established().expect("opener established"),
            self.acceptor.established().expect("acceptor established"),
        )
    }
}

fn assert_agree(o: &Established, a: &Established) {
    assert_eq!(o.batch_size, a.batch_size);
    assert_eq!(o.resolution, a.resolution);
    assert_eq!(o.sn_mask, a.sn_mask);
    assert_eq!(o.qos, a.qos);
    assert_eq!(o.patch, a.patch);
    assert_eq!(o.local_initial_sn, a.remote_initial_sn);
    assert_eq!(o.remote_initial_sn, a.local_initial_sn);
    assert_eq!(o.local_lease, a.remote_lease);
    assert_eq!(o.remote_lease, a.local_lease);
    assert_eq!(o.local_initial_sn & !o.sn_mask, 0);
    assert_eq!(o.remote_initial_sn & !o.sn_mask, 0);
}

#[test]
fn pair_establishes_with_and_without_codec() {
    for through_codec in [false, true] {
        let mut o = cfg("a1", WhatAmI::Client);
        o.lease = Duration::from_millis(1500);
        let a = cfg("b2", WhatAmI::Peer);
        let mut p = Pair::new(o, a, through_codec);
        p.run().expect("handshake");
        let (o, a) = p.both();
        assert_agree(o, a);
        assert_eq!(o.remote_zid, zid("b2"));
        assert_eq!(o.remote_whatami, WhatAmI::Peer);
        assert_eq!(a.remote_zid, zid("a1"));
        assert_eq!(a.remote_whatami, WhatAmI::Client);
        assert_eq!(o.batch_size, u16::MAX);
        assert_eq!(o.resolution, 0x0a);
        assert_eq!(o.sn_mask, 0x0fff_ffff);
        assert!(o.qos);
        assert_eq!(o.patch, 1);
        assert_eq!(a.remote_lease, Duration::from_millis(1500));
        assert_eq!(o.remote_lease, Duration::from_secs(10));
        let names: Vec<_> = p.log.iter().map(|(s, m)| (*s, short_name(m))).collect();
        assert_eq!(
            names,
            [
                (Side::Opener, "INIT syn"),
                (Side::Acceptor, "INIT ack"),
                (Side::Opener, "OPEN syn"),
                (Side::Acceptor, "OPEN ack"),
            ]
        );
        assert_eq!(p.opener.poll_timeout(), None);
        assert_eq!(p.acceptor.poll_timeout(), None);
    }
}

#[test]
fn fixed_initial_sns_are_crossed() {
    let mut o = cfg("a1", WhatAmI::Peer);
    o.initial_sn = Some(0xffff_ffff); // reduced to the mask
    let mut a = cfg("b2", WhatAmI::Peer);
    a.initial_sn = Some(42);
    let mut p = Pair::new(o, a, true);
    p.run().unwrap();
    let (o, a) = p.both();
    assert_eq!(o.local_initial_sn, 0x0fff_ffff);
    assert_eq!(a.remote_initial_sn, 0x0fff_ffff);
    assert_eq!(o.remote_initial_sn, 42);
}

#[test]
fn acceptor_established_only_after_its_open_ack_is_taken() {
    let t0 = Instant::now();
    let mut opener = Handshake::opener(cfg("a1", WhatAmI::Client), t0);
    let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
    acc.handle_message(opener.poll_transmit().unwrap(), t0)
        .unwrap();
    opener
        .handle_message(acc.poll_transmit().unwrap(), t0)
        .unwrap();
    acc.handle_message(opener.poll_transmit().unwrap(), t0)
        .unwrap();
    assert!(acc.established().is_none(), "OPEN ack not sent yet");
    let ack = acc.poll_transmit().unwrap();
    assert!(acc.established().is_some());
    assert!(opener.established().is_none());
    opener.handle_message(ack, t0).unwrap();
    assert!(opener.established().is_some());
    // After establishment the handshake takes no more input, and sends nothing.
    let err = opener
        .handle_message(TransportMessage::KeepAlive, t0)
        .unwrap_err();
    assert!(matches!(err, HandshakeError::Unexpected { .. }));
    assert_eq!(opener.poll_transmit(), None);
    assert!(opener.established().is_some());
}

#[test]
fn negotiation_small_batch_and_8_bit_sns() {
    let mut o = cfg("a1", WhatAmI::Client);
    o.batch_size = 8192;
    o.resolution = 0x08;
    let mut p = Pair::new(o, cfg("b2", WhatAmI::Peer), true);
    p.run().unwrap();
    let (o, a) = p.both();
    assert_agree(o, a);
    assert_eq!(o.batch_size, 8192);
    assert_eq!(o.resolution, 0x08);
    assert_eq!(o.sn_mask, 0x7f);

    // The acceptor's smaller batch wins as well, and 16-bit SNs give 0x3fff.
    let mut o = cfg("a1", WhatAmI::Client);
    o.batch_size = 65480;
    let mut a = cfg("b2", WhatAmI::Peer);
    a.batch_size = 49152;
    a.resolution = 0x09;
    let mut p = Pair::new(o, a, true);
    p.run().unwrap();
    let (o, a) = p.both();
    assert_agree(o, a);
    assert_eq!(o.batch_size, 49152);
    assert_eq!(o.sn_mask, 0x3fff);
}

#[test]
fn qos_only_when_both_want_it() {
    for (oq, aq) in [(true, true), (true, false), (false, true), (false, false)] {
        let mut o = cfg("a1", WhatAmI::Peer);
        o.qos = oq;
        let mut a = cfg("b2", WhatAmI::Peer);
        a.qos = aq;
        let mut p = Pair::new(o, a, true);
        p.run().unwrap();
        let (o, a) = p.both();
        assert_agree(o, a);
        assert_eq!(o.qos, oq && aq, "opener {oq} acceptor {aq}");
        let TransportMessage::Init(ack) = &p.log[1].1 else {
            panic!("not INIT ack")
        };
        assert_eq!(ack.qos.is_some(), oq && aq);
    }
}

#[test]
fn patch_zero_when_either_side_lacks_it() {
    let mut o = cfg("a1", WhatAmI::Peer);
    o.patch = 0;
    let mut p = Pair::new(o, cfg("b2", WhatAmI::Peer), true);
    p.run().unwrap();
    let (o, a) = p.both();
    assert_eq!((o.patch, a.patch), (0, 0));
}

#[test]
fn version_mismatch_answered_with_close_invalid() {
    // reject-version.jsonl batch 0: INIT syn with version 8; Zenoh answered `03 02`.
    let t0 = Instant::now();
    let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
    let syn = decode(&hex("0108f20123456789abcdef0123456789abcdef"));
    assert_eq!(
        acc.handle_message(syn, t0),
        Err(HandshakeError::VersionMismatch { ours: 9, theirs: 8 })
    );
    let close = acc.poll_transmit().expect("CLOSE");
    assert_eq!(encode(&close), hex("0302").to_vec());
    assert_eq!(acc.poll_transmit(), None);
    assert!(acc.established().is_none());
}

#[test]
fn opener_refuses_ack_with_other_version() {
    let t0 = Instant::now();
    let mut op = Handshake::opener(cfg("a1", WhatAmI::Peer), t0);
    op.poll_transmit();
    let mut ack = Init::syn(WhatAmI::Peer, zid("b2"));
    ack.ack = true;
    ack.version = 10;
    ack.cookie = Bytes::from_static(b"c");
    assert_eq!(
        op.handle_message(TransportMessage::Init(ack), t0),
        Err(HandshakeError::VersionMismatch {
            ours: 9,
            theirs: 10
        })
    );
    assert_eq!(encode(&op.poll_transmit().unwrap()), hex("0302").to_vec());
}

#[test]
fn connection_to_self_both_ways() {
    // Acceptor side: refused at INIT syn with `03 07`; the opener sees the CLOSE.
    let me = "fa73c1e3cc3ae41f58010f905c561d7b";
    let mut p = Pair::new(cfg(me, WhatAmI::Peer), cfg(me, WhatAmI::Peer), true);
    assert_eq!(
        p.run(),
        Err((Side::Acceptor, HandshakeError::ConnectionToSelf))
    );
    let (side, close) = p.log.last().unwrap();
    assert_eq!(*side, Side::Acceptor);
    assert_eq!(encode(close), hex("0307").to_vec());
    assert_eq!(
        p.opener.error(),
        Some(&HandshakeError::ClosedByPeer {
            reason: CloseReason::ConnectionToSelf
        })
    );
    // A CLOSE from the peer is not answered.
    assert_eq!(p.opener.poll_transmit(), None);

    // Opener side: the captured INIT ack of connect-to-self carries our own zid.
    let t0 = Instant::now();
    let mut op = Handshake::opener(cfg(me, WhatAmI::Peer), t0);
    op.poll_transmit();
    let ack = decode(&hex(
        "e109f17b1d565c900f01581fe43acce3c173fa0a00c03130d45dbfb685aef9dbbf624a88fd3aeba84f6ba9
         f9a071eabd152d8d408b5770a705318d60c507e7e89c70513f505f7f55812701",
    ));
    assert_eq!(
        op.handle_message(ack, t0),
        Err(HandshakeError::ConnectionToSelf)
    );
    assert_eq!(encode(&op.poll_transmit().unwrap()), hex("0307").to_vec());
    assert_eq!(op.poll_transmit(), None);
}

#[test]
fn cookie_mismatch() {
    let t0 = Instant::now();
    let mut op = Handshake::opener(cfg("a1", WhatAmI::Client), t0);
    let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
    acc.handle_message(op.poll_transmit().unwrap(), t0).unwrap();
    op.handle_message(acc.poll_transmit().unwrap(), t0).unwrap();
    let Some(TransportMessage::Open(mut syn)) = op.poll_transmit() else {
        panic!("no OPEN syn")
    };
    assert_eq!(syn.cookie.len(), 16);
    let mut forged = syn.cookie.to_vec();
    forged[3] ^= 0x40;
    syn.cookie = Bytes::from(forged);
    assert_eq!(
        acc.handle_message(TransportMessage::Open(syn), t0),
        Err(HandshakeError::CookieMismatch)
    );
    assert_eq!(encode(&acc.poll_transmit().unwrap()), hex("0302").to_vec());
    assert_eq!(acc.poll_transmit(), None);
}

#[test]
fn cookies_are_fresh_per_handshake() {
    let t0 = Instant::now();
    let cookie = || {
        let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
        let syn = Init::syn(WhatAmI::Client, zid("a1"));
        acc.handle_message(TransportMessage::Init(syn), t0).unwrap();
        match acc.poll_transmit() {
            Some(TransportMessage::Init(ack)) => ack.cookie,
            other => panic!("{other:?}"),
        }
    };
    assert_ne!(cookie(), cookie());
}

#[test]
fn unexpected_messages_are_refused_with_close_invalid() {
    let t0 = Instant::now();
    let frame = TransportMessage::Frame(FrameHeader {
        reliability: Reliability::Reliable,
        sn: 1,
        priority: Priority::Data,
    });
    let open_syn = TransportMessage::Open(Open::new(
        false,
        Duration::from_secs(10),
        0,
        Bytes::from_static(b"x"),
    ));
    let mut init_ack = Init::syn(WhatAmI::Peer, zid("b2"));
    init_ack.ack = true;
    let init_ack = TransportMessage::Init(init_ack);
    let init_syn = TransportMessage::Init(Init::syn(WhatAmI::Peer, zid("b2")));

    let cases: [(bool, TransportMessage, &str, &str); 5] = [
        (false, open_syn, "INIT syn", "OPEN syn"),
        (false, frame.clone(), "INIT syn", "FRAME"),
        (false, init_ack, "INIT syn", "INIT ack"),
        (true, init_syn, "INIT ack", "INIT syn"),
        (true, frame, "INIT ack", "FRAME"),
    ];
    for (opener, msg, expected, got) in cases {
        let mut hs = if opener {
            let mut hs = Handshake::opener(cfg("a1", WhatAmI::Peer), t0);
            hs.poll_transmit();
            hs
        } else {
            Handshake::acceptor(cfg("a1", WhatAmI::Peer), t0)
        };
        let err = hs.handle_message(msg, t0).unwrap_err();
        assert_eq!(
            err,
            HandshakeError::Unexpected {
                expected,
                got: got.into()
            }
        );
        assert_eq!(encode(&hs.poll_transmit().unwrap()), hex("0302").to_vec());
        assert_eq!(hs.poll_transmit(), None);
    }
}

#[test]
fn unexpected_open_ack_while_waiting_for_open_syn() {
    let t0 = Instant::now();
    let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
    acc.handle_message(
        TransportMessage::Init(Init::syn(WhatAmI::Client, zid("a1"))),
        t0,
    )
    .unwrap();
    acc.poll_transmit();
    let ack = Open::new(true, Duration::from_secs(1), 0, Bytes::new());
    assert_eq!(
        acc.handle_message(TransportMessage::Open(ack), t0),
        Err(HandshakeError::Unexpected {
            expected: "OPEN syn",
            got: "OPEN ack".into()
        })
    );
}

#[test]
fn close_from_peer_is_surfaced_without_reply() {
    let t0 = Instant::now();
    let mut op = Handshake::opener(cfg("a1", WhatAmI::Peer), t0);
    op.poll_transmit();
    let close = TransportMessage::Close(Close {
        reason: CloseReason::MaxLinks,
        session: false,
    });
    assert_eq!(
        op.handle_message(close, t0),
        Err(HandshakeError::ClosedByPeer {
            reason: CloseReason::MaxLinks
        })
    );
    assert_eq!(op.poll_transmit(), None);
}

#[test]
fn decode_error_queues_close_invalid() {
    let t0 = Instant::now();
    let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
    let err = TransportMessage::read(&mut Reader::new(hex("0109f3"))).unwrap_err();
    let e = acc.handle_decode_error(err.clone());
    assert_eq!(e, HandshakeError::Malformed(err));
    assert_eq!(encode(&acc.poll_transmit().unwrap()), hex("0302").to_vec());
    assert_eq!(acc.poll_transmit(), None);
    assert!(matches!(
        acc.handle_message(TransportMessage::KeepAlive, t0),
        Err(HandshakeError::Malformed(_))
    ));
}

#[test]
fn initial_sn_outside_the_mask_is_refused() {
    let t0 = Instant::now();
    let mut o = cfg("a1", WhatAmI::Peer);
    o.resolution = 0x08;
    let mut op = Handshake::opener(o, t0);
    op.poll_transmit();
    let mut ack = Init::syn(WhatAmI::Peer, zid("b2"));
    ack.ack = true;
    ack.resolution = 0x08;
    ack.cookie = Bytes::from_static(b"c");
    op.handle_message(TransportMessage::Init(ack), t0).unwrap();
    op.poll_transmit();
    let open_ack = Open::new(true, Duration::from_secs(10), 0x80, Bytes::new());
    assert!(matches!(
        op.handle_message(TransportMessage::Open(open_ack), t0),
        Err(HandshakeError::Malformed(DecodeError::Malformed { .. }))
    ));
    assert_eq!(encode(&op.poll_transmit().unwrap()), hex("0302").to_vec());
}

#[test]
fn opener_refuses_higher_resolution() {
    let t0 = Instant::now();
    let mut o = cfg("a1", WhatAmI::Peer);
    o.resolution = 0x09;
    let mut op = Handshake::opener(o, t0);
    op.poll_transmit();
    let mut ack = Init::syn(WhatAmI::Peer, zid("b2"));
    ack.ack = true;
    ack.resolution = 0x0a;
    assert_eq!(
        op.handle_message(TransportMessage::Init(ack), t0),
        Err(HandshakeError::ResolutionRefused {
            offered: 0x09,
            answered: 0x0a
        })
    );
    assert_eq!(encode(&op.poll_transmit().unwrap()), hex("0302").to_vec());
}

#[test]
fn timeout_after_deadline_without_close() {
    let t0 = Instant::now();
    let mut op = Handshake::opener(cfg("a1", WhatAmI::Peer), t0);
    assert!(op.poll_transmit().is_some());
    assert_eq!(op.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    assert_eq!(op.handle_timeout(t0 + Duration::from_secs(9)), Ok(()));
    assert_eq!(
        op.handle_timeout(t0 + Duration::from_secs(11)),
        Err(HandshakeError::TimedOut {
            after: Duration::from_secs(11)
        })
    );
    assert_eq!(op.poll_transmit(), None);
    assert_eq!(op.poll_timeout(), None);

    // A message arriving after the deadline does not complete the handshake either.
    let mut acc = Handshake::acceptor(cfg("b2", WhatAmI::Peer), t0);
    let syn = TransportMessage::Init(Init::syn(WhatAmI::Peer, zid("a1")));
    assert!(matches!(
        acc.handle_message(syn, t0 + Duration::from_secs(10)),
        Err(HandshakeError::TimedOut { .. })
    ));
    assert_eq!(acc.poll_transmit(), None);
}

// ---- Replays of real Zenoh 1.10.2 bytes ----

const KA_INIT_SYN: &str = "c109f2583cd191937e33053095359d542150010ac8ff812701";
const KA_INIT_ACK: &str = "e109f1ed42acc460a4c4c19f42eefca936133f0a00c03130d916e17ea50dff418d40f8b7623aeee8c77330fdb2a4eef7990033c4f67a03ff8eca3ebf80428cb5cfaa0a61593cc7b8812701";
const KA_OPEN_SYN: &str = "4201a8d4d3233130d916e17ea50dff418d40f8b7623aeee8c77330fdb2a4eef7990033c4f67a03ff8eca3ebf80428cb5cfaa0a61593cc7b8";
const KA_OPEN_ACK: &str = "620a9feeb44b";
const KA_OPENER_ZID: &str = "15021549d35953005337e9391d13c58";
const KA_ACCEPTOR_ZID: &str = "3f1336a9fcee429fc1c4a460c4ac42ed";

#[test]
fn zenoh_init_syn_to_plexus_acceptor() {
    let t0 = Instant::now();
    let mut a = cfg(KA_ACCEPTOR_ZID, WhatAmI::Peer);
    a.batch_size = 49152;
    a.initial_sn = Some(158152479);
    let mut acc = Handshake::acceptor(a, t0);
    acc.handle_message(decode(&hex(KA_INIT_SYN)), t0).unwrap();
    let ack_msg = acc.poll_transmit().unwrap();
    let TransportMessage::Init(ack) = &ack_msg else {
        panic!("not INIT")
    };
    assert!(ack.ack);
    assert_eq!(ack.batch_size, 49152);
    assert_eq!(ack.resolution, 0x0a);
    assert_eq!(ack.qos, Some(QosExt::Plain));
    assert_eq!(ack.patch, 1);
    assert!(!ack.low_latency && !ack.compression);
    // Same layout as Zenoh's ack, except our 16-byte cookie.
    let bytes = encode(&ack_msg);
    let zenoh = hex(KA_INIT_ACK);
    assert_eq!(bytes[..22], zenoh[..22]);
    assert_eq!(bytes[22], 16);
    assert_eq!(bytes[39..], zenoh[zenoh.len() - 3..]);

    // Zenoh's OPEN syn (1 s lease, SN 74770984) with our cookie in place of its own.
    let mut open = match decode(&hex(KA_OPEN_SYN)) {
        TransportMessage::Open(o) => o,
        other => panic!("{other:?}"),
    };
    open.cookie = ack.cookie.clone();
    acc.handle_message(TransportMessage::Open(open), t0)
        .unwrap();
    let reply = acc.poll_transmit().unwrap();
    assert_eq!(
        encode(&reply),
        hex(KA_OPEN_ACK).to_vec(),
        "byte-identical OPEN ack"
    );
    let e = acc.established().unwrap();
    assert_eq!(e.remote_zid, zid(KA_OPENER_ZID));
    assert_eq!(e.remote_whatami, WhatAmI::Client);
    assert_eq!(e.remote_lease, Duration::from_secs(1));
    assert_eq!(e.remote_initial_sn, 74770984);
    assert_eq!(e.batch_size, 49152);
    assert!(e.qos);
    assert_eq!(e.patch, 1);
}

#[test]
fn zenoh_acks_to_plexus_opener_byte_identical() {
    let t0 = Instant::now();
    let mut o = cfg(KA_OPENER_ZID, WhatAmI::Client);
    o.batch_size = 65480;
    o.lease = Duration::from_secs(1);
    o.initial_sn = Some(74770984);
    let mut op = Handshake::opener(o, t0);
    assert_eq!(
        encode(&op.poll_transmit().unwrap()),
        hex(KA_INIT_SYN).to_vec()
    );
    op.handle_message(decode(&hex(KA_INIT_ACK)), t0).unwrap();
    assert_eq!(
        encode(&op.poll_transmit().unwrap()),
        hex(KA_OPEN_SYN).to_vec()
    );
    assert!(op.established().is_none());
    op.handle_message(decode(&hex(KA_OPEN_ACK)), t0).unwrap();
    let e = op.established().unwrap();
    assert_eq!(e.remote_zid, zid(KA_ACCEPTOR_ZID));
    assert_eq!(e.remote_whatami, WhatAmI::Peer);
    assert_eq!(e.remote_lease, Duration::from_secs(10));
    assert_eq!(e.remote_initial_sn, 158152479);
    assert_eq!(e.local_initial_sn, 74770984);
    assert_eq!(e.batch_size, 49152);
    assert_eq!(e.sn_mask, 0x0fff_ffff);
    assert!(e.qos);
    assert_eq!(e.patch, 1);
    assert_eq!(op.poll_transmit(), None);
}

#[test]
fn zenoh_ack_with_random_opener_zid_and_default_batch() {
    let t0 = Instant::now();
    let mut op = Handshake::opener(cfg(KA_OPENER_ZID, WhatAmI::Client), t0);
    op.poll_transmit();
    op.handle_message(decode(&hex(KA_INIT_ACK)), t0).unwrap();
    op.poll_transmit();
    op.handle_message(decode(&hex(KA_OPEN_ACK)), t0).unwrap();
    assert_eq!(op.established().unwrap().batch_size, 49152);
}

#[test]
fn negotiation_variants_opener_byte_identical() {
    let t0 = Instant::now();
    let mut o = cfg("afbb5307efc35df0428d7df2c3b553fc", WhatAmI::Client);
    o.qos = false;
    o.resolution = 0x08;
    o.batch_size = 8192;
    o.lease = Duration::from_millis(1500);
    o.initial_sn = Some(9);
    let mut op = Handshake::opener(o, t0);
    assert_eq!(
        encode(&op.poll_transmit().unwrap()),
        hex("c109f2fc53b5c3f27d8d42f05dc3ef0753bbaf0800202701").to_vec()
    );
    op.handle_message(
        decode(&hex(
            "e109f14dcebdc899c267ebf7ff326fb321347e08002031304e086ce4f4b82d74cef1b9386bd36dee0c32
             8111db5b1c4f0a0d1d12d4b69cf064b58fadedb8a351662aaeb36c8caae72701",
        )),
        t0,
    )
    .unwrap();
    assert_eq!(
        encode(&op.poll_transmit().unwrap()),
        hex(
            "02dc0b0931304e086ce4f4b82d74cef1b9386bd36dee0c328111db5b1c4f0a0d1d12d4b69cf064b58fadedb8
             a351662aaeb36c8caae7"
        )
        .to_vec()
    );
    op.handle_message(decode(&hex("620a59")), t0).unwrap();
    let e = op.established().unwrap();
    assert_eq!((e.batch_size, e.sn_mask, e.qos), (8192, 0x7f, false));
    assert_eq!(e.remote_initial_sn, 89);
}

#[test]
fn minimal_acceptor_ack_without_extensions() {
    // minimal-acceptor.jsonl: Zenoh's opener against a hand-made `21 09 f1 <zid> 0d
    // plexus-cookie` ack (no S: 32-bit SNs, batch 65535; no QoS, no Patch).
    let t0 = Instant::now();
    let mut o = cfg("b0f8fe3163255d2de8717c5e74e5f3ac", WhatAmI::Client);
    o.batch_size = 65480;
    o.initial_sn = Some(45241364);
    let mut op = Handshake::opener(o, t0);
    assert_eq!(
        encode(&op.poll_transmit().unwrap()),
        hex("c109f2acf3e5745e7c71e82d5d256331fef8b00ac8ff812701").to_vec()
    );
    op.handle_message(
        decode(&hex(
            "2109f10123456789abcdef0123456789abcdef0d706c657875732d636f6f6b6965",
        )),
        t0,
    )
    .unwrap();
    assert_eq!(
        encode(&op.poll_transmit().unwrap()),
        hex("420a94a8c9150d706c657875732d636f6f6b6965").to_vec()
    );
    op.handle_message(decode(&hex("620a00")), t0).unwrap();
    let e = op.established().unwrap();
    assert_eq!(e.batch_size, 65480);
    assert_eq!(e.resolution, 0x0a);
    assert!(!e.qos);
    assert_eq!(e.patch, 0);
    assert_eq!(e.remote_initial_sn, 0);
    assert_eq!(e.remote_zid, zid("efcdab8967452301efcdab8967452301"));
}

#[test]
fn minimal_opener_syn_to_plexus_acceptor() {
    // minimal-opener.jsonl: an INIT syn with no S flag and no extensions.
    let t0 = Instant::now();
    let mut a = cfg("82e8f5eb9a7e888954a055da835776b1", WhatAmI::Peer);
    a.batch_size = 49152;
    let mut acc = Handshake::acceptor(a, t0);
    acc.handle_message(decode(&hex("0109f20123456789abcdef0123456789abcdef")), t0)
        .unwrap();
    let ack = encode(&acc.poll_transmit().unwrap());
    // `61 09 f1 <zid> 0a 00c0 10 <cookie>`: S set, no extensions (no QoS, no Patch).
    assert_eq!(
        ack[..22],
        hex("6109f1b1765783da55a05489887e9aebf5e8820a00c0")[..]
    );
    assert_eq!(ack.len(), 23 + 16);
    let TransportMessage::Init(ack) = decode(&ack) else {
        panic!()
    };
    let syn = Open::new(false, Duration::from_secs(10), 0, ack.cookie);
    acc.handle_message(TransportMessage::Open(syn), t0).unwrap();
    acc.poll_transmit().unwrap();
    let e = acc.established().unwrap();
    assert_eq!((e.qos, e.patch, e.remote_initial_sn), (false, 0, 0));
}

#[test]
fn announced_leases_are_clamped() {
    use plexus_transport::handshake::{MAX_REMOTE_LEASE, MIN_REMOTE_LEASE};
    // OPEN can carry up to u64::MAX seconds; a zero lease is as hostile the other way.
    for (announced, honoured) in [
        (Duration::from_secs(u64::MAX), MAX_REMOTE_LEASE),
        (Duration::from_secs(7200), MAX_REMOTE_LEASE),
        (Duration::ZERO, MIN_REMOTE_LEASE),
        (Duration::from_millis(1), MIN_REMOTE_LEASE),
        (Duration::from_millis(1500), Duration::from_millis(1500)),
    ] {
        for through_codec in [false, true] {
            let mut o = cfg("a1", WhatAmI::Client);
            o.lease = announced;
            let mut a = cfg("b2", WhatAmI::Peer);
            a.lease = announced;
            let mut p = Pair::new(o, a, through_codec);
            p.run().expect("handshake");
            let (o, a) = p.both();
            assert_eq!(a.remote_lease, honoured, "acceptor, {announced:?}");
            assert_eq!(o.remote_lease, honoured, "opener, {announced:?}");
            assert_eq!(a.local_lease, announced);
        }
    }
}
