//! `NetworkMessage::read` on arbitrary bytes: never panics, and a decoded message
//! re-encodes to bytes that decode to the same message. The extensions it kept without
//! knowing them (`unknown_exts`) survive that byte for byte, and a timestamp stack
//! among them reads, re-encodes and takes a ROUTE record without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::network::timestamp_stack::{self, TimestampStack};
use plexus_transport::wire::{Reader, Timestamp, UnknownExts, ZenohId};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(Bytes::copy_from_slice(data));
    while !r.is_empty() {
        let Ok(m) = NetworkMessage::read(&mut r) else {
            break;
        };
        let mut out = Vec::new();
        m.write(&mut out);
        let again = NetworkMessage::read(&mut Reader::new(Bytes::from(out)))
            .expect("a re-encoded message decodes");
        assert_eq!(again, m);
        let kept = match &m {
            NetworkMessage::Push(p) => Some(&p.unknown_exts),
            NetworkMessage::Request(q) => Some(&q.unknown_exts),
            NetworkMessage::Response(s) => Some(&s.unknown_exts),
            _ => None,
        };
        if let Some(kept) = kept {
            stack(kept);
        }
    }
});

fn stack(kept: &UnknownExts) {
    assert_eq!(UnknownExts::from_wire(kept.as_bytes()).as_ref(), Ok(kept));
    if let Some(s) = TimestampStack::find(kept) {
        let mut body = Vec::new();
        s.write(&mut body);
        assert_eq!(TimestampStack::read(&Bytes::from(body)).as_ref(), Ok(&s));
    }
    let mut routed = kept.clone();
    let id = ZenohId::new(1).expect("nonzero");
    if timestamp_stack::push_route_record(&mut routed, || Timestamp { time: 1, id }) {
        let s = TimestampStack::find(&routed).expect("still a stack");
        assert_eq!(
            s.records.last().map(|r| r.flags),
            Some(timestamp_stack::ROUTE)
        );
    }
}
