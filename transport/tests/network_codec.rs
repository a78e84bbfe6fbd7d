//! Network and zenoh message codec: real Zenoh 1.10.2 captures decode to the expected
//! values and re-encode to the same bytes; property tests for round-trips, truncation and
//! arbitrary input.

use bytes::Bytes;
use plexus_transport::wire::network::*;
use plexus_transport::wire::zenoh::{Consolidation, Put, Query, QueryBody, Reply};
use plexus_transport::wire::{
    CongestionControl, DecodeError, Encoding, Ext, ExtBody, Priority, Reader, Timestamp,
    UnknownExts, ZenohId,
};
use proptest::prelude::*;

// Strategies for network and zenoh messages, shared with `transport_codec.rs`.
mod captures;
mod codec_common;
use codec_common::*;

// ---------------------------------------------------------------------------------------
// Capture helpers
// ---------------------------------------------------------------------------------------

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Strips a FRAME header (header byte, SN zint, optional `31 xx` QoS ext) from a batch.
fn frame_payload(batch: &[u8]) -> &[u8] {
    assert_eq!(batch[0] & 0x1f, 0x05, "not a FRAME");
    let mut p = 1;
    while batch[p] & 0x80 != 0 {
        p += 1;
    }
    p += 1;
    if batch[0] & 0x80 != 0 {
        assert_eq!(batch[p], 0x31, "FRAME ext other than QoS");
        p += 2;
    }
    &batch[p..]
}

/// Decodes every network message in a FRAME batch given as hex.
fn decode_frame(hex: &str) -> (Vec<u8>, Vec<NetworkMessage>) {
    let batch = unhex(hex);
    let payload = frame_payload(&batch).to_vec();
    let mut r = Reader::new(Bytes::from(payload.clone()));
    let mut msgs = Vec::new();
    while !r.is_empty() {
        let h = r.peek_u8().expect("not empty");
        assert!(is_network_header(h), "0x{h:02x} is not a network header");
        msgs.push(NetworkMessage::read(&mut r).expect("capture decodes"));
    }
    (payload, msgs)
}

/// Decodes a FRAME batch, checks the re-encoding is byte-exact and returns the messages.
fn exact(hex: &str) -> Vec<NetworkMessage> {
    let (payload, msgs) = decode_frame(hex);
    let mut out = Vec::new();
    for m in &msgs {
        m.write(&mut out);
    }
    assert_eq!(hexs(&out), hexs(&payload), "re-encoding differs");
    msgs
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn zid(s: &str) -> ZenohId {
    s.parse().expect("zid")
}

fn declare(m: &NetworkMessage) -> &Declare {
    match m {
        NetworkMessage::Declare(d) => d,
        other => panic!("expected DECLARE, got {other:?}"),
    }
}

// Batches from shared/wire-captures/*.jsonl (FRAME header included; see the .md decodes).

/// pubsub batch 4: OAM link-state, D_KEYEXPR 1 "demo", D_SUBSCRIBER 1 (M) "/**", DECLARE(I=0) D_FINAL.
const PUBSUB_4: &str = "a59d91c05d3100df0121084202070002105f1aa3af9de1a2b8279dbaccec06aea70201137463702f3132372e302e302e313a343436393100030100101aae81053e94835b757ad2109e03dfa402009e21082001000464656d6f9e2108620101032f2a2abe0021081a";
/// pubsub batch 5: the publisher's OAM link-state (117 bytes) and DECLARE(I=0) D_FINAL.
const PUBSUB_5: &str = "a5b7d2be553100df0121087502070002101aae81053e94835b757ad2109e03dfa40203137463702f5b666430303a3a325d3a3432353435137463702f3139322e302e322e323a34323534351e7463702f5b666538303a3a66633a66663a666530303a315d3a343235343500030100105f1aa3af9de1a2b8279dbaccec06aea70200be0021081a";
/// pubsub batch 6: PUSH scope 1 (receiver's) + "/a", PUT "hello".
const PUBSUB_6: &str = "25b7d2be553d01022f61010568656c6c6f";
/// pubsub batch 18: U_SUBSCRIBER 1 without wire expr.
const PUBSUB_18: &str = "a5f5c9e27d31009e21080301";
/// timestamp batch 4: PUSH "demo/ts" (M on scope 0), PUT with inline timestamp.
const TIMESTAMP_4: &str = "258fe385217d000764656d6f2f74732180f699f78f88be816b100380cabacfdaefe2d305c2737723361b077374616d706564";
/// query batch 5: OAM, D_KEYEXPR 1 "demo/q", D_QUERYABLE 1 (no info), D_FINAL(I=0).
const QUERY_5: &str = "a5d8e2f50c3100df012108420207000210b4ed484b6b6a3cb89b22e8a1e3ad3a050201137463702f3132372e302e302e313a343934383700030100107da3bac041b6831caf82e004363d593e02009e21082001000664656d6f2f719e2108440101be0021081a";
/// query batch 6: REQUEST 1 scope 1, QoS 0x0d, timeout 2000; QUERY Latest.
const QUERY_6: &str = "2593989d699c0101a10d26d00f2303";
/// query batch 7: RESPONSE 1 "demo/q" with ResponderId eid 6, REPLY/PUT "answer"; RESPONSE_FINAL 1.
const QUERY_7: &str = "25d8e2f50cfb01000664656d6f2f71a10d4312f0b4ed484b6b6a3cb89b22e8a1e3ad3a0506040106616e737765729a01210d";
/// query-extras batch 5: D_QUERYABLE with QueryableInfo(complete).
const QUERY_EXTRAS_5: &str = "a5f0ff98213100df0121084202070002107ac3d31647f6d18b052dbcb38a5c5c750201137463702f3132372e302e302e313a35343239370003010010c2a32cbe528d31345541fe4c51312bf802009e21082001000664656d6f2f719e2108c401012101be0021081a";
/// query-extras batch 6: REQUEST with Target All and timeout 1500; QUERY with parameters and body.
const QUERY_EXTRAS_6: &str = "25bab992689c0101a10db40126dc0be30303783d3143060071626f6479";
/// query-extras batch 7: RESPONSE + RESPONSE_FINAL.
const QUERY_EXTRAS_7: &str = "25f0ff9821fb01000664656d6f2f71a10d4312f07ac3d31647f6d18b052dbcb38a5c5c7506040106616e737765729a01210d";
/// pub-priority-express batch 4: D_KEYEXPR 1 "test/thr", INTEREST 1 CurrentFuture K+S on scope 1 (M).
const PPE_4: &str = "a584a2a12831009e210820010008746573742f746872f90153012108";
/// pub-priority-express batch 5: express PUSH, QoS 0x1b, scope 1 (M), PUT 8 bytes.
const PPE_5: &str = "a584a2a1283103dd01211b01080001020304050607";
/// pub-priority-express batch 16: DECLARE(I=1) D_SUBSCRIBER 1 "test/**".
const PPE_16: &str = "a5c3eee9283100be01210862010007746573742f2a2a";
/// pub-priority-express batch 17: DECLARE(I=1) D_FINAL.
const PPE_17: &str = "a5c4eee9283100be0121081a";
/// client-subscriber batch 5: PUSH scope 1 + "/c", PUT "from-peer".
const CLIENT_SUB_5: &str = "25cee5b8593d01022f63010966726f6d2d70656572";

// ---------------------------------------------------------------------------------------
// Captures: typed values and byte-exact re-encoding
// ---------------------------------------------------------------------------------------

#[test]
fn capture_pubsub_declarations() {
    let msgs = exact(PUBSUB_4);
    assert_eq!(msgs.len(), 4);
    match &msgs[0] {
        NetworkMessage::Oam(o) => {
            assert_eq!(o.id, NetworkOam::LINKSTATE);
            assert_eq!(o.qos, NetQos::OAM);
            assert!(matches!(&o.body, OamBody::ZBuf(b) if b.len() == 66));
        }
        other => panic!("expected OAM, got {other:?}"),
    }
    let d = declare(&msgs[1]);
    assert_eq!(d.qos, NetQos::DECLARE);
    assert_eq!(d.interest_id, None);
    assert_eq!(
        d.body,
        DeclareBody::KeyExpr {
            id: 1,
            wire_expr: WireExpr::new(0, "demo", Mapping::Receiver)
        }
    );
    assert_eq!(
        declare(&msgs[2]).body,
        DeclareBody::Subscriber {
            id: 1,
            wire_expr: WireExpr::new(1, "/**", Mapping::Sender)
        }
    );
    let fin = declare(&msgs[3]);
    assert_eq!(fin.interest_id, Some(0));
    assert_eq!(fin.body, DeclareBody::Final);

    let msgs = exact(PUBSUB_5);
    assert!(
        matches!(&msgs[0], NetworkMessage::Oam(o) if matches!(&o.body, OamBody::ZBuf(b) if b.len() == 117))
    );
    assert_eq!(declare(&msgs[1]).body, DeclareBody::Final);
}

#[test]
fn capture_pubsub_push_put() {
    let msgs = exact(PUBSUB_6);
    let NetworkMessage::Push(p) = &msgs[0] else {
        panic!("expected PUSH")
    };
    assert_eq!(p.wire_expr, WireExpr::new(1, "/a", Mapping::Receiver));
    assert_eq!(p.qos, NetQos::default());
    assert_eq!(p.node_id, 0);
    assert_eq!(
        p.body,
        PushBody::Put(Put {
            payload: Bytes::from_static(b"hello"),
            ..Put::default()
        })
    );

    let msgs = exact(CLIENT_SUB_5);
    let NetworkMessage::Push(p) = &msgs[0] else {
        panic!("expected PUSH")
    };
    assert_eq!(p.wire_expr.suffix, "/c");
    assert!(matches!(&p.body, PushBody::Put(put) if &put.payload[..] == b"from-peer"));
}

#[test]
fn capture_undeclare_subscriber() {
    let msgs = exact(PUBSUB_18);
    assert_eq!(
        declare(&msgs[0]).body,
        DeclareBody::UndeclareSubscriber {
            id: 1,
            wire_expr: None
        }
    );
}

#[test]
fn capture_put_with_inline_timestamp() {
    let msgs = exact(TIMESTAMP_4);
    let NetworkMessage::Push(p) = &msgs[0] else {
        panic!("expected PUSH")
    };
    // Zenoh sets M on a scope-0 expression; it must survive the round trip.
    assert_eq!(p.wire_expr, WireExpr::key("demo/ts"));
    let PushBody::Put(put) = &p.body else {
        panic!("expected PUT")
    };
    assert_eq!(
        put.timestamp,
        Some(Timestamp {
            time: 0x6b02_f840_fee6_7b00,
            id: zid("1b36237773c205d3e2efdacfbaca8003"),
        })
    );
    assert_eq!(&put.payload[..], b"stamped");
    assert!(put.encoding.is_default());
}

#[test]
fn capture_queryable_declarations() {
    let msgs = exact(QUERY_5);
    assert_eq!(
        declare(&msgs[2]).body,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::new(1, "", Mapping::Sender),
            complete: false,
            distance: 0,
        }
    );
    let msgs = exact(QUERY_EXTRAS_5);
    assert_eq!(
        declare(&msgs[2]).body,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::new(1, "", Mapping::Sender),
            complete: true,
            distance: 0,
        }
    );
}

#[test]
fn capture_request_query() {
    let msgs = exact(QUERY_6);
    let NetworkMessage::Request(q) = &msgs[0] else {
        panic!("expected REQUEST")
    };
    assert_eq!(q.id, 1);
    assert_eq!(q.wire_expr, WireExpr::new(1, "", Mapping::Receiver));
    assert_eq!(q.qos, NetQos::REQUEST);
    assert_eq!(q.qos.priority(), Priority::Data);
    assert_eq!(q.qos.congestion_control(), CongestionControl::Block);
    assert_eq!(q.target, QueryTarget::BestMatching);
    assert_eq!(q.timeout_ms, Some(2000));
    assert_eq!(q.budget, None);
    assert_eq!(
        q.body,
        Query {
            consolidation: Some(Consolidation::Latest),
            ..Query::default()
        }
    );

    let msgs = exact(QUERY_EXTRAS_6);
    let NetworkMessage::Request(q) = &msgs[0] else {
        panic!("expected REQUEST")
    };
    assert_eq!(q.target, QueryTarget::All);
    assert_eq!(q.timeout_ms, Some(1500));
    assert_eq!(q.body.parameters, "x=1");
    assert_eq!(q.body.consolidation, Some(Consolidation::Latest));
    assert_eq!(
        q.body.body,
        Some(QueryBody {
            encoding: Encoding::default(),
            payload: Bytes::from_static(b"qbody"),
        })
    );
}

#[test]
fn capture_response_and_final() {
    for (hex, responder) in [
        (QUERY_7, "53aade3a1e8229bb83c6a6b4b48edb4"),
        (QUERY_EXTRAS_7, "755c5c8ab3bc2d058bd1f64716d3c37a"),
    ] {
        let msgs = exact(hex);
        assert_eq!(msgs.len(), 2);
        let NetworkMessage::Response(r) = &msgs[0] else {
            panic!("expected RESPONSE")
        };
        assert_eq!(r.request_id, 1);
        assert_eq!(r.wire_expr, WireExpr::key("demo/q"));
        assert_eq!(r.qos, NetQos::RESPONSE);
        assert_eq!(
            r.responder,
            Some(ResponderId {
                zid: zid(responder),
                eid: 6
            })
        );
        assert_eq!(
            r.body,
            ResponseBody::Reply(Reply {
                consolidation: None,
                body: PushBody::Put(Put {
                    payload: Bytes::from_static(b"answer"),
                    ..Put::default()
                }),
                unknown_exts: Default::default(),
            })
        );
        assert_eq!(
            msgs[1],
            NetworkMessage::ResponseFinal(ResponseFinal {
                request_id: 1,
                qos: NetQos::RESPONSE,
                timestamp: None,
            })
        );
    }
}

#[test]
fn capture_interest_and_answers() {
    let msgs = exact(PPE_4);
    assert_eq!(
        declare(&msgs[0]).body,
        DeclareBody::KeyExpr {
            id: 1,
            wire_expr: WireExpr::new(0, "test/thr", Mapping::Receiver)
        }
    );
    assert_eq!(
        msgs[1],
        NetworkMessage::Interest(Interest {
            id: 1,
            mode: InterestMode::CurrentFuture,
            options: InterestOptions(InterestOptions::KEYEXPRS | InterestOptions::SUBSCRIBERS),
            wire_expr: Some(WireExpr::new(1, "", Mapping::Sender)),
            qos: NetQos::INTEREST,
            timestamp: None,
            node_id: 0,
        })
    );

    let msgs = exact(PPE_16);
    let d = declare(&msgs[0]);
    assert_eq!(d.interest_id, Some(1));
    assert_eq!(
        d.body,
        DeclareBody::Subscriber {
            id: 1,
            wire_expr: WireExpr::key("test/**")
        }
    );
    let msgs = exact(PPE_17);
    assert_eq!(declare(&msgs[0]).interest_id, Some(1));
    assert_eq!(declare(&msgs[0]).body, DeclareBody::Final);
}

#[test]
fn capture_express_push() {
    let msgs = exact(PPE_5);
    let NetworkMessage::Push(p) = &msgs[0] else {
        panic!("expected PUSH")
    };
    assert_eq!(p.wire_expr, WireExpr::new(1, "", Mapping::Sender));
    assert_eq!(p.qos.0, 0x1b);
    assert_eq!(p.qos.priority(), Priority::InteractiveLow);
    assert!(p.qos.is_express());
    assert_eq!(p.qos.congestion_control(), CongestionControl::Block);
    assert_eq!(
        p.qos,
        NetQos::new(Priority::InteractiveLow, CongestionControl::Block, true)
    );
    assert!(matches!(&p.body, PushBody::Put(put) if put.payload[..] == [0, 1, 2, 3, 4, 5, 6, 7]));
}

/// Every FRAME of every capture, plus the pubsub fragmented PUSH, decodes and re-encodes
/// byte-exact. Fails when the captures are missing (see `captures/mod.rs`).
#[test]
fn all_capture_frames() {
    let dir = captures::dir();
    let mut frames = 0;
    for entry in std::fs::read_dir(&dir).expect("read captures dir") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".jsonl") || name.ends_with(".chunks.jsonl") {
            continue;
        }
        let low_latency = name == "lowlatency.jsonl";
        let text = std::fs::read_to_string(&path).expect("read capture");
        // Fragment reassembly per (conn, dir): concatenate payloads until M clears.
        let mut frag: std::collections::HashMap<(i64, String), Vec<u8>> = Default::default();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            let hex = v["hex"].as_str().unwrap_or("");
            if hex.is_empty() {
                continue;
            }
            let batch = unhex(hex);
            if low_latency {
                // LowLatency transports send bare network messages, one per 4-byte prefix.
                if v["prefix"].as_i64() == Some(4) && is_network_header(batch[0]) {
                    let mut r = Reader::new(Bytes::from(batch.clone()));
                    let m = NetworkMessage::read(&mut r).expect("bare message decodes");
                    assert!(r.is_empty());
                    let mut out = Vec::new();
                    m.write(&mut out);
                    assert_eq!(hexs(&out), hex);
                    frames += 1;
                }
                continue;
            }
            match batch[0] & 0x1f {
                0x05 => {
                    exact(hex);
                    frames += 1;
                }
                0x06 => {
                    let key = (
                        v["conn"].as_i64().unwrap_or(0),
                        v["dir"].as_str().unwrap_or("").to_string(),
                    );
                    let mut p = 1;
                    while batch[p] & 0x80 != 0 {
                        p += 1;
                    }
                    p += 1;
                    if batch[0] & 0x80 != 0 {
                        // Skip the fragment's extensions (each a unit or z64 here).
                        loop {
                            let h = batch[p];
                            p += 1;
                            if h & 0x60 == 0x20 {
                                while batch[p] & 0x80 != 0 {
                                    p += 1;
                                }
                                p += 1;
                            }
                            if h & 0x80 == 0 {
                                break;
                            }
                        }
                    }
                    let buf = frag.entry(key.clone()).or_default();
                    buf.extend_from_slice(&batch[p..]);
                    if batch[0] & 0x40 == 0 {
                        let whole = frag.remove(&key).unwrap_or_default();
                        let mut r = Reader::new(Bytes::from(whole.clone()));
                        let m = NetworkMessage::read(&mut r).expect("reassembled message decodes");
                        assert!(r.is_empty());
                        let mut out = Vec::new();
                        m.write(&mut out);
                        assert!(out == whole, "reassembled message re-encodes differently");
                        frames += 1;
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!("{frames} captured frames and messages re-encoded byte-exact");
    assert!(frames > 20, "only {frames} frames found");
}

fn encode(m: &NetworkMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.write(&mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn round_trip(m in arb_message()) {
        let bytes = encode(&m);
        prop_assert!(is_network_header(bytes[0]));
        let mut r = Reader::new(Bytes::from(bytes.clone()));
        let back = NetworkMessage::read(&mut r).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&back, &m);
        prop_assert!(r.is_empty(), "{} bytes left over", r.remaining());
        // Encoding is canonical: the decoded value re-encodes to the same bytes.
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn round_trip_back_to_back(a in arb_message(), b in arb_message()) {
        let mut bytes = encode(&a);
        b.write(&mut bytes);
        let mut r = Reader::new(Bytes::from(bytes));
        prop_assert_eq!(NetworkMessage::read(&mut r).ok(), Some(a));
        prop_assert_eq!(NetworkMessage::read(&mut r).ok(), Some(b));
        prop_assert!(r.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Every message ends with a self-delimiting field, so no strict prefix decodes.
    #[test]
    fn strict_prefixes_are_errors(m in arb_message()) {
        let bytes = Bytes::from(encode(&m));
        for k in 0..bytes.len() {
            let res = NetworkMessage::read(&mut Reader::new(bytes.slice(..k)));
            prop_assert!(res.is_err(), "prefix of {} of {} bytes decoded: {:?}", k, bytes.len(), res);
        }
    }

    /// Corrupting one byte of a valid encoding never panics.
    #[test]
    fn corrupted_encodings_never_panic(m in arb_message(), pos in any::<prop::sample::Index>(), val in any::<u8>()) {
        let mut bytes = encode(&m);
        let i = pos.index(bytes.len());
        bytes[i] = val;
        let mut r = Reader::new(Bytes::from(bytes));
        let _ = NetworkMessage::read(&mut r);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut r = Reader::new(Bytes::from(bytes));
        let _ = NetworkMessage::read(&mut r);
    }

    #[test]
    fn arbitrary_bodies_after_a_valid_header_never_panic(
        header in 0x19u8..=0x1f,
        flags in 0u8..8,
        rest in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = vec![header | (flags << 5)];
        bytes.extend(rest);
        let mut r = Reader::new(Bytes::from(bytes));
        let _ = NetworkMessage::read(&mut r);
    }
}

#[test]
fn non_network_header_is_rejected() {
    for h in [0x05u8, 0x01, 0x00, 0x18] {
        assert!(!is_network_header(h));
        let err = NetworkMessage::read(&mut Reader::new(Bytes::from(vec![h, 0, 0]))).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
    }
    for h in 0x19u8..=0x1f {
        assert!(is_network_header(h));
        assert!(is_network_header(h | 0xe0));
    }
}

// ---------------------------------------------------------------------------------------
// Vectors written by zenoh-codec 1.10.2 itself (randomised zenoh-protocol messages,
// TsStack and unknown extensions removed) for what the TCP captures do not show.
// ---------------------------------------------------------------------------------------

/// Decodes one bare network message, checks it is consumed and re-encodes exactly.
fn exact_bare(hex: &str) -> NetworkMessage {
    let bytes = unhex(hex);
    let mut r = Reader::new(Bytes::from(bytes.clone()));
    let m = NetworkMessage::read(&mut r).expect("zenoh-codec vector decodes");
    assert!(r.is_empty(), "{} bytes left", r.remaining());
    let mut out = Vec::new();
    m.write(&mut out);
    assert_eq!(hexs(&out), hexs(&bytes), "re-encoding differs");
    m
}

#[test]
fn zenoh_codec_vectors() {
    // PUSH, QoS + NodeId 41651, DEL with SourceInfo and Attachment (ext id 2).
    let NetworkMessage::Push(p) = exact_bare(
        "9d05a19d0133b3c50282c11bf0cf6922617b5f5c2f0d7400d1b6ae6b36fdd6feeb05d8e981ff054215dd6387598d3e53af2ae53177f39e7d3a1051b409f8",
    ) else {
        panic!("expected PUSH")
    };
    assert_eq!(p.node_id, 41651);
    let PushBody::Del(d) = &p.body else {
        panic!("expected DEL")
    };
    let si = d.source_info.as_ref().expect("source info");
    assert_eq!(si.zid, zid("366baeb6d100740d2f5c5f7b612269cf"));
    assert_eq!((si.eid, si.sn), (1568648061, 1608545496));
    assert_eq!(d.attachment.as_ref().map(|a| a.len()), Some(21));

    // PUSH with Timestamp ext and NodeId; PUT with inline timestamp, encoding, SourceInfo, Attachment.
    let NetworkMessage::Push(p) = exact_bare(
        "9d08a17bc21a8ab0e3d5c3baa6a6a410c4ce4a1b1689fc5ee418081cecb8d5f933a75be19cbb9288b287cac6d410aa7a49ac9aa8cd500b67f8bb7d1c704de8de06c11bf099a9e9721d13f1e376e6833bc3fd654e8ba0b9a108b5c3acc703430efcf0b7f0a6de64e870889bb618e7067ac063b03ade",
    ) else {
        panic!("expected PUSH")
    };
    assert_eq!(p.timestamp.map(|t| t.time), Some(11839006657247500298));
    let PushBody::Put(put) = &p.body else {
        panic!("expected PUT")
    };
    assert_eq!(put.encoding.id, 55220);
    assert!(put.timestamp.is_some() && put.source_info.is_some() && put.attachment.is_some());

    // RESPONSE with ERR: encoding with schema, SourceInfo.
    let NetworkMessage::Response(r) = exact_bare(
        "9b9adbc892060721db01c589a707027e92411bf0579b3dbb3df38ca650644abccbffe70ea3d1d8b90bb3fd9db80e01d4",
    ) else {
        panic!("expected RESPONSE")
    };
    let ResponseBody::Err(e) = &r.body else {
        panic!("expected ERR")
    };
    assert_eq!(e.encoding.id, 59844);
    assert_eq!(e.encoding.schema.as_deref(), Some(&[0x7e, 0x92][..]));
    assert_eq!(&e.payload[..], [0xd4]);

    // REQUEST with Budget and NodeId, QUERY with SourceInfo.
    let NetworkMessage::Request(q) = exact_bare(
        "9c9cef83960202a17ea5dab8e0d90f33ea7ba301411bf06dcb737dc0969392a1abe3c400984f5ddaedfd900affbe949b0f",
    ) else {
        panic!("expected REQUEST")
    };
    assert_eq!((q.budget, q.node_id), (Some(4214758490), 15850));
    assert!(q.body.source_info.is_some());

    // Declarations: U_TOKEN and U_QUERYABLE with the 5f WireExpr ext, D_TOKEN,
    // D_QUERYABLE with complete + distance, U_KEYEXPR.
    let body = |hex| match exact_bare(hex) {
        NetworkMessage::Declare(d) => d.body,
        other => panic!("expected DECLARE, got {other:?}"),
    };
    assert_eq!(
        body("9ea10433886487e7e4f6f9075f02000c"),
        DeclareBody::UndeclareToken {
            id: 2134749799,
            wire_expr: Some(WireExpr::new(12, "", Mapping::Receiver))
        }
    );
    assert_eq!(
        body("9ea121339a7585d7a2e9df035f020006"),
        DeclareBody::UndeclareQueryable {
            id: 1006260567,
            wire_expr: Some(WireExpr::new(6, "", Mapping::Receiver))
        }
    );
    assert_eq!(
        body("9ea119339b32068da6cfa60203"),
        DeclareBody::Token {
            id: 617861901,
            wire_expr: WireExpr::new(3, "", Mapping::Receiver)
        }
    );
    assert_eq!(
        body("9ea10d33a5df0384a081ee2b0921819e5e"),
        DeclareBody::Queryable {
            id: 91979936,
            wire_expr: WireExpr::new(9, "", Mapping::Receiver),
            complete: true,
            distance: 6031
        }
    );
    assert_eq!(
        body("9ea15a33e65201dd14"),
        DeclareBody::UndeclareKeyExpr { id: 2653 }
    );

    // INTEREST Final (no options) and Current (options K+T, no expression).
    let NetworkMessage::Interest(i) = exact_bare("99bbb3ea880633b02f") else {
        panic!("expected INTEREST")
    };
    assert_eq!(
        (i.mode, i.node_id, i.wire_expr),
        (InterestMode::Final, 6064, None)
    );
    let NetworkMessage::Interest(i) = exact_bare("b9cbfed31709a17b33d01c") else {
        panic!("expected INTEREST")
    };
    assert_eq!(i.mode, InterestMode::Current);
    assert_eq!(
        i.options,
        InterestOptions(InterestOptions::KEYEXPRS | InterestOptions::TOKENS)
    );

    // OAM with z64 and unit bodies; RESPONSE_FINAL with a Timestamp ext.
    assert!(matches!(
        exact_bare("3fb93ce1b9eb94b9a9dcf3f4"),
        NetworkMessage::Oam(NetworkOam {
            id: 7737,
            body: OamBody::Z64(17647198234270686433),
            ..
        })
    ));
    assert!(matches!(
        exact_bare("1fdb8503"),
        NetworkMessage::Oam(NetworkOam {
            id: 49883,
            body: OamBody::Unit,
            ..
        })
    ));
    assert!(matches!(
        exact_bare("9af8adc45b421a88b8ccdcf6f781b7ee10447dc4cc3f4397fb89af79571b4aa7c3"),
        NetworkMessage::ResponseFinal(ResponseFinal {
            request_id: 191960824,
            timestamp: Some(_),
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------
// Extensions Plexus does not model: kept byte for byte, or refused by name if mandatory
// ---------------------------------------------------------------------------------------

/// Writes `exts` as one extension list, MORE set on every header but the last.
fn ext_list(exts: &[Ext]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last = None;
    for e in exts {
        if let Some(i) = last {
            out[i] |= 0x80;
        }
        last = Some(out.len());
        e.write(&mut out);
    }
    out
}

/// A PUSH of `key` whose extension list is `net` and whose PUT has extension list `put`
/// (attachment known, the rest as given) and payload "v".
fn push_with_exts(net: &[Ext], put: &[Ext]) -> Vec<u8> {
    let mut out = vec![if net.is_empty() { 0x3d } else { 0xbd }, 0x00, 0x01, b'k'];
    out.extend(ext_list(net));
    out.push(if put.is_empty() { 0x01 } else { 0x81 });
    out.extend(ext_list(put));
    out.extend([0x01, b'v']);
    out
}

fn known_push_exts() -> impl Strategy<Value = Vec<Ext>> {
    (
        prop::option::of(any::<u8>().prop_filter("not the default", |q| *q != 0x05)),
        prop::option::of(arb_timestamp()),
        prop::option::of(1u16..),
    )
        .prop_map(|(qos, ts, node)| {
            let mut v = Vec::new();
            if let Some(q) = qos {
                v.push(Ext {
                    key: 0x21,
                    body: ExtBody::Z64(q as u64),
                });
            }
            if let Some(ts) = ts {
                let mut b = Vec::new();
                ts.write(&mut b);
                v.push(Ext {
                    key: 0x42,
                    body: ExtBody::ZBuf(Bytes::from(b)),
                });
            }
            if let Some(n) = node {
                v.push(Ext {
                    key: 0x33,
                    body: ExtBody::Z64(n as u64),
                });
            }
            v
        })
}

fn known_put_exts() -> impl Strategy<Value = Vec<Ext>> {
    prop::option::of(arb_bytes(8)).prop_map(|a| {
        a.map(|a| Ext {
            key: 0x43,
            body: ExtBody::ZBuf(a),
        })
        .into_iter()
        .collect()
    })
}

/// `known` with `unknown` inserted at `at` (in order).
fn interleave(known: &[Ext], unknown: &[Ext], at: prop::sample::Index) -> Vec<Ext> {
    let i = at.index(known.len() + 1);
    let mut v = known[..i].to_vec();
    v.extend_from_slice(unknown);
    v.extend_from_slice(&known[i..]);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Unknown optional extensions anywhere among the known ones of a PUSH and of its
    /// PUT decode into `unknown_exts` byte for byte, leave the known fields intact, and
    /// are written back after the known ones; when they were last already, the message
    /// re-encodes to the very bytes received.
    #[test]
    fn unknown_optional_extensions_are_kept_byte_for_byte(
        net_known in known_push_exts(),
        net_unknown in prop::collection::vec(arb_unknown_ext(), 0..3),
        net_at in any::<prop::sample::Index>(),
        put_known in known_put_exts(),
        put_unknown in prop::collection::vec(arb_unknown_ext(), 0..3),
        put_at in any::<prop::sample::Index>(),
    ) {
        let received = push_with_exts(
            &interleave(&net_known, &net_unknown, net_at),
            &interleave(&put_known, &put_unknown, put_at),
        );
        let mut r = Reader::new(Bytes::from(received.clone()));
        let m = NetworkMessage::read(&mut r).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(r.is_empty());
        let NetworkMessage::Push(p) = &m else { panic!("not a PUSH") };
        prop_assert_eq!(p.unknown_exts.as_bytes(), &ext_list(&net_unknown)[..]);
        prop_assert_eq!(p.unknown_exts.iter().collect::<Vec<_>>(), net_unknown.clone());
        let PushBody::Put(put) = &p.body else { panic!("not a PUT") };
        prop_assert_eq!(put.unknown_exts.as_bytes(), &ext_list(&put_unknown)[..]);
        prop_assert_eq!(put.attachment.is_some(), !put_known.is_empty());
        prop_assert_eq!(p.timestamp.is_some(), net_known.iter().any(|e| e.key == 0x42));
        // Written back: known extensions first, then the kept ones.
        let canonical = push_with_exts(
            &[net_known.clone(), net_unknown.clone()].concat(),
            &[put_known.clone(), put_unknown.clone()].concat(),
        );
        prop_assert_eq!(hexs(&encode(&m)), hexs(&canonical));
        if net_at.index(net_known.len() + 1) == net_known.len()
            && put_at.index(put_known.len() + 1) == put_known.len()
        {
            prop_assert_eq!(hexs(&encode(&m)), hexs(&received));
        }
    }

    /// The same with one extension made mandatory: the decode fails and names it.
    #[test]
    fn an_unknown_mandatory_extension_is_refused_by_name(
        net_known in known_push_exts(),
        put_known in known_put_exts(),
        ext in arb_unknown_ext(),
        in_put in any::<bool>(),
        at in any::<prop::sample::Index>(),
    ) {
        let mandatory = Ext { key: ext.key | 0x10, ..ext };
        let bytes = if in_put {
            push_with_exts(&net_known, &interleave(&put_known, std::slice::from_ref(&mandatory), at))
        } else {
            push_with_exts(&interleave(&net_known, std::slice::from_ref(&mandatory), at), &put_known)
        };
        let err = NetworkMessage::read(&mut Reader::new(Bytes::from(bytes)))
            .expect_err("a mandatory extension nobody knows must be refused");
        let text = err.to_string();
        let key = format!("0x{:02x}", mandatory.key & 0x7f);
        prop_assert!(text.contains("unknown mandatory extension") && text.contains(&key), "{}", text);
        prop_assert!(text.contains(if in_put { "PUT" } else { "PUSH" }), "{}", text);
    }
}

#[test]
fn unknown_extensions_on_every_forwarded_message() {
    // REQUEST (QUERY), RESPONSE (REPLY with a DEL, and ERR), each with an unknown z64
    // (0x28) at network level and an unknown zbuf (0x4b) in the body.
    let cases = [
        // REQUEST rid 1, scope 0, ext 0x28=5 | QUERY (Z) ext 0x4b "x"
        "9c01002805 83 4b0178",
        // RESPONSE rid 1, scope 0, ext 0x28=5 | REPLY (Z) ext 0x4b "x" | DEL (Z) ext 0x0e (unit)
        "9b01002805 84 4b0178 82 0e",
        // RESPONSE rid 1 | ERR (Z) ext 0x4b "x", payload "e"
        "9b01002805 85 4b0178 0165",
    ];
    for hex in cases {
        let m = exact_bare(hex);
        let (net, body) = match &m {
            NetworkMessage::Request(q) => (&q.unknown_exts, &q.body.unknown_exts),
            NetworkMessage::Response(r) => match &r.body {
                ResponseBody::Reply(rep) => {
                    let PushBody::Del(d) = &rep.body else {
                        panic!("expected a DEL")
                    };
                    assert_eq!(d.unknown_exts.as_bytes(), [0x0e]);
                    (&r.unknown_exts, &rep.unknown_exts)
                }
                ResponseBody::Err(e) => (&r.unknown_exts, &e.unknown_exts),
            },
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(net.as_bytes(), [0x28, 0x05], "{hex}");
        assert_eq!(body.as_bytes(), [0x4b, 0x01, b'x'], "{hex}");
    }
    // The messages a router consumes rather than forwards skip them.
    let NetworkMessage::ResponseFinal(f) = decode_bare("9a01 2805") else {
        panic!("expected RESPONSE_FINAL")
    };
    assert_eq!(f.request_id, 1);
}

fn decode_bare(hex: &str) -> NetworkMessage {
    let mut r = Reader::new(Bytes::from(unhex(hex)));
    let m = NetworkMessage::read(&mut r).expect("decodes");
    assert!(r.is_empty());
    m
}

#[test]
fn unknown_exts_api() {
    let mut u = UnknownExts::new();
    assert!(u.is_empty() && u.as_bytes().is_empty());
    u.push(&Ext {
        key: 0x08,
        body: ExtBody::Unit,
    });
    u.push(&Ext {
        key: 0x29,
        body: ExtBody::Z64(300),
    });
    assert_eq!(u.as_bytes(), [0x88, 0x29, 0xac, 0x02]);
    assert_eq!(
        u,
        UnknownExts::from_wire(&[0x88, 0x29, 0xac, 0x02]).unwrap()
    );
    // Replacing keeps the others' order; an absent key is appended.
    u.replace(&Ext {
        key: 0x08,
        body: ExtBody::ZBuf(Bytes::from_static(b"z")),
    });
    assert_eq!(u.as_bytes(), [0xc8, 0x01, b'z', 0x29, 0xac, 0x02]);
    assert_eq!(u.get(0x29).map(|e| e.body), Some(ExtBody::Z64(300)));
    u.replace(&Ext {
        key: 0x0a,
        body: ExtBody::Unit,
    });
    assert_eq!(
        u.iter().map(|e| e.key).collect::<Vec<_>>(),
        [0x48, 0x29, 0x0a]
    );
    assert!(
        UnknownExts::from_wire(&[0x88]).is_err(),
        "MORE without a next"
    );
    assert!(
        UnknownExts::from_wire(&[0x08, 0x00]).is_err(),
        "trailing bytes"
    );
}
