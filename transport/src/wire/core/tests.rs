use super::*;

fn zint_bytes(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_zint(&mut out, v);
    out
}

#[test]
fn zenoh_id_is_8_aligned_and_keeps_its_niche() {
    assert_eq!(std::mem::align_of::<ZenohId>(), 8);
    assert_eq!(std::mem::size_of::<Option<ZenohId>>(), 16);
    assert_eq!(std::mem::size_of::<Option<Timestamp>>(), 24);
    let a = ZenohId::new(0x1234).expect("nonzero");
    let b = ZenohId::new(0xabcd_0000_0000_0000_0000_0000_0000_0001).expect("nonzero");
    assert!(a < b);
    assert_eq!(b.to_string(), "abcd0000000000000000000000000001");
}

#[test]
fn zint_known_values() {
    assert_eq!(zint_bytes(0), [0x00]);
    assert_eq!(zint_bytes(127), [0x7f]);
    assert_eq!(zint_bytes(128), [0x80, 0x01]);
    assert_eq!(zint_bytes(2000), [0xd0, 0x0f]);
    assert_eq!(zint_bytes(100000), [0xa0, 0x8d, 0x06]);
    assert_eq!(zint_bytes(u64::MAX).len(), 9);
    let hlc = [0x80, 0xf6, 0x99, 0xf7, 0x8f, 0x88, 0xbe, 0x81, 0x6b];
    let v = Reader::new(Bytes::copy_from_slice(&hlc)).zint("t").unwrap();
    // NTP64 times of this century are >= 2^56, so they need the 9-byte form.
    assert!(v >= 1 << 56);
    assert_eq!(zint_bytes(v), hlc);
}

#[test]
fn zint_round_trips_and_len_matches() {
    for shift in 0..64 {
        for v in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
            let b = zint_bytes(v);
            assert_eq!(b.len(), zint_len(v), "len of {v}");
            // Alone (fewer than nine bytes at hand) and followed by others.
            let mut r = Reader::new(Bytes::from(b.clone()));
            assert_eq!(r.zint("v").unwrap(), v);
            assert!(r.is_empty());
            let mut padded = b.clone();
            padded.extend_from_slice(&[0xff; 9]);
            let mut r = Reader::new(Bytes::from(padded));
            assert_eq!(r.zint("v").unwrap(), v);
            assert_eq!(r.position(), b.len());
        }
    }
}

#[test]
fn timestamp_write_is_time_zint_then_id_with_its_length() {
    for shift in [0u32, 7, 14, 35, 56, 63] {
        for id in [1u128, 0xa1b2, u128::MAX, 1 << 127] {
            let ts = Timestamp {
                time: (1u64 << shift) | 1,
                id: ZenohId::new(id).expect("nonzero"),
            };
            let mut out = Vec::new();
            ts.write(&mut out);
            let mut naive = zint_bytes(ts.time);
            ts.id.write_zlen(&mut naive);
            assert_eq!(out, naive, "{ts:?}");
            let back = Timestamp::read(&mut Reader::new(Bytes::from(out))).unwrap();
            assert_eq!(back, ts);
        }
    }
}

#[test]
fn zint_truncated_is_incomplete_and_wide_is_rejected() {
    let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80]));
    assert_eq!(r.zint("x"), Err(DecodeError::Incomplete("x")));
    let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x10]));
    assert!(matches!(
        r.z32("sn"),
        Err(DecodeError::Malformed { what: "sn", .. })
    ));
}

#[test]
fn zid_display_and_wire_form() {
    let id: ZenohId = "a1b2".parse().unwrap();
    let mut out = Vec::new();
    id.write_raw(&mut out);
    assert_eq!(out, [0xb2, 0xa1]);
    assert_eq!(id.to_string(), "a1b2");
    let back = ZenohId::from_wire(&[0xe5, 0xd4, 0xc3], "zid").unwrap();
    assert_eq!(back.to_string(), "c3d4e5");
    assert!("0".parse::<ZenohId>().is_err());
    assert!("xyz".parse::<ZenohId>().is_err());
    assert!(ZenohId::from_wire(&[0; 3], "zid").is_err());
}

#[test]
fn extensions_chain_and_skip() {
    let mut out = Vec::new();
    let mut w = ExtWriter::new();
    w.unit(&mut out, 0x01);
    w.z64(&mut out, ext::Z64 | 0x07, 1);
    w.zbuf(&mut out, ext::ZBUF | 0x03, b"ab");
    assert_eq!(out, [0x81, 0xa7, 0x01, 0x43, 0x02, b'a', b'b']);
    let mut r = Reader::new(Bytes::from(out));
    let mut it = ExtIter::new(true);
    let mut keys = Vec::new();
    while let Some(e) = it.next(&mut r, "test").unwrap() {
        keys.push(e.key);
    }
    assert_eq!(keys, [0x01, 0x27, 0x43]);
    let mandatory = Ext {
        key: ext::MANDATORY | 0x05,
        body: ExtBody::Unit,
    };
    assert!(mandatory.unknown("msg").is_err());
}

#[test]
fn encoding_with_schema() {
    let e = Encoding {
        id: 4,
        schema: Some(Bytes::from_static(b"utf-8")),
    };
    let mut out = Vec::new();
    e.write(&mut out);
    assert_eq!(out, [0x09, 0x05, b'u', b't', b'f', b'-', b'8']);
    assert_eq!(
        Encoding::read(&mut Reader::new(Bytes::from(out))).unwrap(),
        e
    );
}
