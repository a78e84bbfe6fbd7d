//! Reassembles the real 100 009-byte PUSH that Zenoh 1.10.2 sent as three FRAGMENTs
//! (`shared/wire-captures/pubsub.jsonl`, connection 1, batches 10 and 15-17).
//! Fails when the capture is missing (see `captures/mod.rs`).

mod captures;

use bytes::Bytes;
use plexus_transport::defrag::{DEFAULT_MAX_MESSAGE_SIZE, Defragmenter};
use plexus_transport::seq::{RxChannel, sn_mask};
use plexus_transport::wire::transport::TransportMessage;
use plexus_transport::wire::{Priority, Reader, Reliability};

fn capture() -> Vec<serde_json::Value> {
    captures::read("pubsub.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn unhex(s: &str) -> Bytes {
    Bytes::from(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>(),
    )
}

fn decode(rec: &serde_json::Value) -> TransportMessage {
    let mut r = Reader::new(unhex(rec["hex"].as_str().expect("hex field")));
    TransportMessage::read(&mut r).expect("decode")
}

#[test]
fn pubsub_fragments_reassemble() {
    let records = capture();
    let TransportMessage::Open(open) = decode(&records[10]) else {
        panic!("batch 10 is not the OPEN syn")
    };
    let mask = sn_mask(0x0a);
    let mut rx = RxChannel::new(open.initial_sn, mask);
    let mut defrag = Defragmenter::new(DEFAULT_MAX_MESSAGE_SIZE, mask, 1);
    let mut out = None;
    let mut sizes = Vec::new();
    for rec in &records[15..=17] {
        let TransportMessage::Fragment(f) = decode(rec) else {
            panic!("not a FRAGMENT")
        };
        assert_eq!(
            (f.priority, f.reliability),
            (Priority::Data, Reliability::Reliable)
        );
        sizes.push(f.payload.len());
        let accepted = rx.accept(f.sn);
        assert!(accepted, "SN {} refused", f.sn);
        if let Some(msg) = defrag.handle_fragment(&f, accepted).expect("defrag") {
            out = Some(msg);
        }
    }
    assert_eq!(sizes, [49144, 49145, 1720]);
    let msg = out.expect("whole message");
    assert_eq!(msg.len(), 100_009);
    // A PUSH (0x1d) with a named key expression, ending with the publisher's `i % 251` payload pattern.
    assert_eq!(msg[0] & 0x1f, 0x1d);
    assert_eq!(msg[msg.len() - 1], ((100_000 - 1) % 251) as u8);
    assert!(defrag.is_empty());
}
