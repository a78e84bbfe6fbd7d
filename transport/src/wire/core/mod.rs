//! Primitive encodings shared by every message: variable-length integers, byte strings,
//! zenoh ids, timestamps, encodings and the extension framing.
//!
//! Decoding reads from a [`Reader`] over a [`Bytes`] buffer, so payload slices are
//! zero-copy views of the received batch. Encoding appends to a `Vec<u8>`.

use std::fmt;
use std::mem::ManuallyDrop;
use std::num::NonZeroU128;
use std::str::FromStr;

use bytes::Bytes;

/// Why a buffer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The buffer ended before the message did; more bytes may complete it.
    #[error("incomplete input: {0} ended early")]
    Incomplete(&'static str),
    /// The bytes can never form a valid message.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The field or message being decoded.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl DecodeError {
    /// A malformed-input error for `what`.
    pub fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// Result of a decode step.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over an immutable byte buffer.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Current offset from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes consumed since offset `start` (an earlier [`Reader::position`]).
    pub fn since(&self, start: usize) -> &[u8] {
        &self.buf[start.min(self.pos)..self.pos]
    }

    /// Moves back to an earlier offset (used to rewind after a look-ahead).
    pub fn rewind(&mut self, pos: usize) {
        debug_assert!(pos <= self.pos);
        self.pos = pos;
    }

    /// The byte `n` places ahead without consuming anything.
    pub fn peek_at(&self, n: usize) -> Option<u8> {
        self.buf.get(self.pos + n).copied()
    }

    /// Consumes `n` bytes already looked at with [`Reader::peek_at`].
    pub fn skip(&mut self, n: usize) {
        debug_assert!(n <= self.remaining());
        self.pos += n;
    }

    /// The next byte without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> DecodeResult<u8> {
        let b = self.peek_u8().ok_or(DecodeError::Incomplete(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian u16.
    pub fn u16_le(&mut self, what: &'static str) -> DecodeResult<u16> {
        let s = self.slice(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    /// Reads `len` bytes as a zero-copy slice.
    pub fn bytes(&mut self, len: usize, what: &'static str) -> DecodeResult<Bytes> {
        if self.remaining() < len {
            return Err(DecodeError::Incomplete(what));
        }
        let out = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(out)
    }

    /// Everything left, as a zero-copy slice.
    pub fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        out
    }

    fn slice(&mut self, len: usize, what: &'static str) -> DecodeResult<&[u8]> {
        if self.remaining() < len {
            return Err(DecodeError::Incomplete(what));
        }
        let s = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(s)
    }

    /// Reads a zint (LEB128, at most 9 bytes for a u64; the 9th byte carries 8 bits).
    #[inline]
    pub fn zint(&mut self, what: &'static str) -> DecodeResult<u64> {
        // Most zints are one byte (ids, lengths of small payloads).
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(b as u64);
        }
        // With nine bytes at hand (the usual case inside a batch), no byte needs its own
        // bounds check: an HLC time, on every stamped message, takes all nine.
        if let Some(b) = self.buf.get(self.pos..self.pos + 9) {
            let mut value: u64 = 0;
            for (i, &byte) in b[..8].iter().enumerate() {
                value |= ((byte & 0x7f) as u64) << (7 * i);
                if byte & 0x80 == 0 {
                    self.pos += i + 1;
                    return Ok(value);
                }
            }
            self.pos += 9;
            return Ok(value | (b[8] as u64) << 56);
        }
        self.zint_near_end(what)
    }

    /// [`Reader::zint`] when fewer than nine bytes remain.
    fn zint_near_end(&mut self, what: &'static str) -> DecodeResult<u64> {
        let mut value: u64 = 0;
        for i in 0..9 {
            let b = self.u8(what)?;
            if i == 8 {
                value |= (b as u64) << 56;
                return Ok(value);
            }
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::malformed(what, "zint longer than 9 bytes"))
    }

    /// Reads a zint that must fit in 32 bits.
    pub fn z32(&mut self, what: &'static str) -> DecodeResult<u32> {
        let v = self.zint(what)?;
        u32::try_from(v).map_err(|_| DecodeError::malformed(what, format!("{v} exceeds 32 bits")))
    }

    /// Reads a zint that must fit in 16 bits.
    pub fn z16(&mut self, what: &'static str) -> DecodeResult<u16> {
        let v = self.zint(what)?;
        u16::try_from(v).map_err(|_| DecodeError::malformed(what, format!("{v} exceeds 16 bits")))
    }

    /// Reads a zint length that must fit in 32 bits and in the remaining input.
    pub fn len(&mut self, what: &'static str) -> DecodeResult<usize> {
        Ok(self.z32(what)? as usize)
    }

    /// Reads a zint-prefixed byte string.
    pub fn zbytes(&mut self, what: &'static str) -> DecodeResult<Bytes> {
        let len = self.len(what)?;
        self.bytes(len, what)
    }

    /// Reads a zint-prefixed UTF-8 string.
    pub fn zstr(&mut self, what: &'static str) -> DecodeResult<String> {
        let b = self.zbytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::malformed(what, "not valid UTF-8"))
    }
}

/// Number of bytes `v` takes as a zint.
pub fn zint_len(v: u64) -> usize {
    match v {
        0..=0x7f => 1,
        _ if v >= 1 << 56 => 9,
        _ => (64 - v.leading_zeros() as usize).div_ceil(7),
    }
}

/// Appends `v` as a minimal zint.
#[inline]
pub fn write_zint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        write_long_zint(out, v);
    }
}

/// A zint of two bytes or more, assembled on the stack and appended at once (an HLC
/// time, which every stamped message carries, takes nine).
fn write_long_zint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 9];
    let n = put_zint(&mut buf, v);
    out.extend_from_slice(&buf[..n]);
}

/// Writes `v` as a minimal zint at the start of `buf`; returns its length.
#[inline]
fn put_zint(buf: &mut [u8; 9], mut v: u64) -> usize {
    let mut n = 0;
    while n < 8 && v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// Appends a zint-prefixed byte string.
pub fn write_zbytes(out: &mut Vec<u8>, b: &[u8]) {
    write_zint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A zenoh id: a nonzero 128-bit number, shown as lowercase hex without leading zeros.
///
/// Aligned to 8 bytes, not 16: every message holding an id (timestamps, source
/// info) would otherwise be padded to 16-byte alignment, and messages are moved a lot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C, packed(8))]
pub struct ZenohId(NonZeroU128);

impl ZenohId {
    /// The id with this numeric value, if nonzero.
    pub fn new(v: u128) -> Option<Self> {
        NonZeroU128::new(v).map(ZenohId)
    }

    /// A random id (uuid v4 bits).
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::new(uuid::Uuid::new_v4().as_u128()) {
                return id;
            }
        }
    }

    /// The numeric value.
    pub fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// Number of significant little-endian bytes (1..=16).
    pub fn wire_len(self) -> usize {
        16 - (self.0.get().leading_zeros() as usize / 8)
    }

    /// The little-endian bytes with the high zero bytes dropped.
    pub fn wire_bytes(&self) -> ([u8; 16], usize) {
        (self.0.get().to_le_bytes(), self.wire_len())
    }

    /// Parses little-endian wire bytes (1 to 16 of them).
    pub fn from_wire(b: &[u8], what: &'static str) -> DecodeResult<Self> {
        if b.is_empty() || b.len() > 16 {
            return Err(DecodeError::malformed(
                what,
                format!("zid of {} bytes", b.len()),
            ));
        }
        let mut le = [0u8; 16];
        le[..b.len()].copy_from_slice(b);
        Self::new(u128::from_le_bytes(le))
            .ok_or_else(|| DecodeError::malformed(what, "zid is zero"))
    }

    /// Appends the wire bytes without a length.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        let (le, n) = self.wire_bytes();
        out.extend_from_slice(&le[..n]);
    }

    /// Reads a zid whose length travels as a zint prefix (timestamps, link-state).
    pub fn read_zlen(r: &mut Reader, what: &'static str) -> DecodeResult<Self> {
        let len = r.len(what)?;
        Self::from_wire(r.slice(len, what)?, what)
    }

    /// Writes a zid with a zint length prefix.
    pub fn write_zlen(&self, out: &mut Vec<u8>) {
        let (le, n) = self.wire_bytes();
        write_zbytes(out, &le[..n]);
    }
}

impl fmt::Display for ZenohId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0.get())
    }
}

impl fmt::Debug for ZenohId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZenohId({self})")
    }
}

/// A string that is not a valid zenoh id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid zenoh id {0:?}: expected 1 to 32 hex digits, not all zero")]
pub struct ZenohIdParseError(pub String);

impl FromStr for ZenohId {
    type Err = ZenohIdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ZenohIdParseError(s.to_string());
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        u128::from_str_radix(s, 16)
            .ok()
            .and_then(Self::new)
            .ok_or_else(err)
    }
}

/// What kind of process a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WhatAmI {
    /// Routes between other nodes.
    Router,
    /// Talks to peers directly.
    Peer,
    /// Attaches to one router or peer.
    Client,
}

impl WhatAmI {
    /// The 2-bit code used in INIT and JOIN.
    pub fn code(self) -> u8 {
        match self {
            WhatAmI::Router => 0,
            WhatAmI::Peer => 1,
            WhatAmI::Client => 2,
        }
    }

    /// Parses the 2-bit INIT code.
    pub fn from_code(c: u8) -> DecodeResult<Self> {
        match c {
            0 => Ok(WhatAmI::Router),
            1 => Ok(WhatAmI::Peer),
            2 => Ok(WhatAmI::Client),
            _ => Err(DecodeError::malformed(
                "whatami",
                format!("unknown code {c}"),
            )),
        }
    }

    /// The lowercase name (`router`, `peer`, `client`).
    pub fn as_str(self) -> &'static str {
        match self {
            WhatAmI::Router => "router",
            WhatAmI::Peer => "peer",
            WhatAmI::Client => "client",
        }
    }
}

impl fmt::Display for WhatAmI {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WhatAmI {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "router" => Ok(WhatAmI::Router),
            "peer" => Ok(WhatAmI::Peer),
            "client" => Ok(WhatAmI::Client),
            _ => Err(format!(
                "unknown mode {s:?}: expected \"router\", \"peer\" or \"client\""
            )),
        }
    }
}

/// Message priority; lower numbers are served first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Priority {
    /// Reserved for control traffic (declarations, interests).
    Control = 0,
    /// Real-time data.
    RealTime = 1,
    /// High-priority interactive data.
    InteractiveHigh = 2,
    /// Low-priority interactive data.
    InteractiveLow = 3,
    /// High-priority data.
    DataHigh = 4,
    /// The default.
    #[default]
    Data = 5,
    /// Low-priority data.
    DataLow = 6,
    /// Background traffic.
    Background = 7,
}

impl Priority {
    /// Every priority, highest first.
    pub const ALL: [Priority; 8] = [
        Priority::Control,
        Priority::RealTime,
        Priority::InteractiveHigh,
        Priority::InteractiveLow,
        Priority::DataHigh,
        Priority::Data,
        Priority::DataLow,
        Priority::Background,
    ];

    /// The priority with this 3-bit number.
    pub fn from_bits(b: u8) -> Self {
        Self::ALL[(b & 0x07) as usize]
    }
}

/// Reliability of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reliability {
    /// Messages may be lost.
    BestEffort,
    /// Messages are delivered in order without loss while the transport lives.
    #[default]
    Reliable,
}

/// What a full queue does with a new message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CongestionControl {
    /// Drop the message.
    #[default]
    Drop,
    /// Wait for room.
    Block,
}

/// A hybrid-logical-clock timestamp: NTP64 time and the id of the clock that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// NTP64 time: seconds since the UNIX epoch in the high 32 bits, fraction in the low 32.
    pub time: u64,
    /// The clock's id (the node's zid).
    pub id: ZenohId,
}

impl Timestamp {
    /// Decodes `time zint, id <u8;z>`.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        let time = r.zint("timestamp time")?;
        let id = ZenohId::read_zlen(r, "timestamp id")?;
        Ok(Timestamp { time, id })
    }

    /// Encodes `time zint, id <u8;z>` (assembled on the stack, appended at once: every
    /// message a router stamps carries one).
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut time = [0u8; 9];
        let n = put_zint(&mut time, self.time);
        let (id, len) = self.id.wire_bytes();
        let mut buf = [0u8; 9 + 1 + 16];
        buf[..9].copy_from_slice(&time);
        buf[n] = len as u8; // 1..=16: a one-byte zint
        buf[n + 1..n + 17].copy_from_slice(&id);
        out.extend_from_slice(&buf[..n + 1 + len]);
    }
}

/// A payload encoding: a numeric id and an optional schema.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Encoding {
    /// The encoding id (0 = `zenoh/bytes`, the default).
    pub id: u16,
    /// An optional schema suffix, e.g. `utf-8` in `text/plain;utf-8`.
    pub schema: Option<Bytes>,
}

impl Encoding {
    /// True for the default encoding (id 0, no schema), which messages omit.
    pub fn is_default(&self) -> bool {
        self.id == 0 && self.schema.is_none()
    }

    /// Decodes `z32(id << 1 | S) [<u8;z8> schema]`.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        let v = r.z32("encoding")?;
        let id = u16::try_from(v >> 1).map_err(|_| {
            DecodeError::malformed("encoding", format!("id {} exceeds 16 bits", v >> 1))
        })?;
        let schema = if v & 1 != 0 {
            let len = r.zint("encoding schema")?;
            if len > u8::MAX as u64 {
                return Err(DecodeError::malformed(
                    "encoding schema",
                    "longer than 255 bytes",
                ));
            }
            Some(r.bytes(len as usize, "encoding schema")?)
        } else {
            None
        };
        Ok(Encoding { id, schema })
    }

    /// Encodes the encoding.
    pub fn write(&self, out: &mut Vec<u8>) {
        let s = self.schema.is_some() as u64;
        write_zint(out, ((self.id as u64) << 1) | s);
        if let Some(schema) = &self.schema {
            let n = schema.len().min(u8::MAX as usize);
            write_zbytes(out, &schema[..n]);
        }
    }
}

/// Flag bits shared by all headers.
pub mod flag {
    /// Bit 5.
    pub const A: u8 = 1 << 5;
    /// Bit 6.
    pub const B: u8 = 1 << 6;
    /// Bit 7: an extension list follows.
    pub const Z: u8 = 1 << 7;
    /// Mask of the message id.
    pub const ID: u8 = 0x1f;
}

mod exts;

pub use exts::{Ext, ExtBody, ExtIter, ExtWriter, UnknownExts, ext};

#[cfg(test)]
mod tests;
