//! `NetworkMessage::read` on arbitrary bytes: never panics, and a decoded message
//! re-encodes to bytes that decode to the same message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::wire::Reader;
use plexus_transport::wire::network::NetworkMessage;

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
    }
});
