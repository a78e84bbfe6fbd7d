//! Batches: reading the transport messages and frame contents of one batch, writing
//! them, and framing batches on byte streams with a 2-byte length prefix.

use super::*;

/// One thing found in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchItem {
    /// A transport message (a FRAME appears as its header).
    Transport(TransportMessage),
    /// A network message carried by the FRAME before it.
    Network(NetworkMessage),
}

/// Walks the messages of one batch (the bytes after the length prefix).
///
/// Network messages are only accepted after a FRAME header; a FRAME's messages run
/// until the end of the batch or the next transport message.
#[derive(Debug)]
pub struct BatchReader {
    r: Reader,
    in_frame: bool,
    failed: bool,
}

impl BatchReader {
    /// A reader over one batch.
    pub fn new(batch: Bytes) -> Self {
        BatchReader {
            r: Reader::new(batch),
            in_frame: false,
            failed: false,
        }
    }

    /// The next message if it is a PUSH inside a frame, else `Ok(None)` (read the
    /// next item with [`BatchReader::next_item`] then). A shortcut for the hot path:
    /// the PUSH is handed over without wrapping it in a [`BatchItem`].
    pub fn next_push(&mut self) -> DecodeResult<Option<Push>> {
        let mut push = Push::default();
        Ok(self.next_push_into(&mut push)?.then_some(push))
    }

    /// As [`BatchReader::next_push`], but decodes the PUSH into `slot` (see
    /// [`Push::read_into`]) and says whether there was one: a link's reader decodes a
    /// batch's PUSHes into one place.
    #[inline]
    pub fn next_push_into(&mut self, slot: &mut Push) -> DecodeResult<bool> {
        if self.failed || !self.in_frame {
            return Ok(false);
        }
        match self.r.peek_u8() {
            Some(h) if h & flag::ID == crate::wire::network::id::PUSH => {}
            _ => return Ok(false),
        }
        let header = self.r.u8("network message")?;
        match slot.read_into(&mut self.r, header) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.failed = true;
                Err(in_batch(e))
            }
        }
    }

    /// The next item, `Ok(None)` at the end of the batch. After an error the batch
    /// must be discarded: later calls return `Ok(None)`.
    pub fn next_item(&mut self) -> DecodeResult<Option<BatchItem>> {
        if self.failed {
            return Ok(None);
        }
        let Some(header) = self.r.peek_u8() else {
            return Ok(None);
        };
        let item = if self.in_frame && is_network_header(header) {
            NetworkMessage::read(&mut self.r).map(BatchItem::Network)
        } else {
            TransportMessage::read(&mut self.r).map(|m| {
                self.in_frame = matches!(m, TransportMessage::Frame(_));
                BatchItem::Transport(m)
            })
        };
        let item = item.map_err(in_batch);
        if item.is_err() {
            self.failed = true;
        }
        item.map(Some)
    }

    /// The bytes not read yet (after an error: none). Read between messages outside a
    /// frame, they are a batch of their own.
    pub fn into_rest(mut self) -> Bytes {
        if self.failed {
            return Bytes::new();
        }
        self.r.rest()
    }

    /// Decodes a whole batch into items (convenience for tests and tools).
    pub fn read_all(batch: Bytes) -> DecodeResult<Vec<BatchItem>> {
        let mut reader = BatchReader::new(batch);
        let mut items = Vec::new();
        while let Some(item) = reader.next_item()? {
            items.push(item);
        }
        Ok(items)
    }
}

/// Inside a batch, running out of bytes means the batch was cut short.
fn in_batch(e: DecodeError) -> DecodeError {
    match e {
        DecodeError::Incomplete(what) => {
            DecodeError::malformed(what, "message runs past the end of its batch")
        }
        e => e,
    }
}

/// Encodes items back to back, as one batch (without a length prefix).
pub fn write_batch(items: &[BatchItem], out: &mut Vec<u8>) {
    for item in items {
        match item {
            BatchItem::Transport(m) => m.write(out),
            BatchItem::Network(m) => m.write(out),
        }
    }
}

/// Splits a byte stream into length-prefixed batches (2-byte little-endian length).
///
/// Push bytes as they arrive with [`StreamFramer::buffer_mut`] or
/// [`StreamFramer::extend`], then take complete batches with
/// [`StreamFramer::next_batch`].
#[derive(Debug)]
pub struct StreamFramer {
    buf: bytes::BytesMut,
    max_batch: usize,
}

/// A batch length prefix that exceeds the negotiated batch size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch of {len} bytes exceeds the batch size of {max} bytes (prefix included)")]
pub struct OversizedBatch {
    /// Length announced by the prefix, plus the prefix itself.
    pub len: usize,
    /// The negotiated batch size.
    pub max: usize,
}

impl StreamFramer {
    /// A framer that accepts batches up to `batch_size` bytes, prefix included.
    pub fn new(batch_size: u16) -> Self {
        StreamFramer {
            buf: bytes::BytesMut::with_capacity(2 * batch_size as usize),
            max_batch: batch_size as usize,
        }
    }

    /// Changes the largest accepted batch (after the handshake agreed on one).
    pub fn set_batch_size(&mut self, batch_size: u16) {
        self.max_batch = batch_size as usize;
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The internal buffer, to read into directly (e.g. with `read_buf`).
    pub fn buffer_mut(&mut self) -> &mut bytes::BytesMut {
        if self.buf.capacity() - self.buf.len() < self.max_batch {
            self.buf.reserve(self.max_batch);
        }
        &mut self.buf
    }

    /// The next complete batch (without its prefix), `Ok(None)` if more bytes are needed.
    pub fn next_batch(&mut self) -> Result<Option<Bytes>, OversizedBatch> {
        if self.buf.len() < 2 {
            return Ok(None);
        }
        let len = u16::from_le_bytes([self.buf[0], self.buf[1]]) as usize;
        if len + 2 > self.max_batch {
            return Err(OversizedBatch {
                len: len + 2,
                max: self.max_batch,
            });
        }
        if self.buf.len() < 2 + len {
            return Ok(None);
        }
        let mut batch = self.buf.split_to(2 + len);
        let _ = batch.split_to(2);
        Ok(Some(batch.freeze()))
    }
}

/// Appends `batch` with its 2-byte little-endian length prefix.
pub fn write_prefixed(out: &mut Vec<u8>, batch: &[u8]) {
    out.extend_from_slice(&(batch.len() as u16).to_le_bytes());
    out.extend_from_slice(batch);
}
