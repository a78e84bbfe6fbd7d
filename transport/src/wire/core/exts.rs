//! The extension framing: extension keys and bodies, unknown extensions kept byte for
//! byte, and the reader and writer of extension lists.

use super::*;

/// Extension encodings (bits 5-6 of an extension header).
pub mod ext {
    /// The extension has no body.
    pub const UNIT: u8 = 0b00 << 5;
    /// The body is one zint.
    pub const Z64: u8 = 0b01 << 5;
    /// The body is a zint length and bytes.
    pub const ZBUF: u8 = 0b10 << 5;
    /// Mask of the encoding bits.
    pub const ENC_MASK: u8 = 0b11 << 5;
    /// The receiver must understand this extension.
    pub const MANDATORY: u8 = 1 << 4;
    /// Another extension follows.
    pub const MORE: u8 = 1 << 7;
    /// Mask of the low 7 bits that identify an extension (encoding, mandatory, id).
    pub const KEY: u8 = 0x7f;
}

/// The body of one extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtBody {
    /// No body.
    Unit,
    /// One integer.
    Z64(u64),
    /// A byte string.
    ZBuf(Bytes),
}

/// One decoded extension: its key (low 7 header bits) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ext {
    /// Encoding, mandatory bit and id, as in the header with bit 7 cleared.
    pub key: u8,
    /// The body.
    pub body: ExtBody,
}

impl Ext {
    /// True when the receiver must understand this extension.
    pub fn is_mandatory(&self) -> bool {
        self.key & ext::MANDATORY != 0
    }

    /// The z64 value, or a malformed error naming `what`.
    pub fn z64(&self, what: &'static str) -> DecodeResult<u64> {
        match self.body {
            ExtBody::Z64(v) => Ok(v),
            _ => Err(DecodeError::malformed(what, "extension is not a z64")),
        }
    }

    /// The zbuf body, or a malformed error naming `what`.
    pub fn zbuf(&self, what: &'static str) -> DecodeResult<&Bytes> {
        match &self.body {
            ExtBody::ZBuf(b) => Ok(b),
            _ => Err(DecodeError::malformed(what, "extension is not a zbuf")),
        }
    }

    /// The error for an extension the decoder does not know: fatal only if mandatory.
    pub fn unknown(&self, msg: &'static str) -> DecodeResult<()> {
        if self.is_mandatory() {
            Err(unknown_mandatory(self.key, msg))
        } else {
            Ok(())
        }
    }
}

/// The error for an unknown mandatory extension `key` on message `msg`, naming it.
#[cold]
fn unknown_mandatory(key: u8, msg: &'static str) -> DecodeError {
    let enc = match key & ext::ENC_MASK {
        ext::UNIT => "unit",
        ext::Z64 => "z64",
        _ => "zbuf",
    };
    DecodeError::malformed(
        msg,
        format!(
            "unknown mandatory extension 0x{key:02x} (id {}, {enc}): refused",
            key & 0x0f
        ),
    )
}

/// Extensions a decoder does not model, kept as their wire bytes so that a router
/// forwards them unchanged.
///
/// The decoders of the messages a router forwards (PUSH, REQUEST, RESPONSE and the
/// zenoh bodies they carry) keep every optional extension they do not know here, in
/// the order received; an unknown mandatory one fails the decode instead. Writers emit
/// them after the extensions they know, byte for byte (only a header's "more" bit is
/// set as its new position needs).
///
/// Empty is the usual case and costs nothing: no allocation, a null pointer, and a drop
/// that is one inlined null check (the freeing code stays out of line, so that dropping
/// a message holding this stays as small as before).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UnknownExts(ManuallyDrop<Option<Box<RawExts>>>);

impl Drop for UnknownExts {
    #[inline]
    fn drop(&mut self) {
        if self.0.is_some() {
            free_raw(&mut self.0);
        }
    }
}

#[cold]
#[inline(never)]
fn free_raw(slot: &mut Option<Box<RawExts>>) {
    drop(slot.take());
}

#[derive(Clone, PartialEq, Eq)]
struct RawExts {
    /// Extensions back to back; every header but the last has MORE set.
    bytes: Vec<u8>,
    /// Offset of the last header in `bytes`.
    last: usize,
}

impl UnknownExts {
    /// No extensions.
    pub const fn new() -> Self {
        UnknownExts(ManuallyDrop::new(None))
    }

    /// True when there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The extensions as one wire-format list (the last header without MORE); empty if none.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |r| &r.bytes)
    }

    /// Keeps an extension the caller did not know, given as decoded (`e`) and as read
    /// (`raw`, header included): an error naming it if it is mandatory.
    #[cold]
    #[inline(never)]
    pub fn keep(&mut self, e: &Ext, raw: &[u8], msg: &'static str) -> DecodeResult<()> {
        if e.is_mandatory() {
            return Err(unknown_mandatory(e.key, msg));
        }
        self.push_raw(raw);
        Ok(())
    }

    /// Appends one extension's wire form (its header, whatever its MORE bit, then its body).
    fn push_raw(&mut self, raw: &[u8]) {
        let Some((&h, body)) = raw.split_first() else {
            return;
        };
        let r = self.0.get_or_insert_with(|| {
            Box::new(RawExts {
                bytes: Vec::with_capacity(raw.len()),
                last: 0,
            })
        });
        if !r.bytes.is_empty() {
            r.bytes[r.last] |= ext::MORE;
        }
        r.last = r.bytes.len();
        r.bytes.push(h & !ext::MORE);
        r.bytes.extend_from_slice(body);
    }

    /// Appends an extension (e.g. one a router adds). Any key may be used: only a
    /// decoder restricts what lands here.
    pub fn push(&mut self, e: &Ext) {
        let mut raw = Vec::new();
        e.write(&mut raw);
        self.push_raw(&raw);
    }

    /// The extensions, decoded, in order.
    pub fn iter(&self) -> impl Iterator<Item = Ext> + '_ {
        let mut r = Reader::new(Bytes::copy_from_slice(self.as_bytes()));
        let mut it = ExtIter::new(!self.is_empty());
        // The bytes were written by `push_raw` from complete extensions, so they decode.
        std::iter::from_fn(move || it.next(&mut r, "unknown extensions").ok().flatten())
    }

    /// The first extension with this key (low 7 header bits), if any.
    pub fn get(&self, key: u8) -> Option<Ext> {
        self.iter().find(|e| e.key == key & ext::KEY)
    }

    /// Replaces the first extension with `e`'s key by `e`, or appends `e`; the others
    /// keep their bytes and order.
    pub fn replace(&mut self, e: &Ext) {
        let mut out = UnknownExts::new();
        let mut done = false;
        for old in self.iter() {
            if !done && old.key == e.key & ext::KEY {
                out.push(e);
                done = true;
            } else {
                out.push(&old);
            }
        }
        if !done {
            out.push(e);
        }
        *self = out;
    }

    /// Parses a wire-format extension list (as if after a message's Z flag), keeping
    /// every extension, mandatory or not.
    pub fn from_wire(bytes: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(Bytes::copy_from_slice(bytes));
        let mut it = ExtIter::new(!bytes.is_empty());
        let mut out = UnknownExts::new();
        loop {
            let at = r.position();
            if it.next(&mut r, "extension list")?.is_none() {
                break;
            }
            out.push_raw(r.since(at));
        }
        if !r.is_empty() {
            return Err(DecodeError::malformed(
                "extension list",
                format!("{} bytes after the last extension", r.remaining()),
            ));
        }
        Ok(out)
    }
}

impl fmt::Debug for UnknownExts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Ext {
    /// Writes this extension alone (header without MORE, then its body); the header's
    /// encoding bits are those of the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut w = ExtWriter::new();
        let key = self.key & !ext::ENC_MASK;
        match &self.body {
            ExtBody::Unit => w.unit(out, key | ext::UNIT),
            ExtBody::Z64(v) => w.z64(out, key | ext::Z64, *v),
            ExtBody::ZBuf(b) => w.zbuf(out, key | ext::ZBUF, b),
        }
    }
}

/// Iterates over an extension list whose presence was announced by a message's Z flag.
#[derive(Debug)]
pub struct ExtIter {
    more: bool,
}

impl ExtIter {
    /// An iterator that yields extensions if `has_exts` (the message's Z flag).
    pub fn new(has_exts: bool) -> Self {
        ExtIter { more: has_exts }
    }

    /// The next extension, or `None` at the end of the list.
    pub fn next(&mut self, r: &mut Reader, what: &'static str) -> DecodeResult<Option<Ext>> {
        if !self.more {
            return Ok(None);
        }
        let h = r.u8(what)?;
        self.more = h & ext::MORE != 0;
        let key = h & ext::KEY;
        let body = match h & ext::ENC_MASK {
            ext::UNIT => ExtBody::Unit,
            ext::Z64 => ExtBody::Z64(r.zint(what)?),
            ext::ZBUF => ExtBody::ZBuf(r.zbytes(what)?),
            _ => {
                return Err(DecodeError::malformed(
                    what,
                    format!("extension 0x{key:02x} has the reserved encoding"),
                ));
            }
        };
        Ok(Some(Ext { key, body }))
    }
}

/// Writes extension headers, setting the "more" bit on all but the last.
///
/// Call [`ExtWriter::unit`], [`ExtWriter::z64`] or [`ExtWriter::zbuf`] in order; the
/// writer patches the previous header's MORE bit when another extension follows.
#[derive(Debug, Default)]
pub struct ExtWriter {
    last_header: Option<usize>,
}

impl ExtWriter {
    /// A writer with no extension written yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn header(&mut self, out: &mut Vec<u8>, key: u8) {
        if let Some(i) = self.last_header {
            out[i] |= ext::MORE;
        }
        self.last_header = Some(out.len());
        out.push(key & ext::KEY);
    }

    /// True once an extension was written.
    pub fn wrote_any(&self) -> bool {
        self.last_header.is_some()
    }

    /// Writes a unit extension with key `key` (encoding bits included).
    pub fn unit(&mut self, out: &mut Vec<u8>, key: u8) {
        self.header(out, key);
    }

    /// Writes a z64 extension.
    pub fn z64(&mut self, out: &mut Vec<u8>, key: u8, v: u64) {
        self.header(out, key);
        write_zint(out, v);
    }

    /// Writes a zbuf extension.
    pub fn zbuf(&mut self, out: &mut Vec<u8>, key: u8, b: &[u8]) {
        self.header(out, key);
        write_zbytes(out, b);
    }

    /// Writes extensions kept from a decode (see [`UnknownExts`]); nothing if empty.
    #[inline]
    pub fn unknown(&mut self, out: &mut Vec<u8>, exts: &UnknownExts) {
        if let Some(r) = &*exts.0 {
            self.raw(out, r);
        }
    }

    #[cold]
    #[inline(never)]
    fn raw(&mut self, out: &mut Vec<u8>, r: &RawExts) {
        if let Some(i) = self.last_header {
            out[i] |= ext::MORE;
        }
        self.last_header = Some(out.len() + r.last);
        out.extend_from_slice(&r.bytes);
    }

    /// Writes a zbuf extension whose body is produced by `f`.
    pub fn zbuf_with(&mut self, out: &mut Vec<u8>, key: u8, f: impl FnOnce(&mut Vec<u8>)) {
        let mut body = Vec::new();
        f(&mut body);
        self.zbuf(out, key, &body);
    }
}
