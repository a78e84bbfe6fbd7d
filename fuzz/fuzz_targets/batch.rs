//! `BatchReader::read_all` on arbitrary bytes: never panics, and a decoded batch
//! re-encodes to bytes that decode to the same items. The link reader's way through a
//! batch (every PUSH decoded into one reused slot by `next_push_into`, the rest by
//! `next_item`) must see the same items, or fail where `read_all` fails.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::wire::network::{NetworkMessage, Push};
use plexus_transport::wire::transport::{BatchItem, BatchReader, write_batch};

/// The items as the link reader decodes them.
fn read_like_a_link(batch: Bytes) -> Result<Vec<BatchItem>, String> {
    let mut reader = BatchReader::new(batch);
    let mut slot = Push::default();
    let mut items = Vec::new();
    loop {
        match reader.next_push_into(&mut slot) {
            Ok(true) => {
                items.push(BatchItem::Network(NetworkMessage::Push(slot.clone())));
                continue;
            }
            Ok(false) => {}
            Err(e) => return Err(e.to_string()),
        }
        match reader.next_item() {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Ok(items),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let all = BatchReader::read_all(Bytes::copy_from_slice(data));
    let linked = read_like_a_link(Bytes::copy_from_slice(data));
    match (&all, &linked) {
        (Ok(a), Ok(l)) => assert_eq!(a, l),
        (Err(a), Err(l)) => assert_eq!(&a.to_string(), l),
        _ => panic!("read_all gave {all:?}, the link's way {linked:?}"),
    }
    if let Ok(items) = all {
        let mut out = Vec::new();
        write_batch(&items, &mut out);
        let again = BatchReader::read_all(Bytes::from(out)).expect("a re-encoded batch decodes");
        assert_eq!(again, items);
    }
});
