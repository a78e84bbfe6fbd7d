//! `BatchReader::read_all` on arbitrary bytes: never panics, and a decoded batch
//! re-encodes to bytes that decode to the same items.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::wire::transport::{BatchReader, write_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = BatchReader::read_all(Bytes::copy_from_slice(data)) {
        let mut out = Vec::new();
        write_batch(&items, &mut out);
        let again = BatchReader::read_all(Bytes::from(out)).expect("a re-encoded batch decodes");
        assert_eq!(again, items);
    }
});
