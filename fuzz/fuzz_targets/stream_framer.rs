//! `StreamFramer` fed in chunks whose sizes come from the input, each framed batch
//! decoded with `BatchReader`: never panics, and framing does not depend on the chunking.
//!
//! Input layout: byte 0 = number of chunk sizes `n` (mod 8), bytes 1..=2 = batch size
//! (little endian), then `n` chunk sizes (0 = an empty chunk), then the stream.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use plexus_transport::wire::transport::{BatchReader, StreamFramer};

/// Splits `stream` into chunks whose sizes cycle through `sizes` (0 = an empty chunk).
fn chunks<'a>(stream: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.iter().all(|&n| n == 0) {
        // No progress possible: an empty chunk, then everything.
        return vec![&stream[..0], stream];
    }
    let mut out = Vec::new();
    let mut pos = 0;
    for &n in sizes.iter().cycle() {
        if pos >= stream.len() {
            break;
        }
        let end = (pos + n as usize).min(stream.len());
        out.push(&stream[pos..end]);
        pos = end;
    }
    out
}

/// Frames the chunks; the batches up to the first oversized prefix, and whether one was
/// found.
fn frame(chunks: &[&[u8]], batch_size: u16) -> (Vec<Bytes>, bool) {
    let mut f = StreamFramer::new(batch_size);
    let mut batches = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        // Use both ways of pushing bytes.
        if i % 2 == 0 {
            f.extend(chunk);
        } else {
            f.buffer_mut().extend_from_slice(chunk);
        }
        loop {
            match f.next_batch() {
                Ok(Some(b)) => {
                    assert!(b.len() + 2 <= batch_size as usize);
                    batches.push(b);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(e.len > e.max);
                    return (batches, true);
                }
            }
        }
    }
    (batches, false)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let n = (data[0] % 8) as usize;
    let batch_size = u16::from_le_bytes([data[1], data[2]]);
    let rest = &data[3..];
    let n = n.min(rest.len());
    let (sizes, stream) = rest.split_at(n);

    let (batches, oversized) = frame(&chunks(stream, sizes), batch_size);
    for b in &batches {
        let _ = BatchReader::read_all(b.clone());
    }
    // The same stream in one piece gives the same batches.
    let (whole, whole_oversized) = frame(&[stream], batch_size);
    assert_eq!(whole, batches);
    assert_eq!(whole_oversized, oversized);
});
