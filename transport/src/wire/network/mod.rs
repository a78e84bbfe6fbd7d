//! Network messages: the routed layer between transport frames and zenoh bodies.
//!
//! A FRAME carries network messages back to back with no length; each starts with a
//! header whose id is in 0x19..=0x1f (see [`is_network_header`]). Extensions are written
//! in Zenoh's order and omitted when equal to their defaults, so decoding a message Zenoh
//! wrote and encoding it again reproduces the same bytes.
//!
//! Extensions Plexus does not model: an unknown mandatory one fails the decode with an
//! error naming it. Unknown optional ones are kept, byte for byte, in `unknown_exts` by
//! the messages a router forwards (PUSH, REQUEST, RESPONSE, and their zenoh bodies) and
//! written back after the known ones, so a router passes them on (Zenoh 1.10's
//! timestamp stack among them, see [`timestamp_stack`]). The messages a router consumes
//! and regenerates (DECLARE, INTEREST, RESPONSE_FINAL, OAM, declarations) skip them.

use bytes::Bytes;

use super::core::{
    CongestionControl, DecodeError, DecodeResult, Ext, ExtIter, ExtWriter, Priority, Reader,
    Timestamp, UnknownExts, ZenohId, ext, flag, write_zbytes, write_zint,
};
use super::zenoh::{self, Query, expect_end, read_flagged_zid, write_flagged_zid};

pub use super::zenoh::PushBody;

mod declare;
mod interest;
mod oam;
mod push;
mod request;
mod response;
pub mod timestamp_stack;

pub use declare::{Declare, DeclareBody};
pub use interest::{Interest, InterestMode, InterestOptions};
pub use oam::{NetworkOam, OamBody};
pub use push::Push;
pub use request::{QueryTarget, Request};
pub use response::{ResponderId, Response, ResponseBody, ResponseFinal};

/// Message ids of network messages.
pub mod id {
    /// INTEREST: asks for declarations.
    pub const INTEREST: u8 = 0x19;
    /// RESPONSE_FINAL: no more responses to a request.
    pub const RESPONSE_FINAL: u8 = 0x1a;
    /// RESPONSE: one answer to a request.
    pub const RESPONSE: u8 = 0x1b;
    /// REQUEST: a query.
    pub const REQUEST: u8 = 0x1c;
    /// PUSH: a publication.
    pub const PUSH: u8 = 0x1d;
    /// DECLARE: one declaration.
    pub const DECLARE: u8 = 0x1e;
    /// OAM: operations and management (link-state among peers).
    pub const OAM: u8 = 0x1f;
}

/// Declaration ids (the body of a DECLARE).
pub mod decl_id {
    /// Declares a key-expression id.
    pub const D_KEYEXPR: u8 = 0x00;
    /// Undeclares a key-expression id.
    pub const U_KEYEXPR: u8 = 0x01;
    /// Declares a subscriber.
    pub const D_SUBSCRIBER: u8 = 0x02;
    /// Undeclares a subscriber.
    pub const U_SUBSCRIBER: u8 = 0x03;
    /// Declares a queryable.
    pub const D_QUERYABLE: u8 = 0x04;
    /// Undeclares a queryable.
    pub const U_QUERYABLE: u8 = 0x05;
    /// Declares a liveliness token.
    pub const D_TOKEN: u8 = 0x06;
    /// Undeclares a liveliness token.
    pub const U_TOKEN: u8 = 0x07;
    /// Ends the declarations answering an interest.
    pub const D_FINAL: u8 = 0x1a;
}

/// Extension keys (low 7 header bits) used by network messages.
mod key {
    use super::ext;
    pub const QOS: u8 = ext::Z64 | 0x01;
    pub const TIMESTAMP: u8 = ext::ZBUF | 0x02;
    pub const NODE_ID: u8 = ext::Z64 | ext::MANDATORY | 0x03;
    pub const TARGET: u8 = ext::Z64 | ext::MANDATORY | 0x04;
    pub const BUDGET: u8 = ext::Z64 | 0x05;
    pub const TIMEOUT: u8 = ext::Z64 | 0x06;
    pub const RESPONDER_ID: u8 = ext::ZBUF | 0x03;
    pub const QUERYABLE_INFO: u8 = ext::Z64 | 0x01;
    pub const WIRE_EXPR: u8 = ext::ZBUF | ext::MANDATORY | 0x0f;
}

/// Flag N (bit 5): the wire expression has a suffix.
const N: u8 = flag::A;
/// Flag M (bit 6): the wire expression's scope is in the sender's id space.
const M: u8 = flag::B;

/// True when `header` starts a network message (ids 0x19..=0x1f).
pub fn is_network_header(header: u8) -> bool {
    (id::INTEREST..=id::OAM).contains(&(header & flag::ID))
}

/// Network-level quality of service, as carried by the `21` extension.
///
/// Bits 0-2 priority, bit 3 congestion control Block, bit 4 express, bit 5 block-first;
/// bits 6-7 are reserved and kept as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetQos(pub u8);

impl NetQos {
    const PRIO_MASK: u8 = 0x07;
    const BLOCK: u8 = 0x08;
    const EXPRESS: u8 = 0x10;
    const BLOCK_FIRST: u8 = 0x20;

    /// The wire default (Data, Drop, not express), never written.
    pub const DEFAULT: NetQos = NetQos(0x05);
    /// What Zenoh uses for PUSH (same as the default).
    pub const PUSH: NetQos = NetQos(0x05);
    /// What Zenoh uses for DECLARE (Control, Block).
    pub const DECLARE: NetQos = NetQos(0x08);
    /// What Zenoh uses for INTEREST (Control, Block).
    pub const INTEREST: NetQos = NetQos(0x08);
    /// What Zenoh uses for network OAM (Control, Block).
    pub const OAM: NetQos = NetQos(0x08);
    /// What Zenoh uses for REQUEST (Data, Block).
    pub const REQUEST: NetQos = NetQos(0x0d);
    /// What Zenoh uses for RESPONSE and RESPONSE_FINAL (Data, Block).
    pub const RESPONSE: NetQos = NetQos(0x0d);

    /// A QoS from its parts.
    pub const fn new(priority: Priority, congestion: CongestionControl, express: bool) -> Self {
        let mut v = priority as u8;
        if matches!(congestion, CongestionControl::Block) {
            v |= Self::BLOCK;
        }
        if express {
            v |= Self::EXPRESS;
        }
        NetQos(v)
    }

    /// The priority.
    pub fn priority(self) -> Priority {
        Priority::from_bits(self.0 & Self::PRIO_MASK)
    }

    /// The congestion control (Block when bit 3 is set).
    pub fn congestion_control(self) -> CongestionControl {
        if self.0 & Self::BLOCK != 0 {
            CongestionControl::Block
        } else {
            CongestionControl::Drop
        }
    }

    /// True when the message must not be batched.
    pub fn is_express(self) -> bool {
        self.0 & Self::EXPRESS != 0
    }

    /// True when the (unstable) block-first bit is set.
    pub fn is_block_first(self) -> bool {
        self.0 & Self::BLOCK_FIRST != 0
    }

    /// The same QoS with another priority.
    pub fn with_priority(self, priority: Priority) -> Self {
        NetQos((self.0 & !Self::PRIO_MASK) | priority as u8)
    }

    /// The same QoS with the express bit set or cleared.
    pub fn with_express(self, express: bool) -> Self {
        if express {
            NetQos(self.0 | Self::EXPRESS)
        } else {
            NetQos(self.0 & !Self::EXPRESS)
        }
    }

    /// The same QoS with another congestion control.
    pub fn with_congestion_control(self, congestion: CongestionControl) -> Self {
        match congestion {
            CongestionControl::Block => NetQos((self.0 | Self::BLOCK) & !Self::BLOCK_FIRST),
            CongestionControl::Drop => NetQos(self.0 & !(Self::BLOCK | Self::BLOCK_FIRST)),
        }
    }

    fn from_ext(e: &Ext, what: &'static str) -> DecodeResult<Self> {
        let v = e.z64(what)?;
        u8::try_from(v)
            .map(NetQos)
            .map_err(|_| DecodeError::malformed(what, format!("QoS value {v} exceeds 8 bits")))
    }
}

impl Default for NetQos {
    fn default() -> Self {
        NetQos::DEFAULT
    }
}

/// Whose id space a wire expression's scope refers to (the M flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mapping {
    /// The receiver declared the scope id (M clear).
    #[default]
    Receiver,
    /// The sender declared the scope id (M set; Zenoh also sets it on scope 0).
    Sender,
}

/// A key expression on the wire: a declared prefix id plus a suffix.
#[derive(Clone, Debug, Eq, Default)]
pub struct WireExpr {
    /// The declared expression id (0 = none).
    pub scope: u16,
    /// The text appended to the scope's expression; empty when absent.
    pub suffix: String,
    /// Whose id space `scope` is in.
    pub mapping: Mapping,
}

impl PartialEq for WireExpr {
    /// As derived, but two empty suffixes are equal without a look at their bytes. A
    /// subscriber compares every PUSH's expression (usually a bare id) with the last one
    /// it routed; comparing two empty `String`s calls `memcmp` with their dangling
    /// pointers, and glibc's AVX-512 `memcmp` reads them with a masked load whose
    /// fault suppression cost 137 ns on the Intel Xeon we measured: a third of an 8-byte
    /// message's cost at the subscriber.
    fn eq(&self, other: &Self) -> bool {
        self.scope == other.scope
            && self.mapping == other.mapping
            && self.suffix.len() == other.suffix.len()
            && (self.suffix.is_empty() || self.suffix == other.suffix)
    }
}

impl std::hash::Hash for WireExpr {
    /// As derived (written out only because `eq` is).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.scope.hash(state);
        self.suffix.hash(state);
        self.mapping.hash(state);
    }
}

impl WireExpr {
    /// A wire expression from its parts.
    pub fn new(scope: u16, suffix: impl Into<String>, mapping: Mapping) -> Self {
        WireExpr {
            scope,
            suffix: suffix.into(),
            mapping,
        }
    }

    /// A full key with no scope, flagged as the sender's mapping like Zenoh does.
    pub fn key(suffix: impl Into<String>) -> Self {
        WireExpr::new(0, suffix, Mapping::Sender)
    }

    /// True when a suffix is present (the N flag).
    pub fn has_suffix(&self) -> bool {
        !self.suffix.is_empty()
    }

    /// The N and M header flags for this expression (bits 5 and 6).
    fn flags(&self) -> u8 {
        let mut f = 0;
        if self.has_suffix() {
            f |= N;
        }
        if self.mapping == Mapping::Sender {
            f |= M;
        }
        f
    }

    /// Reads scope and, if `named`, the `<u8;z16>` suffix.
    fn read(r: &mut Reader, named: bool, mapping: Mapping) -> DecodeResult<Self> {
        let scope = r.z16("wire expr scope")?;
        let suffix = if named {
            let len = r.z16("wire expr suffix")?;
            let raw = r.bytes(len as usize, "wire expr suffix")?;
            utf8(raw, "wire expr suffix")?
        } else {
            String::new()
        };
        Ok(WireExpr {
            scope,
            suffix,
            mapping,
        })
    }

    /// Reads an expression whose N and M flags are bits 5 and 6 of `header`.
    fn read_flagged(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let mapping = if header & M != 0 {
            Mapping::Sender
        } else {
            Mapping::Receiver
        };
        WireExpr::read(r, header & N != 0, mapping)
    }

    /// Writes scope and suffix (if any); flags travel elsewhere.
    fn write(&self, out: &mut Vec<u8>) {
        write_zint(out, self.scope as u64);
        if self.has_suffix() {
            write_zbytes(out, self.suffix.as_bytes());
        }
    }

    /// Parses the undeclaration form: flags byte, scope, suffix bytes to the end.
    fn read_ext(body: &Bytes) -> DecodeResult<Self> {
        const WHAT: &str = "wire expr extension";
        let mut sub = Reader::new(body.clone());
        let flags = sub.u8(WHAT)?;
        let scope = sub.z16(WHAT)?;
        let suffix = if flags & 0x01 != 0 {
            utf8(sub.rest(), WHAT)?
        } else {
            String::new()
        };
        expect_end(&sub, WHAT)?;
        let mapping = if flags & 0x02 != 0 {
            Mapping::Sender
        } else {
            Mapping::Receiver
        };
        Ok(WireExpr {
            scope,
            suffix,
            mapping,
        })
    }

    fn write_ext(&self, w: &mut ExtWriter, out: &mut Vec<u8>) {
        w.zbuf_with(out, key::WIRE_EXPR, |b| {
            let mut flags = 0u8;
            if self.has_suffix() {
                flags |= 0x01;
            }
            if self.mapping == Mapping::Sender {
                flags |= 0x02;
            }
            b.push(flags);
            write_zint(b, self.scope as u64);
            b.extend_from_slice(self.suffix.as_bytes());
        });
    }
}

fn utf8(raw: Bytes, what: &'static str) -> DecodeResult<String> {
    String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::malformed(what, "not valid UTF-8"))
}

/// Reads the zbuf of a network Timestamp extension (`42`).
fn read_ts_ext(e: &Ext, what: &'static str) -> DecodeResult<Timestamp> {
    let mut sub = Reader::new(e.zbuf(what)?.clone());
    let ts = Timestamp::read(&mut sub)?;
    expect_end(&sub, "timestamp extension")?;
    Ok(ts)
}

fn read_node_id(e: &Ext, what: &'static str) -> DecodeResult<u16> {
    let v = e.z64(what)?;
    u16::try_from(v)
        .map_err(|_| DecodeError::malformed(what, format!("node id {v} exceeds 16 bits")))
}

/// The extensions shared by most network messages.
#[derive(Default)]
struct CommonExts {
    qos: NetQos,
    timestamp: Option<Timestamp>,
    node_id: u16,
    /// Optional extensions not known here (dropped by the messages a router consumes).
    unknown: UnknownExts,
}

impl CommonExts {
    /// Handles QoS, Timestamp and (if `with_node`) NodeId; returns false for other keys.
    fn take(&mut self, e: &Ext, what: &'static str, with_node: bool) -> DecodeResult<bool> {
        match e.key {
            key::QOS => self.qos = NetQos::from_ext(e, what)?,
            key::TIMESTAMP => self.timestamp = Some(read_ts_ext(e, what)?),
            key::NODE_ID if with_node => self.node_id = read_node_id(e, what)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Reads an extension list holding only the common extensions.
    fn read_all(
        r: &mut Reader,
        header: u8,
        what: &'static str,
        with_node: bool,
    ) -> DecodeResult<Self> {
        let mut c = CommonExts::default();
        if header & flag::Z == 0 {
            return Ok(c);
        }
        // The common case first: a lone QoS extension whose value fits in one byte.
        if r.peek_u8() == Some(key::QOS)
            && let Some(v) = r.peek_at(1)
            && v < 0x80
        {
            r.skip(2);
            c.qos = NetQos(v);
            return Ok(c);
        }
        let mut exts = ExtIter::new(true);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, what)? else { break };
            if !c.take(&e, what, with_node)? {
                c.unknown.keep(&e, r.since(at), what)?;
            }
        }
        Ok(c)
    }
}

/// Collects extensions to write, so the message's Z flag can be set up front.
struct ExtsOut {
    buf: Vec<u8>,
    w: ExtWriter,
}

impl ExtsOut {
    fn new() -> Self {
        ExtsOut {
            buf: Vec::new(),
            w: ExtWriter::new(),
        }
    }

    fn qos(&mut self, qos: NetQos) {
        if qos != NetQos::DEFAULT {
            self.w.z64(&mut self.buf, key::QOS, qos.0 as u64);
        }
    }

    fn timestamp(&mut self, ts: &Option<Timestamp>) {
        if let Some(ts) = ts {
            self.w
                .zbuf_with(&mut self.buf, key::TIMESTAMP, |b| ts.write(b));
        }
    }

    fn node_id(&mut self, node_id: u16) {
        if node_id != 0 {
            self.w.z64(&mut self.buf, key::NODE_ID, node_id as u64);
        }
    }

    fn z_flag(&self) -> u8 {
        if self.buf.is_empty() { 0 } else { flag::Z }
    }
}

/// Any network message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkMessage {
    /// A publication.
    Push(Push),
    /// A declaration.
    Declare(Declare),
    /// A request for declarations.
    Interest(Interest),
    /// A query.
    Request(Request),
    /// An answer to a query.
    Response(Response),
    /// The end of the answers to a query.
    ResponseFinal(ResponseFinal),
    /// Operations and management.
    Oam(NetworkOam),
}

impl NetworkMessage {
    /// Decodes one network message, header included.
    pub fn read(r: &mut Reader) -> DecodeResult<NetworkMessage> {
        let header = r.u8("network message")?;
        Ok(match header & flag::ID {
            id::PUSH => NetworkMessage::Push(Push::read(r, header)?),
            id::DECLARE => NetworkMessage::Declare(Declare::read(r, header)?),
            id::INTEREST => NetworkMessage::Interest(Interest::read(r, header)?),
            id::REQUEST => NetworkMessage::Request(Request::read(r, header)?),
            id::RESPONSE => NetworkMessage::Response(Response::read(r, header)?),
            id::RESPONSE_FINAL => NetworkMessage::ResponseFinal(ResponseFinal::read(r, header)?),
            id::OAM => NetworkMessage::Oam(NetworkOam::read(r, header)?),
            other => {
                return Err(DecodeError::malformed(
                    "network message",
                    format!("unknown id 0x{other:02x}"),
                ));
            }
        })
    }

    /// A lower bound of the encoded length: the payload bytes of a PUT in a PUSH or a
    /// reply (0 for the others). Cheap; lets a batch skip writing a message that
    /// certainly does not fit.
    #[inline]
    pub fn min_wire_len(&self) -> usize {
        match self {
            NetworkMessage::Push(Push {
                body: PushBody::Put(p),
                ..
            }) => p.payload.len(),
            NetworkMessage::Response(Response {
                body:
                    ResponseBody::Reply(zenoh::Reply {
                        body: PushBody::Put(p),
                        ..
                    }),
                ..
            }) => p.payload.len(),
            _ => 0,
        }
    }

    /// Encodes the message up to a PUSH's payload bytes and returns them, so that a
    /// large payload can be cut into fragments without an intermediate copy; other
    /// messages are written whole (and the returned slice is empty).
    pub fn write_head(&self, out: &mut Vec<u8>) -> &Bytes {
        match self {
            NetworkMessage::Push(m) => m.write_head(out),
            other => {
                other.write(out);
                &crate::wire::zenoh::NO_BYTES
            }
        }
    }

    /// Encodes the message, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            NetworkMessage::Push(m) => m.write(out),
            NetworkMessage::Declare(m) => m.write(out),
            NetworkMessage::Interest(m) => m.write(out),
            NetworkMessage::Request(m) => m.write(out),
            NetworkMessage::Response(m) => m.write(out),
            NetworkMessage::ResponseFinal(m) => m.write(out),
            NetworkMessage::Oam(m) => m.write(out),
        }
    }

    /// The message's quality of service (which channel it travels on).
    pub fn qos(&self) -> NetQos {
        match self {
            NetworkMessage::Push(m) => m.qos,
            NetworkMessage::Declare(m) => m.qos,
            NetworkMessage::Interest(m) => m.qos,
            NetworkMessage::Request(m) => m.qos,
            NetworkMessage::Response(m) => m.qos,
            NetworkMessage::ResponseFinal(m) => m.qos,
            NetworkMessage::Oam(m) => m.qos,
        }
    }
}

/// Fails unless `header` carries message id `expected`.
fn check_id(header: u8, expected: u8, what: &'static str) -> DecodeResult<()> {
    if header & flag::ID == expected {
        Ok(())
    } else {
        Err(DecodeError::malformed(
            what,
            format!(
                "header 0x{header:02x} has id 0x{:02x}, expected 0x{expected:02x}",
                header & flag::ID
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
