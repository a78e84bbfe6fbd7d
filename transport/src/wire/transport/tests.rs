use super::*;

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    Bytes::from(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>(),
    )
}

fn one(b: Bytes) -> TransportMessage {
    let mut r = Reader::new(b.clone());
    let m = TransportMessage::read(&mut r).expect("decode");
    assert!(r.is_empty(), "trailing bytes after {m:?}");
    let mut out = Vec::new();
    m.write(&mut out);
    assert_eq!(out, b.to_vec(), "re-encoding {m:?}");
    m
}

#[test]
fn handshake_keepalive_capture() {
    // Batches 0-3 and 16 of wire-captures/handshake-keepalive.jsonl.
    let syn = one(hex("c109f2583cd191937e33053095359d542150010ac8ff812701"));
    let TransportMessage::Init(syn) = syn else {
        panic!("not INIT")
    };
    assert!(!syn.ack);
    assert_eq!(syn.whatami, WhatAmI::Client);
    assert_eq!(syn.zid.to_string(), "15021549d35953005337e9391d13c58");
    assert_eq!(syn.batch_size, 65480);
    assert_eq!(syn.qos, Some(QosExt::Plain));
    assert_eq!(syn.patch, 1);

    let ack = one(hex(
        "e109f1ed42acc460a4c4c19f42eefca936133f0a00c03130d916e17ea50dff418d40f8b7623aeee8c773
         30fdb2a4eef7990033c4f67a03ff8eca3ebf80428cb5cfaa0a61593cc7b8812701",
    ));
    let TransportMessage::Init(ack) = ack else {
        panic!("not INIT")
    };
    assert!(ack.ack);
    assert_eq!(ack.whatami, WhatAmI::Peer);
    assert_eq!(ack.batch_size, 49152);
    assert_eq!(ack.cookie.len(), 49);

    let open_syn = one(hex(
        "4201a8d4d3233130d916e17ea50dff418d40f8b7623aeee8c77330fdb2a4eef7990033c4f67a03ff8eca
         3ebf80428cb5cfaa0a61593cc7b8",
    ));
    let TransportMessage::Open(open_syn) = open_syn else {
        panic!("not OPEN")
    };
    assert_eq!(open_syn.lease, Duration::from_secs(1));
    assert_eq!(open_syn.initial_sn, 74770984);
    assert_eq!(open_syn.cookie, ack.cookie);
    let open_ack = one(hex("620a9feeb44b"));
    let TransportMessage::Open(open_ack) = open_ack else {
        panic!("not OPEN")
    };
    assert!(open_ack.ack);
    assert_eq!(open_ack.lease, Duration::from_secs(10));
    assert_eq!(open_ack.initial_sn, 158152479);

    assert_eq!(one(hex("04")), TransportMessage::KeepAlive);
    assert_eq!(
        one(hex("0300")),
        TransportMessage::Close(Close {
            reason: CloseReason::Generic,
            session: false
        })
    );
    assert_eq!(
        one(hex("0302")),
        TransportMessage::Close(Close {
            reason: CloseReason::Invalid,
            session: false
        })
    );
}

#[test]
fn open_lease_in_milliseconds() {
    let m = TransportMessage::Open(Open::new(false, Duration::from_millis(1500), 9, hex("aa")));
    let mut out = Vec::new();
    m.write(&mut out);
    assert_eq!(out, hex("02dc0b0901aa").to_vec());
    assert_eq!(one(Bytes::from(out)), m);
}

#[test]
fn fragment_and_frame_headers() {
    let f = Fragment {
        reliability: Reliability::Reliable,
        more: true,
        sn: 5,
        priority: Priority::InteractiveLow,
        first: true,
        drop: false,
        payload: hex("0102"),
    };
    let mut out = Vec::new();
    TransportMessage::Fragment(f.clone()).write(&mut out);
    assert_eq!(out, hex("e605b10302 0102").to_vec());
    assert_eq!(one(Bytes::from(out)), TransportMessage::Fragment(f));
    let h = FrameHeader {
        reliability: Reliability::BestEffort,
        sn: 300,
        priority: Priority::Data,
    };
    let mut out = Vec::new();
    h.write(&mut out);
    assert_eq!(out, hex("05ac02").to_vec());
}

#[test]
fn bad_input_is_named() {
    let err = TransportMessage::read(&mut Reader::new(hex("1f"))).unwrap_err();
    assert!(err.to_string().contains("unknown message id"), "{err}");
    let err = TransportMessage::read(&mut Reader::new(hex("8300 95"))).unwrap_err();
    assert!(
        err.to_string().contains("unknown mandatory extension"),
        "{err}"
    );
    let err = TransportMessage::read(&mut Reader::new(hex("0109f3"))).unwrap_err();
    assert!(err.to_string().contains("whatami"), "{err}");
    let err = BatchReader::read_all(hex("c109f2")).unwrap_err();
    assert!(
        err.to_string().contains("past the end of its batch"),
        "{err}"
    );
}

#[test]
fn next_push_takes_pushes_in_frames_only() {
    use crate::wire::network::{NetQos, PushBody, WireExpr};
    use crate::wire::zenoh::Put;
    let push = |key: &str| Push {
        wire_expr: WireExpr::key(key),
        qos: NetQos::default(),
        timestamp: None,
        node_id: 0,
        body: PushBody::Put(Put {
            timestamp: None,
            encoding: Default::default(),
            source_info: None,
            attachment: None,
            payload: Bytes::from_static(b"v"),
            unknown_exts: Default::default(),
        }),
        unknown_exts: Default::default(),
    };
    let frame = FrameHeader {
        reliability: Reliability::Reliable,
        sn: 1,
        priority: Priority::Data,
    };
    // A PUSH before any frame is not taken for one.
    let mut batch = Vec::new();
    push("early").write(&mut batch);
    let mut r = BatchReader::new(Bytes::from(batch));
    assert_eq!(r.next_push().unwrap(), None, "outside a frame");
    let early = r.next_item().unwrap_err();
    assert!(early.to_string().contains("unknown"), "{early}");

    let mut batch = Vec::new();
    frame.write(&mut batch);
    push("a").write(&mut batch);
    push("b").write(&mut batch);
    TransportMessage::KeepAlive.write(&mut batch);
    let mut r = BatchReader::new(Bytes::from(batch));
    assert_eq!(r.next_push().unwrap(), None, "the frame header comes first");
    assert!(matches!(
        r.next_item().unwrap(),
        Some(BatchItem::Transport(TransportMessage::Frame(_)))
    ));
    assert_eq!(r.next_push().unwrap(), Some(push("a")));
    assert_eq!(r.next_push().unwrap(), Some(push("b")));
    assert_eq!(r.next_push().unwrap(), None, "a transport message is next");
    assert_eq!(
        r.next_item().unwrap(),
        Some(BatchItem::Transport(TransportMessage::KeepAlive))
    );
    assert_eq!(r.next_item().unwrap(), None);

    // A PUSH cut short is an error naming the batch, and ends the batch.
    let mut batch = Vec::new();
    frame.write(&mut batch);
    push("cut").write(&mut batch);
    batch.truncate(batch.len() - 1);
    let mut r = BatchReader::new(Bytes::from(batch));
    r.next_item().unwrap();
    let err = r.next_push().unwrap_err();
    assert!(
        err.to_string().contains("past the end of its batch"),
        "{err}"
    );
    assert_eq!(r.next_push().unwrap(), None);
    assert_eq!(r.next_item().unwrap(), None);
}

#[test]
fn next_push_into_one_slot_decodes_as_next_push() {
    // The link reader decodes a batch's PUSHes into one slot: whatever the slot held
    // before (a fuller PUT, a DEL, another key), each PUSH must come out exactly as
    // `next_push` decodes it on its own.
    use crate::wire::network::{Mapping, NetQos, PushBody, WireExpr};
    use crate::wire::zenoh::{Del, Put, SourceInfo};
    use crate::wire::{Encoding, Timestamp, ZenohId};
    let zid = ZenohId::new(0xa1b2).expect("nonzero");
    let full = Put {
        timestamp: Some(Timestamp { time: 7, id: zid }),
        encoding: Encoding {
            id: 4,
            schema: Some(Bytes::from_static(b"s")),
        },
        source_info: Some(SourceInfo { zid, eid: 3, sn: 9 }),
        attachment: Some(Bytes::from_static(b"at")),
        payload: Bytes::from_static(b"full"),
        unknown_exts: Default::default(),
    };
    let bare = Put {
        payload: Bytes::from_static(b"b"),
        ..Put::default()
    };
    let del = Del {
        timestamp: Some(Timestamp { time: 8, id: zid }),
        source_info: None,
        attachment: Some(Bytes::from_static(b"d")),
        unknown_exts: Default::default(),
    };
    let push = |wire_expr: WireExpr, qos: NetQos, body: PushBody| Push {
        wire_expr,
        qos,
        timestamp: None,
        node_id: 0,
        body,
        unknown_exts: Default::default(),
    };
    let pushes = [
        push(
            WireExpr::new(5, "a/b", Mapping::Sender),
            NetQos::DEFAULT.with_express(true),
            PushBody::Put(full),
        ),
        push(
            WireExpr::new(5, "", Mapping::Receiver),
            NetQos::DEFAULT,
            PushBody::Put(bare.clone()),
        ),
        push(WireExpr::key("k"), NetQos::DEFAULT, PushBody::Del(del)),
        push(WireExpr::key("k"), NetQos::DEFAULT, PushBody::Put(bare)),
    ];
    let mut batch = Vec::new();
    FrameHeader {
        reliability: Reliability::Reliable,
        sn: 1,
        priority: Priority::Data,
    }
    .write(&mut batch);
    for p in &pushes {
        p.write(&mut batch);
    }
    let batch = Bytes::from(batch);
    let mut alone = BatchReader::new(batch.clone());
    let mut reused = BatchReader::new(batch);
    alone.next_item().unwrap();
    reused.next_item().unwrap();
    let mut slot = Push::default();
    for p in &pushes {
        let expected = alone.next_push().unwrap().expect("a PUSH");
        assert_eq!(&expected, p);
        assert!(reused.next_push_into(&mut slot).unwrap());
        assert_eq!(slot, expected);
    }
    assert!(!reused.next_push_into(&mut slot).unwrap());
    assert_eq!(reused.next_item().unwrap(), None);
}

#[test]
fn framer_splits_and_rejects_oversized() {
    let mut f = StreamFramer::new(16);
    f.extend(&[2, 0, 3, 0, 1]);
    assert_eq!(f.next_batch().unwrap(), Some(hex("0300")));
    assert_eq!(f.next_batch().unwrap(), None);
    f.extend(&[0, 4]);
    assert_eq!(f.next_batch().unwrap(), Some(hex("04")));
    f.extend(&[15, 0]);
    assert_eq!(f.next_batch(), Err(OversizedBatch { len: 17, max: 16 }));
}
