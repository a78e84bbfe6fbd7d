//! Property tests of the LINKSTATE codec: round trips, every truncation reported as
//! incomplete (never a panic, never a wrong value), lists carried in a FRAME through a
//! stream split at every byte, and arbitrary bytes.

use bytes::Bytes;
use plexus_transport::wire::linkstate::{LinkState, LinkStateList, MAX_LOCATOR_LEN};
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::transport::{
    BatchItem, BatchReader, FrameHeader, StreamFramer, TransportMessage, write_batch,
    write_prefixed,
};
use plexus_transport::wire::{DecodeError, Priority, Reader, Reliability, WhatAmI, ZenohId};
use proptest::prelude::*;

fn arb_zid() -> impl Strategy<Value = ZenohId> {
    prop_oneof![1u128..=0xff, any::<u128>().prop_map(|v| v | 1)]
        .prop_map(|v| ZenohId::new(v).expect("nonzero"))
}

fn arb_whatami() -> impl Strategy<Value = WhatAmI> {
    prop_oneof![
        Just(WhatAmI::Router),
        Just(WhatAmI::Peer),
        Just(WhatAmI::Client)
    ]
}

fn arb_locator() -> impl Strategy<Value = String> {
    prop_oneof![
        "tcp/127\\.0\\.0\\.1:[0-9]{1,5}",
        "[a-z]{1,8}/\\PC{0,40}",
        // Long ones, up to the u8 bound.
        "[a-z]{250,255}",
    ]
    .prop_filter("u8-bounded", |s| s.len() <= MAX_LOCATOR_LEN)
}

fn arb_psid() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..8, any::<u16>()]
}

fn arb_state() -> impl Strategy<Value = LinkState> {
    (
        arb_psid(),
        prop_oneof![0u64..4, any::<u64>()],
        prop::option::of(arb_zid()),
        prop::option::of(arb_whatami()),
        prop::option::of(prop::collection::vec(arb_locator(), 0..4)),
        prop::collection::vec(arb_psid(), 0..6),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(psid, sn, zid, whatami, locators, links, with_w, gateway, seed)| {
                // One weight per link (the encoder's invariant), mixing unset (0) and set ones.
                let weights = with_w.then(|| {
                    (0..links.len())
                        .map(|i| (seed.rotate_left(i as u32 * 9) % 3 * 700) as u16)
                        .collect()
                });
                LinkState {
                    psid,
                    sn,
                    zid,
                    whatami,
                    locators,
                    links,
                    weights,
                    gateway,
                }
            },
        )
}

fn arb_list() -> impl Strategy<Value = LinkStateList> {
    prop::collection::vec(arb_state(), 0..6).prop_map(|states| LinkStateList { states })
}

fn encode(l: &LinkStateList) -> Vec<u8> {
    let mut out = Vec::new();
    l.write(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip(l in arb_list()) {
        let bytes = encode(&l);
        let back = LinkStateList::decode(Bytes::from(bytes.clone())).expect("decodes");
        prop_assert_eq!(&back, &l);
        // Canonical: re-encoding gives the same bytes.
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn every_truncation_is_incomplete(l in arb_list()) {
        let bytes = encode(&l);
        for cut in 0..bytes.len() {
            let r = LinkStateList::decode(Bytes::copy_from_slice(&bytes[..cut]));
            prop_assert!(
                matches!(r, Err(DecodeError::Incomplete(_))),
                "cut at {} of {}: {:?}", cut, bytes.len(), r
            );
        }
    }

    /// A list travels as an OAM in a FRAME; the batch, length-prefixed on a stream, is
    /// fed split at every byte position and comes out whole.
    #[test]
    fn through_a_frame_split_at_every_byte(l in arb_list(), sn in 0u32..0x0fff_ffff) {
        let items = vec![
            BatchItem::Transport(TransportMessage::Frame(FrameHeader {
                reliability: Reliability::Reliable,
                sn,
                priority: Priority::Control,
            })),
            BatchItem::Network(NetworkMessage::Oam(l.to_oam())),
        ];
        let mut batch = Vec::new();
        write_batch(&items, &mut batch);
        let mut stream = Vec::new();
        write_prefixed(&mut stream, &batch);
        for split in 0..=stream.len() {
            let mut f = StreamFramer::new(u16::MAX);
            let mut got = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                f.extend(part);
                while let Some(b) = f.next_batch().expect("fits") {
                    got.push(b);
                }
            }
            prop_assert_eq!(got.len(), 1);
            let items = BatchReader::read_all(got.pop().expect("one batch")).expect("decodes");
            let BatchItem::Network(NetworkMessage::Oam(oam)) = &items[1] else {
                return Err(TestCaseError::fail("no OAM"));
            };
            prop_assert_eq!(&LinkStateList::from_oam(oam).expect("link state"), &l);
        }
    }

    /// Arbitrary bytes never panic; whatever decodes re-encodes to a list that decodes
    /// to itself.
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(l) = LinkStateList::read(&mut Reader::new(Bytes::from(data))) {
            let again = LinkStateList::decode(Bytes::from(encode(&l))).expect("re-encoded decodes");
            prop_assert_eq!(again, l);
        }
    }
}
