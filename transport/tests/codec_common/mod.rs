//! Proptest strategies shared by the integration tests: network messages and the zenoh
//! message bodies they carry.

// Each test crate that declares `mod common;` uses only part of this module.
#![allow(dead_code)]

use bytes::Bytes;
use plexus_transport::wire::network::*;
use plexus_transport::wire::zenoh::{
    Consolidation, Del, Err as ZErr, Put, Query, QueryBody, Reply, SourceInfo,
};
use plexus_transport::wire::{Encoding, Ext, ExtBody, Timestamp, UnknownExts, ZenohId};
use proptest::prelude::*;

pub fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

pub fn arb_zid() -> impl Strategy<Value = ZenohId> {
    prop_oneof![
        1u128..=0xff,
        1u128..=u64::MAX as u128,
        any::<u128>().prop_map(|v| v | 1),
    ]
    .prop_map(|v| ZenohId::new(v).expect("nonzero"))
}

pub fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<u64>(), arb_zid()).prop_map(|(time, id)| Timestamp { time, id })
}

pub fn arb_encoding() -> impl Strategy<Value = Encoding> {
    (
        any::<u16>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=255).prop_map(Bytes::from)),
    )
        .prop_map(|(id, schema)| Encoding { id, schema })
}

pub fn arb_source_info() -> impl Strategy<Value = SourceInfo> {
    (arb_zid(), any::<u32>(), any::<u32>()).prop_map(|(zid, eid, sn)| SourceInfo { zid, eid, sn })
}

pub fn arb_consolidation() -> impl Strategy<Value = Consolidation> {
    prop_oneof![
        Just(Consolidation::Auto),
        Just(Consolidation::None),
        Just(Consolidation::Monotonic),
        Just(Consolidation::Latest),
    ]
}

pub fn arb_suffix() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9/*$]{0,16}", "\\PC{0,8}"]
}

pub fn arb_mapping() -> impl Strategy<Value = Mapping> {
    prop_oneof![Just(Mapping::Receiver), Just(Mapping::Sender)]
}

pub fn arb_wire_expr() -> impl Strategy<Value = WireExpr> {
    (any::<u16>(), arb_suffix(), arb_mapping()).prop_map(|(scope, suffix, mapping)| WireExpr {
        scope,
        suffix,
        mapping,
    })
}

/// One optional extension no message models: ids 7 to 14 (7 is Zenoh's timestamp
/// stack, which Plexus keeps as received), any encoding, never mandatory.
pub fn arb_unknown_ext() -> impl Strategy<Value = Ext> {
    let body = prop_oneof![
        Just(ExtBody::Unit),
        any::<u64>().prop_map(ExtBody::Z64),
        arb_bytes(24).prop_map(ExtBody::ZBuf),
    ];
    (7u8..=14, body).prop_map(|(id, body)| {
        let enc = match body {
            ExtBody::Unit => 0x00,
            ExtBody::Z64(_) => 0x20,
            ExtBody::ZBuf(_) => 0x40,
        };
        Ext {
            key: id | enc,
            body,
        }
    })
}

/// Up to three unknown optional extensions, usually none.
pub fn arb_unknown_exts() -> impl Strategy<Value = UnknownExts> {
    prop_oneof![
        2 => Just(UnknownExts::new()),
        1 => prop::collection::vec(arb_unknown_ext(), 1..=3).prop_map(|v| {
            let mut u = UnknownExts::new();
            for e in &v {
                u.push(e);
            }
            u
        }),
    ]
}

pub fn arb_put() -> impl Strategy<Value = Put> {
    (
        prop::option::of(arb_timestamp()),
        arb_encoding(),
        prop::option::of(arb_source_info()),
        prop::option::of(arb_bytes(32)),
        arb_bytes(300),
        arb_unknown_exts(),
    )
        .prop_map(
            |(timestamp, encoding, source_info, attachment, payload, unknown_exts)| Put {
                timestamp,
                encoding,
                source_info,
                attachment,
                payload,
                unknown_exts,
            },
        )
}

pub fn arb_del() -> impl Strategy<Value = Del> {
    (
        prop::option::of(arb_timestamp()),
        prop::option::of(arb_source_info()),
        prop::option::of(arb_bytes(32)),
        arb_unknown_exts(),
    )
        .prop_map(|(timestamp, source_info, attachment, unknown_exts)| Del {
            timestamp,
            source_info,
            attachment,
            unknown_exts,
        })
}

pub fn arb_push_body() -> impl Strategy<Value = PushBody> {
    prop_oneof![
        arb_put().prop_map(PushBody::Put),
        arb_del().prop_map(PushBody::Del)
    ]
}

pub fn arb_query() -> impl Strategy<Value = Query> {
    (
        prop::option::of(arb_consolidation()),
        prop_oneof![Just(String::new()), "[a-z=;&0-9]{1,16}", "\\PC{1,8}"],
        prop::option::of(arb_source_info()),
        prop::option::of(
            (arb_encoding(), arb_bytes(64))
                .prop_map(|(encoding, payload)| QueryBody { encoding, payload }),
        ),
        prop::option::of(arb_bytes(32)),
        arb_unknown_exts(),
    )
        .prop_map(
            |(consolidation, parameters, source_info, body, attachment, unknown_exts)| Query {
                consolidation,
                parameters,
                source_info,
                body,
                attachment,
                unknown_exts,
            },
        )
}

pub fn arb_qos() -> impl Strategy<Value = NetQos> {
    prop_oneof![
        Just(NetQos::DEFAULT),
        Just(NetQos::DECLARE),
        Just(NetQos::REQUEST),
        any::<u8>().prop_map(NetQos),
    ]
}

pub fn arb_node_id() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), any::<u16>()]
}

pub fn arb_push() -> impl Strategy<Value = NetworkMessage> {
    (
        arb_wire_expr(),
        arb_qos(),
        prop::option::of(arb_timestamp()),
        arb_node_id(),
        arb_push_body(),
        arb_unknown_exts(),
    )
        .prop_map(|(wire_expr, qos, timestamp, node_id, body, unknown_exts)| {
            NetworkMessage::Push(Push {
                wire_expr,
                qos,
                timestamp,
                node_id,
                body,
                unknown_exts,
            })
        })
}

pub fn arb_target() -> impl Strategy<Value = QueryTarget> {
    prop_oneof![
        Just(QueryTarget::BestMatching),
        Just(QueryTarget::All),
        Just(QueryTarget::AllComplete),
    ]
}

pub fn arb_request() -> impl Strategy<Value = NetworkMessage> {
    (
        any::<u32>(),
        arb_wire_expr(),
        arb_qos(),
        prop::option::of(arb_timestamp()),
        arb_target(),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u64>()),
        arb_node_id(),
        arb_query(),
        arb_unknown_exts(),
    )
        .prop_map(
            |(
                id,
                wire_expr,
                qos,
                timestamp,
                target,
                budget,
                timeout_ms,
                node_id,
                body,
                unknown_exts,
            )| {
                NetworkMessage::Request(Request {
                    id,
                    wire_expr,
                    qos,
                    timestamp,
                    target,
                    budget,
                    timeout_ms,
                    node_id,
                    body,
                    unknown_exts,
                })
            },
        )
}

pub fn arb_response_body() -> impl Strategy<Value = ResponseBody> {
    prop_oneof![
        (
            prop::option::of(arb_consolidation()),
            arb_push_body(),
            arb_unknown_exts()
        )
            .prop_map(
                |(consolidation, body, unknown_exts)| ResponseBody::Reply(Reply {
                    consolidation,
                    body,
                    unknown_exts,
                })
            ),
        (
            arb_encoding(),
            prop::option::of(arb_source_info()),
            arb_bytes(64),
            arb_unknown_exts()
        )
            .prop_map(
                |(encoding, source_info, payload, unknown_exts)| ResponseBody::Err(ZErr {
                    encoding,
                    source_info,
                    payload,
                    unknown_exts,
                })
            ),
    ]
}

pub fn arb_response() -> impl Strategy<Value = NetworkMessage> {
    (
        any::<u32>(),
        arb_wire_expr(),
        arb_qos(),
        prop::option::of(arb_timestamp()),
        prop::option::of((arb_zid(), any::<u32>()).prop_map(|(zid, eid)| ResponderId { zid, eid })),
        arb_response_body(),
        arb_unknown_exts(),
    )
        .prop_map(
            |(request_id, wire_expr, qos, timestamp, responder, body, unknown_exts)| {
                NetworkMessage::Response(Response {
                    request_id,
                    wire_expr,
                    qos,
                    timestamp,
                    responder,
                    body,
                    unknown_exts,
                })
            },
        )
}

pub fn arb_response_final() -> impl Strategy<Value = NetworkMessage> {
    (any::<u32>(), arb_qos(), prop::option::of(arb_timestamp())).prop_map(
        |(request_id, qos, timestamp)| {
            NetworkMessage::ResponseFinal(ResponseFinal {
                request_id,
                qos,
                timestamp,
            })
        },
    )
}

pub fn arb_declare_body() -> impl Strategy<Value = DeclareBody> {
    let opt_we = || prop::option::of(arb_wire_expr());
    prop_oneof![
        (any::<u16>(), any::<u16>(), arb_suffix()).prop_map(|(id, scope, suffix)| {
            DeclareBody::KeyExpr {
                id,
                wire_expr: WireExpr::new(scope, suffix, Mapping::Receiver),
            }
        }),
        any::<u16>().prop_map(|id| DeclareBody::UndeclareKeyExpr { id }),
        (any::<u32>(), arb_wire_expr())
            .prop_map(|(id, wire_expr)| DeclareBody::Subscriber { id, wire_expr }),
        (any::<u32>(), opt_we())
            .prop_map(|(id, wire_expr)| DeclareBody::UndeclareSubscriber { id, wire_expr }),
        (
            any::<u32>(),
            arb_wire_expr(),
            any::<bool>(),
            prop_oneof![Just(0u16), any::<u16>()]
        )
            .prop_map(
                |(id, wire_expr, complete, distance)| DeclareBody::Queryable {
                    id,
                    wire_expr,
                    complete,
                    distance
                }
            ),
        (any::<u32>(), opt_we())
            .prop_map(|(id, wire_expr)| DeclareBody::UndeclareQueryable { id, wire_expr }),
        (any::<u32>(), arb_wire_expr())
            .prop_map(|(id, wire_expr)| DeclareBody::Token { id, wire_expr }),
        (any::<u32>(), opt_we())
            .prop_map(|(id, wire_expr)| DeclareBody::UndeclareToken { id, wire_expr }),
        Just(DeclareBody::Final),
    ]
}

pub fn arb_declare() -> impl Strategy<Value = NetworkMessage> {
    (
        prop::option::of(any::<u32>()),
        arb_qos(),
        prop::option::of(arb_timestamp()),
        arb_node_id(),
        arb_declare_body(),
    )
        .prop_map(|(interest_id, qos, timestamp, node_id, body)| {
            NetworkMessage::Declare(Declare {
                interest_id,
                qos,
                timestamp,
                node_id,
                body,
            })
        })
}

pub fn arb_interest() -> impl Strategy<Value = NetworkMessage> {
    let mode = prop_oneof![
        Just(InterestMode::Final),
        Just(InterestMode::Current),
        Just(InterestMode::Future),
        Just(InterestMode::CurrentFuture),
    ];
    (
        any::<u32>(),
        mode,
        any::<u8>(),
        prop::option::of(arb_wire_expr()),
        arb_qos(),
        prop::option::of(arb_timestamp()),
        arb_node_id(),
    )
        .prop_map(|(id, mode, options, wire_expr, qos, timestamp, node_id)| {
            let (options, wire_expr) = if mode == InterestMode::Final {
                (InterestOptions::default(), None)
            } else {
                (InterestOptions(options & InterestOptions::MASK), wire_expr)
            };
            NetworkMessage::Interest(Interest {
                id,
                mode,
                options,
                wire_expr,
                qos,
                timestamp,
                node_id,
            })
        })
}

pub fn arb_oam() -> impl Strategy<Value = NetworkMessage> {
    let body = prop_oneof![
        Just(OamBody::Unit),
        any::<u64>().prop_map(OamBody::Z64),
        arb_bytes(128).prop_map(OamBody::ZBuf),
    ];
    (
        any::<u16>(),
        arb_qos(),
        prop::option::of(arb_timestamp()),
        body,
    )
        .prop_map(|(id, qos, timestamp, body)| {
            NetworkMessage::Oam(NetworkOam {
                id,
                qos,
                timestamp,
                body,
            })
        })
}

pub fn arb_message() -> impl Strategy<Value = NetworkMessage> {
    prop_oneof![
        arb_push(),
        arb_declare(),
        arb_interest(),
        arb_request(),
        arb_response(),
        arb_response_final(),
        arb_oam(),
    ]
}
