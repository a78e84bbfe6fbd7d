use super::*;

fn decode(bytes: &[u8]) -> DecodeResult<NetworkMessage> {
    let mut r = Reader::new(Bytes::copy_from_slice(bytes));
    let m = NetworkMessage::read(&mut r)?;
    assert!(r.is_empty(), "{} bytes left", r.remaining());
    Ok(m)
}

/// The error's display text, for checking that messages name the problem.
fn err_text(bytes: &[u8]) -> String {
    match decode(bytes) {
        Ok(m) => panic!("decoded {m:?}"),
        Err(e) => {
            assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn unknown_mandatory_extension_fails_and_optional_is_skipped() {
    // PUSH (Z) scope 0, ext 0x3a = z64 mandatory id 0xa, then PUT with empty payload.
    let t = err_text(&[0x9d, 0x00, 0x3a, 0x01, 0x01, 0x00]);
    assert!(
        t.contains("PUSH") && t.contains("unknown mandatory extension 0x3a"),
        "{t}"
    );
    // The same id without the mandatory bit is skipped, as is TsStack (47).
    let m = decode(&[0x9d, 0x00, 0xaa, 0x01, 0x47, 0x01, 0xff, 0x01, 0x00]).unwrap();
    assert!(matches!(m, NetworkMessage::Push(_)));
    // DECLARE with an unknown mandatory extension on the declaration itself.
    let t = err_text(&[0x1e, 0x82, 0x01, 0x01, 0x5e, 0x00]);
    assert!(t.contains("D_SUBSCRIBER") && t.contains("0x5e"), "{t}");
    // D_FINAL with a mandatory unit extension.
    let t = err_text(&[0x1e, 0x9a, 0x11]);
    assert!(t.contains("D_FINAL"), "{t}");
}

#[test]
fn bad_ids_are_named() {
    let t = err_text(&[0x05, 0x00]);
    assert!(t.contains("unknown id 0x05"), "{t}");
    let t = err_text(&[0x1e, 0x08, 0x01]);
    assert!(t.contains("unknown declaration id 0x08"), "{t}");
    // PUSH whose body is a QUERY header.
    let t = err_text(&[0x1d, 0x00, 0x03]);
    assert!(t.contains("expected PUT or DEL"), "{t}");
    // REQUEST whose body is a PUT.
    let t = err_text(&[0x1c, 0x01, 0x00, 0x01, 0x00]);
    assert!(t.contains("is not QUERY"), "{t}");
    // RESPONSE whose body is a PUT.
    let t = err_text(&[0x1b, 0x01, 0x00, 0x01, 0x00]);
    assert!(t.contains("neither REPLY nor ERR"), "{t}");
    // Target 3 does not exist.
    let t = err_text(&[0x9c, 0x01, 0x00, 0x34, 0x03, 0x03]);
    assert!(t.contains("unknown target 3"), "{t}");
    // Consolidation 4 does not exist.
    let t = err_text(&[0x1c, 0x01, 0x00, 0x23, 0x04]);
    assert!(t.contains("unknown mode 4"), "{t}");
    // OAM body encoding 0b11 is reserved.
    let t = err_text(&[0x7f, 0x01]);
    assert!(t.contains("reserved"), "{t}");
}

#[test]
fn zint_overflow_in_z16_fields() {
    // Scope 65536.
    let t = err_text(&[0x1d, 0x80, 0x80, 0x04, 0x01, 0x00]);
    assert!(
        t.contains("wire expr scope") && t.contains("exceeds 16 bits"),
        "{t}"
    );
    // D_KEYEXPR id 65536.
    let t = err_text(&[0x1e, 0x00, 0x80, 0x80, 0x04, 0x00]);
    assert!(t.contains("expr id") && t.contains("65536"), "{t}");
    // NodeId 70000.
    let t = err_text(&[0x9d, 0x00, 0x33, 0xf0, 0xa2, 0x04, 0x01, 0x00]);
    assert!(t.contains("node id 70000"), "{t}");
    // OAM id 65536.
    let t = err_text(&[0x1f, 0x80, 0x80, 0x04]);
    assert!(t.contains("OAM id"), "{t}");
    // A request id beyond 32 bits.
    let t = err_text(&[0x1a, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert!(t.contains("request id"), "{t}");
    // QoS wider than a byte.
    let t = err_text(&[0x9a, 0x01, 0x21, 0x80, 0x02]);
    assert!(t.contains("QoS value 256"), "{t}");
}

#[test]
fn invalid_utf8_suffix() {
    let t = err_text(&[0x3d, 0x00, 0x02, 0xff, 0xfe, 0x01, 0x00]);
    assert!(t.contains("wire expr suffix") && t.contains("UTF-8"), "{t}");
    // The same in an undeclaration's WireExpr extension (flags N, scope 0, bytes ff).
    let t = err_text(&[0x1e, 0x83, 0x01, 0x5f, 0x03, 0x01, 0x00, 0xff]);
    assert!(
        t.contains("wire expr extension") && t.contains("UTF-8"),
        "{t}"
    );
}

#[test]
fn shared_memory_is_refused_clearly() {
    // PUSH scope 0, PUT (Z) with Shm (12), empty payload.
    let t = err_text(&[0x1d, 0x00, 0x81, 0x12, 0x00]);
    assert!(t.contains("shared memory not supported"), "{t}");
}

#[test]
fn extension_contents_must_be_exact() {
    // RESPONSE_FINAL with a Timestamp ext whose zbuf has a trailing byte.
    let t = err_text(&[0x9a, 0x01, 0x42, 0x04, 0x05, 0x01, 0x07, 0xaa]);
    assert!(t.contains("trailing"), "{t}");
    // The same without the extra byte decodes.
    let m = decode(&[0x9a, 0x01, 0x42, 0x03, 0x05, 0x01, 0x07]).unwrap();
    let NetworkMessage::ResponseFinal(f) = m else {
        panic!("expected RESPONSE_FINAL")
    };
    assert_eq!(f.timestamp.map(|t| t.time), Some(5));
}

#[test]
fn truncation_is_incomplete() {
    let mut r = Reader::new(Bytes::from_static(&[0x3d, 0x01, 0x02, b'/']));
    assert!(matches!(
        NetworkMessage::read(&mut r),
        Err(DecodeError::Incomplete(_))
    ));
}

#[test]
fn undeclare_wire_expr_extension_layout() {
    let d = Declare {
        interest_id: None,
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id: 0,
        body: DeclareBody::UndeclareQueryable {
            id: 7,
            wire_expr: Some(WireExpr::new(2, "a/b", Mapping::Sender)),
        },
    };
    let mut out = Vec::new();
    d.write(&mut out);
    // 9e 21 08 | 85 07 | 5f len=5 flags=03 scope=02 "a/b" (no length of its own).
    assert_eq!(
        out,
        [
            0x9e, 0x21, 0x08, 0x85, 0x07, 0x5f, 0x05, 0x03, 0x02, b'a', b'/', b'b'
        ]
    );
    assert_eq!(decode(&out).unwrap(), NetworkMessage::Declare(d));
}

#[test]
fn extension_order_matches_zenoh() {
    let ts = Timestamp {
        time: 1,
        id: ZenohId::new(0x0a).unwrap(),
    };
    let req = Request {
        id: 1,
        wire_expr: WireExpr::default(),
        qos: NetQos::REQUEST,
        timestamp: Some(ts),
        target: QueryTarget::AllComplete,
        budget: Some(3),
        timeout_ms: Some(100),
        node_id: 9,
        body: Query::default(),
        unknown_exts: Default::default(),
    };
    let mut out = Vec::new();
    req.write(&mut out);
    assert_eq!(
        out,
        [
            0x9c, 0x01, 0x00, // header, id, scope
            0xa1, 0x0d, // QoS
            0xc2, 0x03, 0x01, 0x01, 0x0a, // Timestamp
            0xb4, 0x02, // Target
            0xa5, 0x03, // Budget
            0xa6, 0x64, // Timeout
            0x33, 0x09, // NodeId (last)
            0x03, // QUERY
        ]
    );
}

#[test]
fn push_extensions_lone_qos_and_full_list() {
    let body = PushBody::Del(Default::default());
    let lone = Push {
        wire_expr: WireExpr::key("a"),
        qos: NetQos::new(Priority::Data, CongestionControl::Block, false),
        timestamp: None,
        node_id: 0,
        body: body.clone(),
        unknown_exts: Default::default(),
    };
    let mut out = Vec::new();
    lone.write(&mut out);
    // header (Z, M, N), scope 0, "a", QoS ext 0x21 alone, DEL.
    assert_eq!(out, [0xfd, 0x00, 0x01, b'a', 0x21, 0x0d, 0x02]);
    assert_eq!(decode(&out).unwrap(), NetworkMessage::Push(lone.clone()));

    let full = Push {
        timestamp: Some(Timestamp {
            time: 1,
            id: ZenohId::new(0x0a).unwrap(),
        }),
        node_id: 9,
        ..lone
    };
    let mut out = Vec::new();
    full.write(&mut out);
    assert_eq!(out[4], 0xa1, "QoS with the MORE bit: the general path");
    assert_eq!(decode(&out).unwrap(), NetworkMessage::Push(full));

    // A QoS value needing two bytes is refused, whichever path reads it.
    let err = err_text(&[0xfd, 0x00, 0x01, b'a', 0x21, 0x80, 0x02, 0x02]);
    assert!(err.contains("exceeds 8 bits"), "{err}");
}

#[test]
fn qos_accessors() {
    let q = NetQos::default();
    assert_eq!(q.0, 0x05);
    assert_eq!(q.priority(), Priority::Data);
    assert_eq!(q.congestion_control(), CongestionControl::Drop);
    assert!(!q.is_express());
    assert_eq!(NetQos::DECLARE.priority(), Priority::Control);
    assert_eq!(
        NetQos::new(Priority::Control, CongestionControl::Block, false),
        NetQos::DECLARE
    );
    let e = q
        .with_priority(Priority::RealTime)
        .with_express(true)
        .with_congestion_control(CongestionControl::Block);
    assert_eq!(e.0, 0x19);
}

#[test]
fn wire_expr_eq_and_hash_agree_with_their_parts() {
    use std::hash::{BuildHasher, RandomState};
    // `PartialEq` is written out to skip comparing empty suffixes; it must still be
    // equality of all three parts, and `Hash` must agree with it.
    let hasher = RandomState::new();
    let parts = [
        (0, "", Mapping::Receiver),
        (0, "", Mapping::Sender),
        (1, "", Mapping::Receiver),
        (1, "", Mapping::Sender),
        (1, "a", Mapping::Receiver),
        (1, "b", Mapping::Receiver),
        (1, "ab", Mapping::Receiver),
        (2, "a", Mapping::Receiver),
        (0, "a/b", Mapping::Sender),
    ];
    for (i, a) in parts.iter().enumerate() {
        for (j, b) in parts.iter().enumerate() {
            let x = WireExpr::new(a.0, a.1, a.2);
            // Built separately: equal values do not share their buffers.
            let y = WireExpr::new(b.0, b.1.to_string(), b.2);
            assert_eq!(x == y, i == j, "{x:?} == {y:?}");
            if i == j {
                assert_eq!(hasher.hash_one(&x), hasher.hash_one(&y), "{x:?}");
            }
        }
    }
}
