//! The handshake state machine fed arbitrary transport messages on both sides, with time
//! passing: never panics, an error is sticky (every later call returns it), nothing is
//! established and failed at once, and the deadline holds. Then a fresh opener and
//! acceptor with parameters from the input complete an honest exchange and agree.
//!
//! Input layout: bytes 0..=7 = the honest pair's parameters (batch sizes, resolution, QoS
//! and patch bits, lease), then a stream of transport messages (as `TransportMessage::read`
//! decodes them), each preceded by one byte: bit 0 = to the opener or the acceptor, bits
//! 1..=7 = seconds that pass first.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::handshake::{Handshake, HandshakeConfig};
use plexus_transport::wire::transport::TransportMessage;
use plexus_transport::wire::{Reader, WhatAmI, ZenohId};

fn config(zid: u128, whatami: WhatAmI) -> HandshakeConfig {
    let mut c = HandshakeConfig::new(ZenohId::new(zid).expect("non-zero"), whatami);
    c.timeout = Duration::from_secs(10);
    c
}

/// Drains what `hs` wants to send.
fn drain(hs: &mut Handshake) -> Vec<TransportMessage> {
    std::iter::from_fn(|| hs.poll_transmit()).collect()
}

/// Checks the invariants that hold after every step.
fn check(hs: &Handshake, started: Instant) {
    assert!(
        !(hs.established().is_some() && hs.error().is_some()),
        "established and failed at once"
    );
    if let Some(deadline) = hs.poll_timeout() {
        assert!(
            deadline <= started + Duration::from_secs(10),
            "the deadline moved"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (params, mut stream) = data.split_at(8);
    let started = Instant::now();
    let mut now = started;
    let mut sides = [
        Handshake::opener(config(1, WhatAmI::Client), now),
        Handshake::acceptor(config(2, WhatAmI::Router), now),
    ];
    let _ = drain(&mut sides[0]);
    while let Some((&ctl, rest)) = stream.split_first() {
        let mut r = Reader::new(Bytes::copy_from_slice(rest));
        let Ok(msg) = TransportMessage::read(&mut r) else {
            break;
        };
        stream = &rest[rest.len() - r.remaining()..];
        now += Duration::from_secs(u64::from(ctl >> 1));
        let hs = &mut sides[(ctl & 1) as usize];
        let _ = hs.handle_timeout(now);
        let sticky = hs.error().cloned();
        let res = hs.handle_message(msg, now);
        if let Some(e) = sticky {
            assert_eq!(res.err(), Some(e), "an error was not sticky");
        }
        let _ = drain(hs);
        check(hs, started);
        if now >= started + Duration::from_secs(10) && hs.established().is_none() {
            // Past the deadline a handshake that is not established has failed.
            assert!(hs.handle_timeout(now).is_err(), "alive past its deadline");
        }
    }

    // An honest exchange with parameters from the input: both sides agree.
    let mut oc = config(3, WhatAmI::Peer);
    let mut ac = config(4, WhatAmI::Router);
    oc.batch_size = u16::from_le_bytes([params[0], params[1]]).max(64);
    ac.batch_size = u16::from_le_bytes([params[2], params[3]]).max(64);
    oc.resolution = params[4];
    oc.qos = params[5] & 1 != 0;
    ac.qos = params[5] & 2 != 0;
    oc.patch = u64::from(params[5] >> 4);
    oc.lease = Duration::from_millis(u64::from(u16::from_le_bytes([params[6], params[7]])) + 1);
    let t0 = Instant::now();
    let mut o = Handshake::opener(oc, t0);
    let mut a = Handshake::acceptor(ac, t0);
    for _ in 0..8 {
        for m in drain(&mut o) {
            if a.handle_message(m, t0).is_err() {
                return; // a parameter the acceptor refuses (e.g. a bad resolution): fine
            }
        }
        for m in drain(&mut a) {
            if o.handle_message(m, t0).is_err() {
                return;
            }
        }
    }
    let (Some(oe), Some(ae)) = (o.established(), a.established()) else {
        panic!(
            "an honest exchange did not complete: {:?} / {:?}",
            o.error(),
            a.error()
        );
    };
    assert_eq!(oe.batch_size, ae.batch_size);
    assert_eq!(oe.sn_mask, ae.sn_mask);
    assert_eq!(oe.qos, ae.qos);
    assert_eq!(oe.local_initial_sn, ae.remote_initial_sn);
    assert_eq!(oe.remote_initial_sn, ae.local_initial_sn);
});
