//! `LinkStateList::read` (the body of a LINKSTATE network OAM) on arbitrary bytes:
//! never panics, and a decoded list re-encodes to bytes that decode to the same list.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::wire::Reader;
use plexus_transport::wire::linkstate::LinkStateList;

fuzz_target!(|data: &[u8]| {
    let Ok(list) = LinkStateList::read(&mut Reader::new(Bytes::copy_from_slice(data))) else {
        return;
    };
    let mut out = Vec::new();
    list.write(&mut out);
    let again = LinkStateList::decode(Bytes::from(out)).expect("a re-encoded list decodes");
    assert_eq!(again, list);
});
