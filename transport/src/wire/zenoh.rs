//! Zenoh message bodies carried inside network messages: PUT and DEL (in PUSH and
//! REPLY), QUERY (in REQUEST), REPLY and ERR (in RESPONSE).
//!
//! Each body starts with its own header byte (id 0x01..=0x05). Readers take the header
//! already consumed by the caller; writers emit it. Optional extensions a reader does not
//! know are kept in the body's `unknown_exts` and written back after the known ones, as
//! Zenoh does with its `ext_unknown`.

use bytes::Bytes;

use super::core::{
    DecodeError, DecodeResult, Encoding, ExtIter, ExtWriter, Reader, Timestamp, UnknownExts,
    ZenohId, ext, flag, write_zbytes, write_zint,
};

/// Message ids of zenoh bodies.
pub mod id {
    /// PUT: a value for a key.
    pub const PUT: u8 = 0x01;
    /// DEL: a deletion of a key.
    pub const DEL: u8 = 0x02;
    /// QUERY: the body of a REQUEST.
    pub const QUERY: u8 = 0x03;
    /// REPLY: a successful answer to a query.
    pub const REPLY: u8 = 0x04;
    /// ERR: an error answer to a query.
    pub const ERR: u8 = 0x05;
}

/// Extension keys (low 7 header bits) used by zenoh bodies.
mod key {
    use super::ext;
    pub const SOURCE_INFO: u8 = ext::ZBUF | 0x01;
    pub const SHM: u8 = ext::UNIT | ext::MANDATORY | 0x02;
    pub const PUT_ATTACHMENT: u8 = ext::ZBUF | 0x03;
    pub const DEL_ATTACHMENT: u8 = ext::ZBUF | 0x02;
    pub const QUERY_BODY: u8 = ext::ZBUF | 0x03;
    pub const QUERY_ATTACHMENT: u8 = ext::ZBUF | 0x05;
}

/// Flag bit 5 (T on PUT/DEL, C on QUERY/REPLY).
const F5: u8 = flag::A;
/// Flag bit 6 (E on PUT/ERR, P on QUERY).
const F6: u8 = flag::B;

/// Fails unless `sub` was read to its end (the content of a zbuf extension).
pub(crate) fn expect_end(sub: &Reader, what: &'static str) -> DecodeResult<()> {
    if sub.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::malformed(
            what,
            format!("{} trailing bytes in extension", sub.remaining()),
        ))
    }
}

/// Reads a zid whose length travels in a flags byte as `(len - 1) << 4`.
pub(crate) fn read_flagged_zid(r: &mut Reader, what: &'static str) -> DecodeResult<ZenohId> {
    let flags = r.u8(what)?;
    let len = 1 + (flags >> 4) as usize;
    let raw = r.bytes(len, what)?;
    ZenohId::from_wire(&raw, what)
}

/// Writes a zid preceded by a flags byte carrying `(len - 1) << 4`.
pub(crate) fn write_flagged_zid(out: &mut Vec<u8>, zid: &ZenohId) {
    out.push(((zid.wire_len() - 1) as u8) << 4);
    zid.write_raw(out);
}

/// The error for a shared-memory extension, which Plexus does not implement.
fn shm_unsupported(what: &'static str) -> DecodeError {
    DecodeError::malformed(
        what,
        "shared memory not supported (the sender used a Zenoh SHM buffer)",
    )
}

/// Reads a zint-prefixed payload whose length must fit in 32 bits.
fn read_payload(r: &mut Reader, what: &'static str) -> DecodeResult<Bytes> {
    r.zbytes(what)
}

/// Who produced a value: the source entity and its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// The zid of the source node.
    pub zid: ZenohId,
    /// The entity id within that node.
    pub eid: u32,
    /// The source's sequence number for this value.
    pub sn: u32,
}

impl SourceInfo {
    fn read_ext(body: &Bytes) -> DecodeResult<Self> {
        const WHAT: &str = "source info";
        let mut sub = Reader::new(body.clone());
        let zid = read_flagged_zid(&mut sub, WHAT)?;
        let eid = sub.z32(WHAT)?;
        let sn = sub.z32(WHAT)?;
        expect_end(&sub, WHAT)?;
        Ok(SourceInfo { zid, eid, sn })
    }

    fn write_ext(&self, w: &mut ExtWriter, out: &mut Vec<u8>) {
        w.zbuf_with(out, key::SOURCE_INFO, |b| {
            write_flagged_zid(b, &self.zid);
            write_zint(b, self.eid as u64);
            write_zint(b, self.sn as u64);
        });
    }
}

/// How a querier wants replies for the same key consolidated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Consolidation {
    /// Let the querier's library decide.
    #[default]
    Auto,
    /// No consolidation: every reply is delivered.
    None,
    /// Deliver replies only in increasing timestamp order.
    Monotonic,
    /// Deliver only the latest reply for each key.
    Latest,
}

impl Consolidation {
    /// The wire code (0 Auto, 1 None, 2 Monotonic, 3 Latest).
    pub fn code(self) -> u8 {
        match self {
            Consolidation::Auto => 0,
            Consolidation::None => 1,
            Consolidation::Monotonic => 2,
            Consolidation::Latest => 3,
        }
    }

    fn read(r: &mut Reader) -> DecodeResult<Self> {
        match r.zint("consolidation")? {
            0 => Ok(Consolidation::Auto),
            1 => Ok(Consolidation::None),
            2 => Ok(Consolidation::Monotonic),
            3 => Ok(Consolidation::Latest),
            v => Err(DecodeError::malformed(
                "consolidation",
                format!("unknown mode {v}"),
            )),
        }
    }
}

/// A value published for a key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Put {
    /// The HLC timestamp, if the publisher stamped the value (inline, T flag).
    pub timestamp: Option<Timestamp>,
    /// The payload encoding (omitted on the wire when default).
    pub encoding: Encoding,
    /// The source of the value, if given.
    pub source_info: Option<SourceInfo>,
    /// Opaque user bytes sent along with the value.
    pub attachment: Option<Bytes>,
    /// Optional extensions not modelled here, kept as received.
    pub unknown_exts: UnknownExts,
    /// The value itself.
    pub payload: Bytes,
}

impl Put {
    /// Decodes a PUT whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let mut put = Put::default();
        put.read_into(r, header)?;
        Ok(put)
    }

    /// Decodes into `self` a PUT whose header byte was already read, replacing every
    /// field (after an error, `self` holds a mix of old and new). The hot path decodes
    /// a batch's PUTs into one place: built and returned, each 160-byte `Put` was copied
    /// out of its `Result` and again into its PUSH.
    #[inline]
    pub fn read_into(&mut self, r: &mut Reader, header: u8) -> DecodeResult<()> {
        const WHAT: &str = "PUT";
        check_id(header, id::PUT, WHAT)?;
        self.timestamp = if header & F5 != 0 {
            Some(Timestamp::read(r)?)
        } else {
            None
        };
        self.encoding = if header & F6 != 0 {
            Encoding::read(r)?
        } else {
            Encoding::default()
        };
        self.source_info = None;
        self.attachment = None;
        self.unknown_exts = UnknownExts::new();
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            match e.key {
                key::SOURCE_INFO => {
                    self.source_info = Some(SourceInfo::read_ext(e.zbuf(WHAT)?)?);
                }
                key::SHM => return Err(shm_unsupported(WHAT)),
                key::PUT_ATTACHMENT => self.attachment = Some(e.zbuf(WHAT)?.clone()),
                _ => self.unknown_exts.keep(&e, r.since(at), WHAT)?,
            }
        }
        self.payload = read_payload(r, "PUT payload")?;
        Ok(())
    }

    /// Encodes the PUT, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let payload = self.write_head(out);
        out.extend_from_slice(payload);
    }

    /// Encodes the PUT up to its payload's bytes (the length included), and returns
    /// those bytes: the caller appends them, or writes them from where they are
    /// (fragments).
    pub fn write_head(&self, out: &mut Vec<u8>) -> &Bytes {
        let mut header = id::PUT;
        if self.timestamp.is_some() {
            header |= F5;
        }
        if !self.encoding.is_default() {
            header |= F6;
        }
        // The Z flag is set once the extensions are written, if any was.
        let at = out.len();
        out.push(header);
        if let Some(ts) = &self.timestamp {
            ts.write(out);
        }
        if !self.encoding.is_default() {
            self.encoding.write(out);
        }
        let mut w = ExtWriter::new();
        if let Some(si) = &self.source_info {
            si.write_ext(&mut w, out);
        }
        if let Some(a) = &self.attachment {
            w.zbuf(out, key::PUT_ATTACHMENT, a);
        }
        w.unknown(out, &self.unknown_exts);
        if w.wrote_any() {
            out[at] |= flag::Z;
        }
        write_zint(out, self.payload.len() as u64);
        &self.payload
    }
}

/// No bytes: what `write_head` returns for a message without a payload.
pub(crate) static NO_BYTES: Bytes = Bytes::new();

/// A deletion of a key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Del {
    /// The HLC timestamp, if stamped (inline, T flag).
    pub timestamp: Option<Timestamp>,
    /// The source of the deletion, if given.
    pub source_info: Option<SourceInfo>,
    /// Opaque user bytes sent along with the deletion.
    pub attachment: Option<Bytes>,
    /// Optional extensions not modelled here, kept as received.
    pub unknown_exts: UnknownExts,
}

impl Del {
    /// Decodes a DEL whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "DEL";
        check_id(header, id::DEL, WHAT)?;
        let timestamp = if header & F5 != 0 {
            Some(Timestamp::read(r)?)
        } else {
            None
        };
        let mut source_info = None;
        let mut attachment = None;
        let mut unknown_exts = UnknownExts::new();
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            match e.key {
                key::SOURCE_INFO => source_info = Some(SourceInfo::read_ext(e.zbuf(WHAT)?)?),
                key::DEL_ATTACHMENT => attachment = Some(e.zbuf(WHAT)?.clone()),
                _ => unknown_exts.keep(&e, r.since(at), WHAT)?,
            }
        }
        Ok(Del {
            timestamp,
            source_info,
            attachment,
            unknown_exts,
        })
    }

    /// Encodes the DEL, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut header = id::DEL;
        if self.timestamp.is_some() {
            header |= F5;
        }
        if self.source_info.is_some() || self.attachment.is_some() || !self.unknown_exts.is_empty()
        {
            header |= flag::Z;
        }
        out.push(header);
        if let Some(ts) = &self.timestamp {
            ts.write(out);
        }
        let mut w = ExtWriter::new();
        if let Some(si) = &self.source_info {
            si.write_ext(&mut w, out);
        }
        if let Some(a) = &self.attachment {
            w.zbuf(out, key::DEL_ATTACHMENT, a);
        }
        w.unknown(out, &self.unknown_exts);
    }
}

/// The body of a PUSH, or of a successful REPLY: a PUT or a DEL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushBody {
    /// A value.
    Put(Put),
    /// A deletion.
    Del(Del),
}

impl Default for PushBody {
    /// An empty PUT.
    fn default() -> Self {
        PushBody::Put(Put::default())
    }
}

impl PushBody {
    /// Decodes a PUT or DEL, header included.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        let mut body = PushBody::default();
        body.read_into(r)?;
        Ok(body)
    }

    /// Decodes a PUT or DEL, header included, into `self`: a PUT into a PUT in place
    /// (see [`Put::read_into`]).
    #[inline]
    pub fn read_into(&mut self, r: &mut Reader) -> DecodeResult<()> {
        let header = r.u8("push body")?;
        match header & flag::ID {
            id::PUT => match self {
                PushBody::Put(p) => p.read_into(r, header),
                PushBody::Del(_) => {
                    *self = PushBody::Put(Put::read(r, header)?);
                    Ok(())
                }
            },
            id::DEL => {
                *self = PushBody::Del(Del::read(r, header)?);
                Ok(())
            }
            other => Err(DecodeError::malformed(
                "push body",
                format!("expected PUT or DEL, found id 0x{other:02x}"),
            )),
        }
    }

    /// Encodes the body, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let payload = self.write_head(out);
        out.extend_from_slice(payload);
    }

    /// Encodes the body up to a PUT's payload bytes and returns them (see
    /// [`Put::write_head`]); a DEL is written whole.
    pub fn write_head(&self, out: &mut Vec<u8>) -> &Bytes {
        match self {
            PushBody::Put(p) => p.write_head(out),
            PushBody::Del(d) => {
                d.write(out);
                &NO_BYTES
            }
        }
    }
}

/// A value sent along with a query.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryBody {
    /// The payload encoding (always written inside the extension).
    pub encoding: Encoding,
    /// The payload.
    pub payload: Bytes,
}

/// The body of a REQUEST: a query on the request's key expression.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Query {
    /// The consolidation the querier asks for, if stated (C flag).
    pub consolidation: Option<Consolidation>,
    /// The selector parameters (the part after `?`), empty if none.
    pub parameters: String,
    /// The source of the query, if given.
    pub source_info: Option<SourceInfo>,
    /// A value sent with the query, if any.
    pub body: Option<QueryBody>,
    /// Opaque user bytes sent along with the query.
    pub attachment: Option<Bytes>,
    /// Optional extensions not modelled here, kept as received.
    pub unknown_exts: UnknownExts,
}

impl Query {
    /// Decodes a QUERY whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "QUERY";
        check_id(header, id::QUERY, WHAT)?;
        let consolidation = if header & F5 != 0 {
            Some(Consolidation::read(r)?)
        } else {
            None
        };
        let parameters = if header & F6 != 0 {
            r.zstr("query parameters")?
        } else {
            String::new()
        };
        let mut source_info = None;
        let mut body = None;
        let mut attachment = None;
        let mut unknown_exts = UnknownExts::new();
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            match e.key {
                key::SOURCE_INFO => source_info = Some(SourceInfo::read_ext(e.zbuf(WHAT)?)?),
                key::SHM => return Err(shm_unsupported(WHAT)),
                key::QUERY_BODY => {
                    let mut sub = Reader::new(e.zbuf(WHAT)?.clone());
                    let encoding = Encoding::read(&mut sub)?;
                    let payload = sub.rest();
                    body = Some(QueryBody { encoding, payload });
                }
                key::QUERY_ATTACHMENT => attachment = Some(e.zbuf(WHAT)?.clone()),
                _ => unknown_exts.keep(&e, r.since(at), WHAT)?,
            }
        }
        Ok(Query {
            consolidation,
            parameters,
            source_info,
            body,
            attachment,
            unknown_exts,
        })
    }

    /// Encodes the QUERY, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut header = id::QUERY;
        if self.consolidation.is_some() {
            header |= F5;
        }
        if !self.parameters.is_empty() {
            header |= F6;
        }
        if self.source_info.is_some()
            || self.body.is_some()
            || self.attachment.is_some()
            || !self.unknown_exts.is_empty()
        {
            header |= flag::Z;
        }
        out.push(header);
        if let Some(c) = self.consolidation {
            write_zint(out, c.code() as u64);
        }
        if !self.parameters.is_empty() {
            write_zbytes(out, self.parameters.as_bytes());
        }
        let mut w = ExtWriter::new();
        if let Some(si) = &self.source_info {
            si.write_ext(&mut w, out);
        }
        if let Some(b) = &self.body {
            w.zbuf_with(out, key::QUERY_BODY, |buf| {
                b.encoding.write(buf);
                buf.extend_from_slice(&b.payload);
            });
        }
        if let Some(a) = &self.attachment {
            w.zbuf(out, key::QUERY_ATTACHMENT, a);
        }
        w.unknown(out, &self.unknown_exts);
    }
}

/// A successful answer to a query: a PUT or DEL on the replied key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Consolidation mode, if stated (C flag, legacy).
    pub consolidation: Option<Consolidation>,
    /// Optional extensions (REPLY defines none), kept as received.
    pub unknown_exts: UnknownExts,
    /// The answered value or deletion.
    pub body: PushBody,
}

impl Reply {
    /// Decodes a REPLY whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "REPLY";
        check_id(header, id::REPLY, WHAT)?;
        let consolidation = if header & F5 != 0 {
            Some(Consolidation::read(r)?)
        } else {
            None
        };
        let mut unknown_exts = UnknownExts::new();
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            unknown_exts.keep(&e, r.since(at), WHAT)?;
        }
        let body = PushBody::read(r)?;
        Ok(Reply {
            consolidation,
            unknown_exts,
            body,
        })
    }

    /// Encodes the REPLY, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut header = id::REPLY;
        if self.consolidation.is_some() {
            header |= F5;
        }
        if !self.unknown_exts.is_empty() {
            header |= flag::Z;
        }
        out.push(header);
        if let Some(c) = self.consolidation {
            write_zint(out, c.code() as u64);
        }
        ExtWriter::new().unknown(out, &self.unknown_exts);
        self.body.write(out);
    }
}

/// An error answer to a query.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Err {
    /// The payload encoding (omitted on the wire when default).
    pub encoding: Encoding,
    /// The source of the error, if given.
    pub source_info: Option<SourceInfo>,
    /// Optional extensions not modelled here, kept as received.
    pub unknown_exts: UnknownExts,
    /// The error value.
    pub payload: Bytes,
}

impl Err {
    /// Decodes an ERR whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "ERR";
        check_id(header, id::ERR, WHAT)?;
        let encoding = if header & F6 != 0 {
            Encoding::read(r)?
        } else {
            Encoding::default()
        };
        let mut source_info = None;
        let mut unknown_exts = UnknownExts::new();
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            match e.key {
                key::SOURCE_INFO => source_info = Some(SourceInfo::read_ext(e.zbuf(WHAT)?)?),
                key::SHM => return Result::Err(shm_unsupported(WHAT)),
                _ => unknown_exts.keep(&e, r.since(at), WHAT)?,
            }
        }
        let payload = read_payload(r, "ERR payload")?;
        Ok(Err {
            encoding,
            source_info,
            unknown_exts,
            payload,
        })
    }

    /// Encodes the ERR, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut header = id::ERR;
        if !self.encoding.is_default() {
            header |= F6;
        }
        if self.source_info.is_some() || !self.unknown_exts.is_empty() {
            header |= flag::Z;
        }
        out.push(header);
        if !self.encoding.is_default() {
            self.encoding.write(out);
        }
        let mut w = ExtWriter::new();
        if let Some(si) = &self.source_info {
            si.write_ext(&mut w, out);
        }
        w.unknown(out, &self.unknown_exts);
        write_zbytes(out, &self.payload);
    }
}

/// Fails unless `header` carries message id `expected`.
fn check_id(header: u8, expected: u8, what: &'static str) -> DecodeResult<()> {
    if header & flag::ID == expected {
        Ok(())
    } else {
        Result::Err(DecodeError::malformed(
            what,
            format!(
                "header 0x{header:02x} has id 0x{:02x}, expected 0x{expected:02x}",
                header & flag::ID
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zid(v: u128) -> ZenohId {
        ZenohId::new(v).expect("nonzero")
    }

    #[test]
    fn put_layout_with_every_field() {
        let put = Put {
            timestamp: Some(Timestamp {
                time: 2,
                id: zid(0xa1b2),
            }),
            encoding: Encoding {
                id: 4,
                schema: Some(Bytes::from_static(b"x")),
            },
            source_info: Some(SourceInfo {
                zid: zid(0xa1b2),
                eid: 3,
                sn: 200,
            }),
            attachment: Some(Bytes::from_static(b"at")),
            payload: Bytes::from_static(b"hi"),
            unknown_exts: Default::default(),
        };
        let mut out = Vec::new();
        put.write(&mut out);
        let expected = [
            0xe1, // PUT | T | E | Z
            0x02, 0x02, 0xb2, 0xa1, // timestamp: time 2, id <u8;z> b2 a1
            0x09, 0x01, b'x', // encoding 4 with schema "x"
            0xc1, 0x06, 0x10, 0xb2, 0xa1, 0x03, 0xc8, 0x01, // SourceInfo (more follows)
            0x43, 0x02, b'a', b't', // Attachment
            0x02, b'h', b'i', // payload
        ];
        assert_eq!(out, expected);
        let mut r = Reader::new(Bytes::from(out));
        let h = r.u8("h").unwrap();
        assert_eq!(Put::read(&mut r, h).unwrap(), put);
        assert!(r.is_empty());
    }

    #[test]
    fn del_attachment_uses_id_2() {
        let del = Del {
            timestamp: None,
            source_info: None,
            attachment: Some(Bytes::from_static(b"a")),
            unknown_exts: Default::default(),
        };
        let mut out = Vec::new();
        del.write(&mut out);
        assert_eq!(out, [0x82, 0x42, 0x01, b'a']);
        let mut r = Reader::new(Bytes::from(out));
        let h = r.u8("h").unwrap();
        assert_eq!(Del::read(&mut r, h).unwrap(), del);
    }

    #[test]
    fn err_and_query_bodies() {
        let err = Err {
            encoding: Encoding {
                id: 1,
                schema: None,
            },
            source_info: None,
            payload: Bytes::from_static(b"no"),
            unknown_exts: Default::default(),
        };
        let mut out = Vec::new();
        err.write(&mut out);
        assert_eq!(out, [0x45, 0x02, 0x02, b'n', b'o']);

        let q = Query {
            consolidation: None,
            parameters: String::new(),
            source_info: None,
            body: Some(QueryBody {
                encoding: Encoding::default(),
                payload: Bytes::new(),
            }),
            attachment: Some(Bytes::from_static(b"z")),
            unknown_exts: Default::default(),
        };
        let mut out = Vec::new();
        q.write(&mut out);
        assert_eq!(out, [0x83, 0xc3, 0x01, 0x00, 0x45, 0x01, b'z']);
        let mut r = Reader::new(Bytes::from(out));
        let h = r.u8("h").unwrap();
        assert_eq!(Query::read(&mut r, h).unwrap(), q);
    }

    #[test]
    fn shm_on_err_is_refused() {
        let mut r = Reader::new(Bytes::from_static(&[0x12, 0x00]));
        let e = Err::read(&mut r, 0x85).unwrap_err();
        assert!(e.to_string().contains("shared memory not supported"), "{e}");
    }
}
