//! Transport message codec, batches and stream framing: property tests for round-trips,
//! whole batches, split feeding of length-prefixed streams, truncation and arbitrary
//! input, plus unit tests for the edge cases (oversized prefixes, empty batches, JOIN).

use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::network::{NetworkMessage, is_network_header};
use plexus_transport::wire::transport::*;
use plexus_transport::wire::{DecodeError, Priority, Reader, Reliability, WhatAmI};
use proptest::prelude::*;

// Strategies for network and zenoh messages, shared with `network_codec.rs`.
mod codec_common;
use codec_common::{arb_bytes, arb_message, arb_zid};

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn arb_priority() -> impl Strategy<Value = Priority> {
    (0u8..8).prop_map(Priority::from_bits)
}

fn arb_reliability() -> impl Strategy<Value = Reliability> {
    prop_oneof![Just(Reliability::BestEffort), Just(Reliability::Reliable)]
}

fn arb_whatami() -> impl Strategy<Value = WhatAmI> {
    prop_oneof![
        Just(WhatAmI::Router),
        Just(WhatAmI::Peer),
        Just(WhatAmI::Client)
    ]
}

fn arb_opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    prop::option::of(arb_bytes(48))
}

fn arb_qos_ext() -> impl Strategy<Value = Option<QosExt>> {
    prop::option::of(prop_oneof![
        Just(QosExt::Plain),
        any::<u64>().prop_map(QosExt::Link),
    ])
}

fn arb_init() -> impl Strategy<Value = Init> {
    let params = (
        any::<bool>(),
        prop_oneof![Just(VERSION), any::<u8>()],
        arb_whatami(),
        arb_zid(),
        // The size parameters only travel when one of them differs from the default.
        prop_oneof![Just(DEFAULT_RESOLUTION), any::<u8>()],
        prop_oneof![Just(DEFAULT_BATCH_SIZE), any::<u16>()],
        arb_bytes(64),
    );
    let exts = (
        arb_qos_ext(),
        arb_opt_bytes(),
        arb_opt_bytes(),
        arb_opt_bytes(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0u64), Just(1u64), any::<u64>()],
        arb_opt_bytes(),
    );
    (params, exts).prop_map(
        |(
            (ack, version, whatami, zid, resolution, batch_size, cookie),
            (qos, shm, auth, multilink, low_latency, compression, patch, region_name),
        )| Init {
            ack,
            version,
            whatami,
            zid,
            resolution,
            batch_size,
            // Only the ack carries a cookie.
            cookie: if ack { cookie } else { Bytes::new() },
            qos,
            shm,
            auth,
            multilink,
            low_latency,
            compression,
            patch,
            region_name,
        },
    )
}

fn arb_lease() -> impl Strategy<Value = Duration> {
    prop_oneof![
        // Whole seconds travel in seconds (flag B), anything else in milliseconds.
        // Up to u64::MAX seconds, far more than u64::MAX milliseconds.
        any::<u64>().prop_map(Duration::from_secs),
        (0u64..100_000).prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_millis),
        (0u64..100_000).prop_map(Duration::from_millis),
    ]
}

fn arb_open() -> impl Strategy<Value = Open> {
    let params = (any::<bool>(), arb_lease(), any::<u32>(), arb_bytes(64));
    let exts = (
        any::<bool>(),
        arb_opt_bytes(),
        arb_opt_bytes(),
        arb_opt_bytes(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<u64>()),
    );
    (params, exts).prop_map(
        |(
            (ack, lease, initial_sn, cookie),
            (qos, shm, auth, multilink_syn, multilink_ack, low_latency, compression, remote_bound),
        )| Open {
            ack,
            lease,
            initial_sn,
            // Only the syn echoes the cookie.
            cookie: if ack { Bytes::new() } else { cookie },
            qos,
            shm,
            auth,
            multilink_syn,
            multilink_ack,
            low_latency,
            compression,
            remote_bound,
        },
    )
}

fn arb_close() -> impl Strategy<Value = Close> {
    // Every code: the 8 named reasons and `Other` for the rest.
    (any::<u8>(), any::<bool>()).prop_map(|(code, session)| Close {
        reason: CloseReason::from_code(code),
        session,
    })
}

fn arb_sn() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 0u32..128, any::<u32>(), Just(u32::MAX)]
}

fn arb_frame_header() -> impl Strategy<Value = FrameHeader> {
    (arb_reliability(), arb_sn(), arb_priority()).prop_map(|(reliability, sn, priority)| {
        FrameHeader {
            reliability,
            sn,
            priority,
        }
    })
}

fn arb_fragment() -> impl Strategy<Value = Fragment> {
    (
        arb_reliability(),
        any::<bool>(),
        arb_sn(),
        arb_priority(),
        any::<bool>(),
        any::<bool>(),
        arb_bytes(200),
    )
        .prop_map(
            |(reliability, more, sn, priority, first, drop, payload)| Fragment {
                reliability,
                more,
                sn,
                priority,
                first,
                drop,
                payload,
            },
        )
}

fn arb_transport_oam() -> impl Strategy<Value = TransportOam> {
    let body = prop_oneof![
        Just(OamBody::Unit),
        any::<u64>().prop_map(OamBody::Z64),
        arb_bytes(64).prop_map(OamBody::ZBuf),
    ];
    (any::<u16>(), arb_priority(), body).prop_map(|(id, priority, body)| TransportOam {
        id,
        priority,
        body,
    })
}

/// Every transport message except FRAGMENT (whose payload runs to the end of the input).
fn arb_delimited_message() -> impl Strategy<Value = TransportMessage> {
    prop_oneof![
        arb_init().prop_map(TransportMessage::Init),
        arb_open().prop_map(TransportMessage::Open),
        arb_close().prop_map(TransportMessage::Close),
        Just(TransportMessage::KeepAlive),
        arb_frame_header().prop_map(TransportMessage::Frame),
        arb_transport_oam().prop_map(TransportMessage::Oam),
    ]
}

fn arb_transport_message() -> impl Strategy<Value = TransportMessage> {
    prop_oneof![
        6 => arb_delimited_message(),
        1 => arb_fragment().prop_map(TransportMessage::Fragment),
    ]
}

/// A transport message other than FRAME and FRAGMENT, as a batch item.
fn arb_control_item() -> impl Strategy<Value = Vec<BatchItem>> {
    arb_delimited_message()
        .prop_filter("FRAME is generated with its messages", |m| {
            !matches!(m, TransportMessage::Frame(_))
        })
        .prop_map(|m| vec![BatchItem::Transport(m)])
}

/// A FRAME header followed by 1 to 5 network messages.
fn arb_frame_items() -> impl Strategy<Value = Vec<BatchItem>> {
    (
        arb_frame_header(),
        prop::collection::vec(arb_message(), 1..=5),
    )
        .prop_map(|(h, msgs)| {
            std::iter::once(BatchItem::Transport(TransportMessage::Frame(h)))
                .chain(msgs.into_iter().map(BatchItem::Network))
                .collect()
        })
}

/// A whole batch: control messages and FRAMEs with their messages, and possibly a
/// FRAGMENT at the end.
fn arb_batch() -> impl Strategy<Value = Vec<BatchItem>> {
    (
        prop::collection::vec(prop_oneof![arb_control_item(), arb_frame_items()], 0..6),
        prop::option::of(arb_fragment()),
    )
        .prop_map(|(groups, fragment)| {
            let mut items: Vec<BatchItem> = groups.into_iter().flatten().collect();
            if let Some(f) = fragment {
                items.push(BatchItem::Transport(TransportMessage::Fragment(f)));
            }
            items
        })
}

/// The bytes of one small batch for the stream tests: arbitrary bytes (the framer does
/// not look inside) or a few encoded transport messages.
fn arb_small_batch() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        prop::collection::vec(
            prop_oneof![
                arb_close().prop_map(TransportMessage::Close),
                Just(TransportMessage::KeepAlive),
                arb_frame_header().prop_map(TransportMessage::Frame),
                arb_transport_oam().prop_map(TransportMessage::Oam),
                arb_open().prop_map(TransportMessage::Open),
            ],
            0..4
        )
        .prop_map(|msgs| {
            let items: Vec<BatchItem> = msgs.into_iter().map(BatchItem::Transport).collect();
            let mut out = Vec::new();
            write_batch(&items, &mut out);
            out
        }),
    ]
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn encode(m: &TransportMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.write(&mut out);
    out
}

fn decode(bytes: &[u8]) -> (Result<TransportMessage, DecodeError>, usize) {
    let mut r = Reader::new(Bytes::copy_from_slice(bytes));
    let res = TransportMessage::read(&mut r);
    (res, r.remaining())
}

fn stream_of(batches: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in batches {
        write_prefixed(&mut out, b);
    }
    out
}

/// Feeds `chunks` to a fresh framer with [`StreamFramer::extend`], taking every complete
/// batch after each chunk.
fn frame_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    batch_size: u16,
) -> Result<Vec<Bytes>, OversizedBatch> {
    let mut f = StreamFramer::new(batch_size);
    let mut out = Vec::new();
    for c in chunks {
        f.extend(c);
        while let Some(b) = f.next_batch()? {
            out.push(b);
        }
    }
    assert!(f.buffer_mut().is_empty(), "bytes left in the framer");
    Ok(out)
}

/// Feeds one byte at a time through [`StreamFramer::buffer_mut`].
fn frame_bytewise(stream: &[u8], batch_size: u16) -> Result<Vec<Bytes>, OversizedBatch> {
    let mut f = StreamFramer::new(batch_size);
    let mut out = Vec::new();
    for &b in stream {
        f.buffer_mut().extend_from_slice(&[b]);
        while let Some(batch) = f.next_batch()? {
            out.push(batch);
        }
    }
    Ok(out)
}

/// Splits `data` into chunks whose sizes cycle through `sizes` (0 = an empty chunk).
fn chunked<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let n = if sizes.is_empty() {
            data.len()
        } else {
            sizes[i % sizes.len()]
        };
        let end = (pos + n).min(data.len());
        out.push(&data[pos..end]);
        pos = end;
        i += 1;
        // Empty chunks are allowed, but make sure the loop ends.
        if i > 4 * data.len() + sizes.len() {
            out.push(&data[pos..]);
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Properties: round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every transport message round-trips, consumes all its bytes and re-encodes the
    /// same bytes.
    #[test]
    fn message_round_trip(m in arb_transport_message()) {
        let bytes = encode(&m);
        let (back, left) = decode(&bytes);
        let back = back.map_err(|e| TestCaseError::fail(format!("{e} decoding {m:?}")))?;
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(left, 0, "bytes left over");
        prop_assert_eq!(encode(&back), bytes);
    }

    /// INIT sets B (resolution and batch size present) exactly when one differs from the
    /// default, and an INIT without B decodes to the defaults.
    #[test]
    fn init_size_parameters_only_when_not_default(m in arb_init()) {
        let bytes = encode(&TransportMessage::Init(m.clone()));
        let sized = m.resolution != DEFAULT_RESOLUTION || m.batch_size != DEFAULT_BATCH_SIZE;
        prop_assert_eq!(bytes[0] & 0x40 != 0, sized);
        prop_assert_eq!(bytes[0] & 0x20 != 0, m.ack);
    }

    /// OPEN uses seconds (B) exactly for whole-second leases.
    #[test]
    fn open_lease_unit(m in arb_open()) {
        let bytes = encode(&TransportMessage::Open(m.clone()));
        prop_assert_eq!(bytes[0] & 0x40 != 0, m.lease.as_millis().is_multiple_of(1000));
    }

    /// Two messages back to back decode one after the other.
    #[test]
    fn back_to_back(a in arb_delimited_message(), b in arb_transport_message()) {
        let mut bytes = encode(&a);
        b.write(&mut bytes);
        let mut r = Reader::new(Bytes::from(bytes));
        prop_assert_eq!(TransportMessage::read(&mut r).ok(), Some(a));
        prop_assert_eq!(TransportMessage::read(&mut r).ok(), Some(b));
        prop_assert!(r.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A whole batch written with `write_batch` reads back as the same items.
    #[test]
    fn batch_round_trip(items in arb_batch()) {
        let mut bytes = Vec::new();
        write_batch(&items, &mut bytes);
        let back = BatchReader::read_all(Bytes::from(bytes.clone()))
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&back, &items);
        let mut again = Vec::new();
        write_batch(&back, &mut again);
        prop_assert_eq!(again, bytes);
    }

    /// Every strict prefix of a batch that does not end with a FRAGMENT either fails or
    /// decodes to a strict prefix of the items (a cut between two messages).
    #[test]
    fn batch_prefixes_never_invent_items(items in arb_batch()) {
        let items: Vec<BatchItem> = items
            .into_iter()
            .filter(|i| !matches!(i, BatchItem::Transport(TransportMessage::Fragment(_))))
            .collect();
        let mut bytes = Vec::new();
        write_batch(&items, &mut bytes);
        let bytes = Bytes::from(bytes);
        for k in 0..bytes.len() {
            if let Ok(got) = BatchReader::read_all(bytes.slice(..k)) {
                prop_assert!(got.len() < items.len() && got[..] == items[..got.len()],
                    "prefix of {} bytes decoded to {:?}", k, got);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Properties: stream framing
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// A stream of length-prefixed batches fed in two chunks split at every byte
    /// position, and one byte at a time, yields exactly the original batches in order.
    #[test]
    fn split_feeding_yields_the_batches(batches in prop::collection::vec(arb_small_batch(), 1..6)) {
        let stream = stream_of(&batches);
        let expected: Vec<Bytes> = batches.iter().map(|b| Bytes::copy_from_slice(b)).collect();
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let got = frame_chunks([a, b], DEFAULT_BATCH_SIZE)
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(&got, &expected, "split at {}", cut);
        }
        let got = frame_bytewise(&stream, DEFAULT_BATCH_SIZE)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&got, &expected);
    }

    /// Arbitrary chunk sizes (including empty chunks) do not change the batches, and
    /// every batch that holds encoded messages decodes.
    #[test]
    fn arbitrary_chunking_yields_the_batches(
        batches in prop::collection::vec(arb_small_batch(), 1..6),
        sizes in prop::collection::vec(0usize..64, 1..8),
    ) {
        let stream = stream_of(&batches);
        let expected: Vec<Bytes> = batches.iter().map(|b| Bytes::copy_from_slice(b)).collect();
        let got = frame_chunks(chunked(&stream, &sizes), DEFAULT_BATCH_SIZE)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(got, expected);
    }

    /// End to end: whole batches (FRAMEs with network messages, control messages, a final
    /// FRAGMENT) are prefixed, streamed in arbitrary chunks, framed and decoded back.
    #[test]
    fn streamed_batches_decode_to_their_items(
        batches in prop::collection::vec(arb_batch(), 1..4),
        sizes in prop::collection::vec(0usize..700, 1..8),
    ) {
        let encoded: Vec<Vec<u8>> = batches
            .iter()
            .map(|items| {
                let mut out = Vec::new();
                write_batch(items, &mut out);
                out
            })
            .collect();
        prop_assume!(encoded.iter().all(|b| b.len() + 2 <= DEFAULT_BATCH_SIZE as usize));
        let stream = stream_of(&encoded);
        let got = frame_chunks(chunked(&stream, &sizes), DEFAULT_BATCH_SIZE)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(got.len(), batches.len());
        for (batch, items) in got.into_iter().zip(&batches) {
            let back = BatchReader::read_all(batch).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(&back, items);
        }
    }

    /// The largest batch that fits the batch size is accepted, one byte more is not,
    /// however the stream is split.
    #[test]
    fn batch_size_boundary(max in 2u16..600, over in any::<bool>(), cut in any::<prop::sample::Index>()) {
        let len = (max - 2) as usize + usize::from(over);
        let stream = stream_of(&[vec![0x04; len]]);
        let cut = cut.index(stream.len() + 1);
        let (a, b) = stream.split_at(cut);
        let res = frame_chunks([a, b], max);
        if over {
            prop_assert_eq!(res, Err(OversizedBatch { len: len + 2, max: max as usize }));
        } else {
            prop_assert_eq!(res.map(|v| v.len()), Ok(1));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Properties: truncation and arbitrary input
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No strict prefix of a message other than FRAGMENT decodes.
    #[test]
    fn strict_prefixes_are_errors(m in arb_delimited_message()) {
        let bytes = encode(&m);
        for k in 0..bytes.len() {
            let (res, _) = decode(&bytes[..k]);
            prop_assert!(res.is_err(), "prefix of {} of {} bytes decoded: {:?}", k, bytes.len(), res);
        }
    }

    /// A strict prefix of a FRAGMENT either fails (cut in the header) or decodes with a
    /// shorter payload.
    #[test]
    fn fragment_prefixes(f in arb_fragment()) {
        let bytes = encode(&TransportMessage::Fragment(f.clone()));
        let mut header = Vec::new();
        f.write_header(&mut header);
        for k in 0..bytes.len() {
            let (res, _) = decode(&bytes[..k]);
            if k < header.len() {
                prop_assert!(res.is_err(), "header prefix of {} bytes decoded: {:?}", k, res);
            } else {
                let mut want = f.clone();
                want.payload = f.payload.slice(..k - header.len());
                prop_assert_eq!(res, Ok(TransportMessage::Fragment(want)));
            }
        }
    }

    /// Corrupting one byte of a valid batch never panics.
    #[test]
    fn corrupted_batches_never_panic(
        items in arb_batch(),
        pos in any::<prop::sample::Index>(),
        val in any::<u8>(),
    ) {
        let mut bytes = Vec::new();
        write_batch(&items, &mut bytes);
        if !bytes.is_empty() {
            let i = pos.index(bytes.len());
            bytes[i] = val;
        }
        let _ = BatchReader::read_all(Bytes::from(bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6000))]

    #[test]
    fn arbitrary_bytes_never_panic_message(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let (res, left) = decode(&bytes);
        if res.is_ok() {
            prop_assert!(left <= bytes.len());
        }
    }

    #[test]
    fn arbitrary_bodies_after_a_transport_header_never_panic(
        id in 0u8..=7,
        flags in 0u8..8,
        rest in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = vec![id | (flags << 5)];
        bytes.extend(rest);
        let _ = decode(&bytes);
        let _ = BatchReader::read_all(Bytes::from(bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic_batch(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = BatchReader::read_all(Bytes::from(bytes));
    }

    /// A FRAME header followed by arbitrary bytes: the network decoder under the batch
    /// reader never panics.
    #[test]
    fn arbitrary_frame_contents_never_panic(
        h in arb_frame_header(),
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = encode(&TransportMessage::Frame(h));
        bytes.extend(rest);
        let _ = BatchReader::read_all(Bytes::from(bytes));
    }

    #[test]
    fn arbitrary_stream_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        sizes in prop::collection::vec(0usize..96, 1..8),
        batch_size in prop_oneof![Just(DEFAULT_BATCH_SIZE), 0u16..300, any::<u16>()],
    ) {
        let mut f = StreamFramer::new(batch_size);
        'feed: for c in chunked(&bytes, &sizes) {
            f.extend(c);
            loop {
                match f.next_batch() {
                    Ok(Some(batch)) => {
                        prop_assert!(batch.len() + 2 <= batch_size as usize);
                        let _ = BatchReader::read_all(batch);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        prop_assert!(e.len > e.max);
                        // The stream is unusable from here on; the error is sticky.
                        prop_assert_eq!(f.next_batch(), Err(e));
                        break 'feed;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Unit tests
// ---------------------------------------------------------------------------------------

#[test]
fn oversized_prefix_is_rejected_with_the_numbers() {
    let mut f = StreamFramer::new(1000);
    // 999 + 2 > 1000: rejected as soon as the prefix is in, before the body arrives.
    f.extend(&999u16.to_le_bytes());
    let err = f.next_batch().unwrap_err();
    assert_eq!(
        err,
        OversizedBatch {
            len: 1001,
            max: 1000
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("1001") && msg.contains("1000"), "{msg}");

    // Exactly the batch size is fine.
    let mut f = StreamFramer::new(1000);
    let mut stream = Vec::new();
    write_prefixed(&mut stream, &[0x04; 998]);
    f.extend(&stream);
    assert_eq!(f.next_batch().unwrap().map(|b| b.len()), Some(998));

    // The largest prefix with the default (largest) batch size.
    let mut f = StreamFramer::new(DEFAULT_BATCH_SIZE);
    f.extend(&[0xff, 0xff]);
    let err = f.next_batch().unwrap_err();
    assert_eq!(
        err,
        OversizedBatch {
            len: 65537,
            max: 65535
        }
    );
    assert!(err.to_string().contains("65537"), "{err}");

    // One byte of prefix is not enough to judge.
    let mut f = StreamFramer::new(16);
    f.extend(&[0xff]);
    assert_eq!(f.next_batch(), Ok(None));
    f.extend(&[0xff]);
    assert!(f.next_batch().is_err());

    // The limit follows set_batch_size.
    let mut f = StreamFramer::new(16);
    f.set_batch_size(8);
    f.extend(&[7, 0]);
    assert_eq!(f.next_batch(), Err(OversizedBatch { len: 9, max: 8 }));
}

/// Zenoh reads a batch with `while !batch.is_empty() { decode }`
/// (zenoh-transport 1.10.2 `unicast/universal/rx.rs`), so an empty batch is valid and
/// carries nothing. Plexus does the same.
#[test]
fn empty_batch_decodes_to_no_items() {
    assert_eq!(BatchReader::read_all(Bytes::new()), Ok(vec![]));
    let mut r = BatchReader::new(Bytes::new());
    assert_eq!(r.next_item(), Ok(None));
    assert_eq!(r.next_item(), Ok(None));

    let mut stream = Vec::new();
    write_prefixed(&mut stream, &[]);
    write_prefixed(&mut stream, &[0x04]);
    write_prefixed(&mut stream, &[]);
    assert_eq!(stream, [0, 0, 1, 0, 0x04, 0, 0]);
    let got = frame_chunks([&stream[..]], 16).unwrap();
    assert_eq!(
        got,
        [Bytes::new(), Bytes::from_static(&[0x04]), Bytes::new()]
    );
    // Even a batch size too small for anything but the prefix accepts empty batches.
    assert_eq!(frame_chunks([&[0u8, 0][..]], 2).unwrap(), [Bytes::new()]);
    assert!(frame_chunks([&[0u8, 0][..]], 1).is_err());
}

#[test]
fn join_is_rejected_clearly() {
    for header in [0x07u8, 0x27, 0x47, 0x87, 0xe7] {
        let (res, _) = decode(&[header, 0x09, 0x01, 0x02, 0x03]);
        let err = res.unwrap_err();
        assert!(
            matches!(err, DecodeError::Malformed { what: "JOIN", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("multicast JOIN"), "{err}");
    }
    let err = BatchReader::read_all(Bytes::from_static(&[0x04, 0x07, 0x09])).unwrap_err();
    assert!(err.to_string().contains("JOIN"), "{err}");
}

#[test]
fn network_message_outside_a_frame_is_rejected() {
    // A KEEP_ALIVE followed by a network OAM (0x1f) with no FRAME before it.
    let err = BatchReader::read_all(Bytes::from_static(&[0x04, 0x1f, 0x01])).unwrap_err();
    assert!(err.to_string().contains("unknown message id 0x1f"), "{err}");
    // After a FRAME it is a network message.
    let items = BatchReader::read_all(Bytes::from_static(&[0x05, 0x00, 0x1f, 0x01])).unwrap();
    assert_eq!(items.len(), 2);
    assert!(matches!(
        items[1],
        BatchItem::Network(NetworkMessage::Oam(_))
    ));
    assert!(is_network_header(0x1f));
}

#[test]
fn empty_frame_then_control_message() {
    let items = vec![
        BatchItem::Transport(TransportMessage::Frame(FrameHeader {
            reliability: Reliability::Reliable,
            sn: 7,
            priority: Priority::Control,
        })),
        BatchItem::Transport(TransportMessage::KeepAlive),
        BatchItem::Transport(TransportMessage::Frame(FrameHeader {
            reliability: Reliability::BestEffort,
            sn: 8,
            priority: Priority::Data,
        })),
    ];
    let mut bytes = Vec::new();
    write_batch(&items, &mut bytes);
    assert_eq!(BatchReader::read_all(Bytes::from(bytes)), Ok(items));
}

#[test]
fn truncated_message_in_a_batch_is_malformed_not_incomplete() {
    // FRAME, then a network OAM with a zbuf body announcing 5 bytes but carrying 1.
    let err = BatchReader::read_all(Bytes::from_static(&[0x05, 0x00, 0x5f, 0x01, 0x05, 0xaa]))
        .unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("past the end of its batch"),
        "{err}"
    );
    // And the reader stays finished after an error.
    let mut r = BatchReader::new(Bytes::from_static(&[0x1f, 0x04]));
    assert!(r.next_item().is_err());
    assert_eq!(r.next_item(), Ok(None));
}

#[test]
fn init_defaults_are_omitted() {
    let zid = "a1b2".parse().unwrap();
    let mut ack = Init::syn(WhatAmI::Peer, zid);
    ack.ack = true;
    ack.cookie = Bytes::from_static(b"cookie");
    let bytes = encode(&TransportMessage::Init(ack.clone()));
    // Header (A, no B, no Z), version, zid flags, 2 zid bytes, cookie.
    assert_eq!(
        bytes,
        [
            0x21, 0x09, 0x11, 0xb2, 0xa1, 6, b'c', b'o', b'o', b'k', b'i', b'e'
        ]
    );
    ack.batch_size = 2048;
    let bytes = encode(&TransportMessage::Init(ack.clone()));
    assert_eq!(
        &bytes[..8],
        [0x61, 0x09, 0x11, 0xb2, 0xa1, 0x0a, 0x00, 0x08]
    );
    assert_eq!(decode(&bytes), (Ok(TransportMessage::Init(ack)), 0));
}

// ---------------------------------------------------------------------------------------
// Regressions found by fuzzing (fuzz/artifacts/…)
// ---------------------------------------------------------------------------------------

/// `fuzz/artifacts/transport_message/crash-31ff8cec…`: an OPEN syn whose lease, in
/// seconds, is larger than u64::MAX milliseconds. The writer clamped the milliseconds to
/// u64::MAX and wrote them in milliseconds, so the message re-encoded to a different
/// lease. It now writes whole seconds in seconds whatever their size.
#[test]
fn regression_open_lease_in_seconds_beyond_u64_millis() {
    let input = [
        0x42, 0xff, 0xff, 0xfb, 0xff, 0xff, 0x9c, 0x9c, 0x9c, 0x01, 0x00, 0x00, 0x00,
    ];
    let mut r = Reader::new(Bytes::copy_from_slice(&input));
    let m = TransportMessage::read(&mut r).unwrap();
    let TransportMessage::Open(open) = &m else {
        panic!("expected OPEN, got {m:?}")
    };
    assert!(open.lease.as_millis() > u64::MAX as u128);
    let bytes = encode(&m);
    assert_eq!(bytes, input[..12]);
    assert_eq!(decode(&bytes), (Ok(m), 0));

    // `fuzz/artifacts/batch/crash-ea02666a…`: the same in an OPEN ack inside a batch.
    let input = [
        0x62, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x2f, 0x2b,
    ];
    let items = BatchReader::read_all(Bytes::copy_from_slice(&input)).unwrap();
    let mut bytes = Vec::new();
    write_batch(&items, &mut bytes);
    assert_eq!(bytes, input);

    // The largest lease of all.
    let m = TransportMessage::Open(Open::new(
        true,
        Duration::from_secs(u64::MAX),
        0,
        Bytes::new(),
    ));
    assert_eq!(decode(&encode(&m)), (Ok(m), 0));
}
