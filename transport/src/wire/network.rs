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

pub mod timestamp_stack;

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
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct WireExpr {
    /// The declared expression id (0 = none).
    pub scope: u16,
    /// The text appended to the scope's expression; empty when absent.
    pub suffix: String,
    /// Whose id space `scope` is in.
    pub mapping: Mapping,
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

/// A publication: a PUT or DEL routed on a key expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// The key expression.
    pub wire_expr: WireExpr,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp (extension `42`).
    pub timestamp: Option<Timestamp>,
    /// The routing node id (0 = generated here, omitted).
    pub node_id: u16,
    /// Optional extensions not modelled here (e.g. Zenoh's timestamp stack), kept as
    /// received and written after the others.
    pub unknown_exts: UnknownExts,
    /// The PUT or DEL.
    pub body: PushBody,
}

impl Push {
    /// Decodes a PUSH whose header byte was already read.
    #[inline]
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "PUSH";
        check_id(header, id::PUSH, WHAT)?;
        let wire_expr = WireExpr::read_flagged(r, header)?;
        let c = CommonExts::read_all(r, header, WHAT, true)?;
        let body = PushBody::read(r)?;
        Ok(Push {
            wire_expr,
            qos: c.qos,
            timestamp: c.timestamp,
            node_id: c.node_id,
            unknown_exts: c.unknown,
            body,
        })
    }

    /// Encodes the PUSH, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let payload = self.write_head(out);
        out.extend_from_slice(payload);
    }

    /// Encodes the PUSH up to its payload bytes and returns them (see
    /// [`super::zenoh::Put::write_head`]).
    pub fn write_head(&self, out: &mut Vec<u8>) -> &[u8] {
        // The hot path: extensions go straight into `out`, and the header's Z flag is
        // set afterwards if any was written.
        let at = out.len();
        out.push(id::PUSH | self.wire_expr.flags());
        self.wire_expr.write(out);
        let mut w = ExtWriter::new();
        if self.qos != NetQos::DEFAULT {
            w.z64(out, key::QOS, self.qos.0 as u64);
        }
        if let Some(ts) = &self.timestamp {
            w.zbuf_with(out, key::TIMESTAMP, |b| ts.write(b));
        }
        if self.node_id != 0 {
            w.z64(out, key::NODE_ID, self.node_id as u64);
        }
        w.unknown(out, &self.unknown_exts);
        if w.wrote_any() {
            out[at] |= flag::Z;
        }
        self.body.write_head(out)
    }
}

/// Which queryables a request should reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum QueryTarget {
    /// The best matching queryables (the default, not written).
    #[default]
    BestMatching,
    /// All matching queryables.
    All,
    /// All matching queryables that are complete.
    AllComplete,
}

impl QueryTarget {
    /// The wire code (0, 1, 2).
    pub fn code(self) -> u8 {
        match self {
            QueryTarget::BestMatching => 0,
            QueryTarget::All => 1,
            QueryTarget::AllComplete => 2,
        }
    }

    fn from_code(v: u64) -> DecodeResult<Self> {
        match v {
            0 => Ok(QueryTarget::BestMatching),
            1 => Ok(QueryTarget::All),
            2 => Ok(QueryTarget::AllComplete),
            _ => Err(DecodeError::malformed(
                "query target",
                format!("unknown target {v}"),
            )),
        }
    }
}

/// A query routed to queryables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request id, echoed by the responses.
    pub id: u32,
    /// The queried key expression.
    pub wire_expr: WireExpr,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
    /// Which queryables to reach.
    pub target: QueryTarget,
    /// Maximum number of replies, if limited.
    pub budget: Option<u32>,
    /// How long the querier waits, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// The routing node id (0 = generated here, omitted).
    pub node_id: u16,
    /// Optional extensions not modelled here (e.g. Zenoh's timestamp stack), kept as
    /// received and written after the others.
    pub unknown_exts: UnknownExts,
    /// The query.
    pub body: Query,
}

impl Request {
    /// Decodes a REQUEST whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "REQUEST";
        check_id(header, id::REQUEST, WHAT)?;
        let rid = r.z32("request id")?;
        let wire_expr = WireExpr::read_flagged(r, header)?;
        let mut c = CommonExts::default();
        let mut target = QueryTarget::default();
        let mut budget = None;
        let mut timeout_ms = None;
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            if c.take(&e, WHAT, true)? {
                continue;
            }
            match e.key {
                key::TARGET => target = QueryTarget::from_code(e.z64(WHAT)?)?,
                key::BUDGET => {
                    let v = e.z64(WHAT)?;
                    budget = Some(u32::try_from(v).map_err(|_| {
                        DecodeError::malformed(WHAT, format!("budget {v} exceeds 32 bits"))
                    })?);
                }
                key::TIMEOUT => timeout_ms = Some(e.z64(WHAT)?),
                _ => c.unknown.keep(&e, r.since(at), WHAT)?,
            }
        }
        let qh = r.u8("request body")?;
        if qh & flag::ID != zenoh::id::QUERY {
            return Err(DecodeError::malformed(
                WHAT,
                format!("body id 0x{:02x} is not QUERY", qh & flag::ID),
            ));
        }
        let body = Query::read(r, qh)?;
        Ok(Request {
            id: rid,
            wire_expr,
            qos: c.qos,
            timestamp: c.timestamp,
            target,
            budget,
            timeout_ms,
            node_id: c.node_id,
            unknown_exts: c.unknown,
            body,
        })
    }

    /// Encodes the REQUEST, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        if self.target != QueryTarget::BestMatching {
            x.w.z64(&mut x.buf, key::TARGET, self.target.code() as u64);
        }
        if let Some(b) = self.budget {
            x.w.z64(&mut x.buf, key::BUDGET, b as u64);
        }
        if let Some(t) = self.timeout_ms {
            x.w.z64(&mut x.buf, key::TIMEOUT, t);
        }
        x.node_id(self.node_id);
        x.w.unknown(&mut x.buf, &self.unknown_exts);
        out.push(id::REQUEST | self.wire_expr.flags() | x.z_flag());
        write_zint(out, self.id as u64);
        self.wire_expr.write(out);
        out.extend_from_slice(&x.buf);
        self.body.write(out);
    }
}

/// The entity that answered a request (extension `43` of RESPONSE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderId {
    /// The responding node.
    pub zid: ZenohId,
    /// The responding entity (queryable) within that node.
    pub eid: u32,
}

impl ResponderId {
    fn read_ext(e: &Ext) -> DecodeResult<Self> {
        const WHAT: &str = "responder id";
        let mut sub = Reader::new(e.zbuf(WHAT)?.clone());
        let zid = read_flagged_zid(&mut sub, WHAT)?;
        let eid = sub.z32(WHAT)?;
        expect_end(&sub, WHAT)?;
        Ok(ResponderId { zid, eid })
    }
}

/// The body of a RESPONSE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// A value or deletion.
    Reply(zenoh::Reply),
    /// An error.
    Err(zenoh::Err),
}

/// One answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The id of the answered request.
    pub request_id: u32,
    /// The key expression of the answer.
    pub wire_expr: WireExpr,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
    /// Who answered, if stated.
    pub responder: Option<ResponderId>,
    /// Optional extensions not modelled here (e.g. Zenoh's timestamp stack), kept as
    /// received and written after the others.
    pub unknown_exts: UnknownExts,
    /// The reply or error.
    pub body: ResponseBody,
}

impl Response {
    /// Decodes a RESPONSE whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "RESPONSE";
        check_id(header, id::RESPONSE, WHAT)?;
        let request_id = r.z32("request id")?;
        let wire_expr = WireExpr::read_flagged(r, header)?;
        let mut c = CommonExts::default();
        let mut responder = None;
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            if c.take(&e, WHAT, false)? {
                continue;
            }
            match e.key {
                key::RESPONDER_ID => responder = Some(ResponderId::read_ext(&e)?),
                _ => c.unknown.keep(&e, r.since(at), WHAT)?,
            }
        }
        let bh = r.u8("response body")?;
        let body = match bh & flag::ID {
            zenoh::id::REPLY => ResponseBody::Reply(zenoh::Reply::read(r, bh)?),
            zenoh::id::ERR => ResponseBody::Err(zenoh::Err::read(r, bh)?),
            other => {
                return Err(DecodeError::malformed(
                    WHAT,
                    format!("body id 0x{other:02x} is neither REPLY nor ERR"),
                ));
            }
        };
        Ok(Response {
            request_id,
            wire_expr,
            qos: c.qos,
            timestamp: c.timestamp,
            responder,
            unknown_exts: c.unknown,
            body,
        })
    }

    /// Encodes the RESPONSE, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        if let Some(rid) = &self.responder {
            x.w.zbuf_with(&mut x.buf, key::RESPONDER_ID, |b| {
                write_flagged_zid(b, &rid.zid);
                write_zint(b, rid.eid as u64);
            });
        }
        x.w.unknown(&mut x.buf, &self.unknown_exts);
        out.push(id::RESPONSE | self.wire_expr.flags() | x.z_flag());
        write_zint(out, self.request_id as u64);
        self.wire_expr.write(out);
        out.extend_from_slice(&x.buf);
        match &self.body {
            ResponseBody::Reply(b) => b.write(out),
            ResponseBody::Err(b) => b.write(out),
        }
    }
}

/// The end of the responses to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFinal {
    /// The id of the finished request.
    pub request_id: u32,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
}

impl ResponseFinal {
    /// Decodes a RESPONSE_FINAL whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "RESPONSE_FINAL";
        check_id(header, id::RESPONSE_FINAL, WHAT)?;
        let request_id = r.z32("request id")?;
        let c = CommonExts::read_all(r, header, WHAT, false)?;
        Ok(ResponseFinal {
            request_id,
            qos: c.qos,
            timestamp: c.timestamp,
        })
    }

    /// Encodes the RESPONSE_FINAL, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        out.push(id::RESPONSE_FINAL | x.z_flag());
        write_zint(out, self.request_id as u64);
        out.extend_from_slice(&x.buf);
    }
}

/// One declaration, the body of a DECLARE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeclareBody {
    /// Binds expression id `id` to `wire_expr` in the sender's id space (mapping ignored).
    KeyExpr {
        /// The new expression id.
        id: u16,
        /// The expression it stands for.
        wire_expr: WireExpr,
    },
    /// Releases an expression id.
    UndeclareKeyExpr {
        /// The released id.
        id: u16,
    },
    /// Declares a subscriber.
    Subscriber {
        /// The subscriber id.
        id: u32,
        /// What it subscribes to.
        wire_expr: WireExpr,
    },
    /// Undeclares a subscriber.
    UndeclareSubscriber {
        /// The subscriber id.
        id: u32,
        /// Its key expression, if given (extension `5f`).
        wire_expr: Option<WireExpr>,
    },
    /// Declares a queryable.
    Queryable {
        /// The queryable id.
        id: u32,
        /// What it answers.
        wire_expr: WireExpr,
        /// True if it holds every value matching its expression.
        complete: bool,
        /// Routing distance to the queryable.
        distance: u16,
    },
    /// Undeclares a queryable.
    UndeclareQueryable {
        /// The queryable id.
        id: u32,
        /// Its key expression, if given (extension `5f`).
        wire_expr: Option<WireExpr>,
    },
    /// Declares a liveliness token.
    Token {
        /// The token id.
        id: u32,
        /// The token's key expression.
        wire_expr: WireExpr,
    },
    /// Undeclares a liveliness token.
    UndeclareToken {
        /// The token id.
        id: u32,
        /// Its key expression, if given (extension `5f`).
        wire_expr: Option<WireExpr>,
    },
    /// Ends the current declarations answering an interest.
    Final,
}

impl DeclareBody {
    /// Decodes one declaration, header included.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        let h = r.u8("declaration")?;
        let has_exts = h & flag::Z != 0;
        match h & flag::ID {
            decl_id::D_KEYEXPR => {
                const WHAT: &str = "D_KEYEXPR";
                let id = r.z16("expr id")?;
                let wire_expr = WireExpr::read(r, h & N != 0, Mapping::Receiver)?;
                skip_exts(r, has_exts, WHAT)?;
                Ok(DeclareBody::KeyExpr { id, wire_expr })
            }
            decl_id::U_KEYEXPR => {
                let id = r.z16("expr id")?;
                skip_exts(r, has_exts, "U_KEYEXPR")?;
                Ok(DeclareBody::UndeclareKeyExpr { id })
            }
            decl_id::D_SUBSCRIBER => {
                let id = r.z32("subscriber id")?;
                let wire_expr = WireExpr::read_flagged(r, h)?;
                skip_exts(r, has_exts, "D_SUBSCRIBER")?;
                Ok(DeclareBody::Subscriber { id, wire_expr })
            }
            decl_id::U_SUBSCRIBER => {
                let id = r.z32("subscriber id")?;
                let wire_expr = read_undeclare_exts(r, has_exts, "U_SUBSCRIBER")?;
                Ok(DeclareBody::UndeclareSubscriber { id, wire_expr })
            }
            decl_id::D_QUERYABLE => {
                const WHAT: &str = "D_QUERYABLE";
                let id = r.z32("queryable id")?;
                let wire_expr = WireExpr::read_flagged(r, h)?;
                let (mut complete, mut distance) = (false, 0u16);
                let mut exts = ExtIter::new(has_exts);
                while let Some(e) = exts.next(r, WHAT)? {
                    match e.key {
                        key::QUERYABLE_INFO => {
                            let v = e.z64(WHAT)?;
                            complete = v & 0x01 != 0;
                            distance = u16::try_from(v >> 8).map_err(|_| {
                                DecodeError::malformed(
                                    WHAT,
                                    format!("distance {} exceeds 16 bits", v >> 8),
                                )
                            })?;
                        }
                        _ => e.unknown(WHAT)?,
                    }
                }
                Ok(DeclareBody::Queryable {
                    id,
                    wire_expr,
                    complete,
                    distance,
                })
            }
            decl_id::U_QUERYABLE => {
                let id = r.z32("queryable id")?;
                let wire_expr = read_undeclare_exts(r, has_exts, "U_QUERYABLE")?;
                Ok(DeclareBody::UndeclareQueryable { id, wire_expr })
            }
            decl_id::D_TOKEN => {
                let id = r.z32("token id")?;
                let wire_expr = WireExpr::read_flagged(r, h)?;
                skip_exts(r, has_exts, "D_TOKEN")?;
                Ok(DeclareBody::Token { id, wire_expr })
            }
            decl_id::U_TOKEN => {
                let id = r.z32("token id")?;
                let wire_expr = read_undeclare_exts(r, has_exts, "U_TOKEN")?;
                Ok(DeclareBody::UndeclareToken { id, wire_expr })
            }
            decl_id::D_FINAL => {
                skip_exts(r, has_exts, "D_FINAL")?;
                Ok(DeclareBody::Final)
            }
            other => Err(DecodeError::malformed(
                "declaration",
                format!("unknown declaration id 0x{other:02x}"),
            )),
        }
    }

    /// Encodes the declaration, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            DeclareBody::KeyExpr { id, wire_expr } => {
                let n = if wire_expr.has_suffix() { N } else { 0 };
                out.push(decl_id::D_KEYEXPR | n);
                write_zint(out, *id as u64);
                wire_expr.write(out);
            }
            DeclareBody::UndeclareKeyExpr { id } => {
                out.push(decl_id::U_KEYEXPR);
                write_zint(out, *id as u64);
            }
            DeclareBody::Subscriber { id, wire_expr } => {
                write_entity_decl(out, decl_id::D_SUBSCRIBER, *id, wire_expr);
            }
            DeclareBody::UndeclareSubscriber { id, wire_expr } => {
                write_undeclare(out, decl_id::U_SUBSCRIBER, *id, wire_expr);
            }
            DeclareBody::Queryable {
                id,
                wire_expr,
                complete,
                distance,
            } => {
                let info = (*complete as u64) | ((*distance as u64) << 8);
                let z = if info != 0 { flag::Z } else { 0 };
                out.push(decl_id::D_QUERYABLE | wire_expr.flags() | z);
                write_zint(out, *id as u64);
                wire_expr.write(out);
                if info != 0 {
                    ExtWriter::new().z64(out, key::QUERYABLE_INFO, info);
                }
            }
            DeclareBody::UndeclareQueryable { id, wire_expr } => {
                write_undeclare(out, decl_id::U_QUERYABLE, *id, wire_expr);
            }
            DeclareBody::Token { id, wire_expr } => {
                write_entity_decl(out, decl_id::D_TOKEN, *id, wire_expr);
            }
            DeclareBody::UndeclareToken { id, wire_expr } => {
                write_undeclare(out, decl_id::U_TOKEN, *id, wire_expr);
            }
            DeclareBody::Final => out.push(decl_id::D_FINAL),
        }
    }
}

fn write_entity_decl(out: &mut Vec<u8>, did: u8, id: u32, wire_expr: &WireExpr) {
    out.push(did | wire_expr.flags());
    write_zint(out, id as u64);
    wire_expr.write(out);
}

fn write_undeclare(out: &mut Vec<u8>, did: u8, id: u32, wire_expr: &Option<WireExpr>) {
    let z = if wire_expr.is_some() { flag::Z } else { 0 };
    out.push(did | z);
    write_zint(out, id as u64);
    if let Some(we) = wire_expr {
        we.write_ext(&mut ExtWriter::new(), out);
    }
}

/// Skips an extension list, failing on unknown mandatory extensions.
fn skip_exts(r: &mut Reader, has_exts: bool, what: &'static str) -> DecodeResult<()> {
    let mut exts = ExtIter::new(has_exts);
    while let Some(e) = exts.next(r, what)? {
        e.unknown(what)?;
    }
    Ok(())
}

fn read_undeclare_exts(
    r: &mut Reader,
    has_exts: bool,
    what: &'static str,
) -> DecodeResult<Option<WireExpr>> {
    let mut wire_expr = None;
    let mut exts = ExtIter::new(has_exts);
    while let Some(e) = exts.next(r, what)? {
        match e.key {
            key::WIRE_EXPR => wire_expr = Some(WireExpr::read_ext(e.zbuf(what)?)?),
            _ => e.unknown(what)?,
        }
    }
    Ok(wire_expr)
}

/// A declaration message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declare {
    /// The interest this declaration answers (I flag), if any.
    pub interest_id: Option<u32>,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
    /// The routing node id (0 = generated here, omitted).
    pub node_id: u16,
    /// The declaration.
    pub body: DeclareBody,
}

impl Declare {
    /// Flag I (bit 5): an interest id follows.
    const I: u8 = flag::A;

    /// Decodes a DECLARE whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "DECLARE";
        check_id(header, id::DECLARE, WHAT)?;
        let interest_id = if header & Self::I != 0 {
            Some(r.z32("interest id")?)
        } else {
            None
        };
        let c = CommonExts::read_all(r, header, WHAT, true)?;
        let body = DeclareBody::read(r)?;
        Ok(Declare {
            interest_id,
            qos: c.qos,
            timestamp: c.timestamp,
            node_id: c.node_id,
            body,
        })
    }

    /// Encodes the DECLARE, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        x.node_id(self.node_id);
        let i = if self.interest_id.is_some() {
            Self::I
        } else {
            0
        };
        out.push(id::DECLARE | i | x.z_flag());
        if let Some(iid) = self.interest_id {
            write_zint(out, iid as u64);
        }
        out.extend_from_slice(&x.buf);
        self.body.write(out);
    }
}

/// What an interest asks for: current declarations, future ones, both, or to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum InterestMode {
    /// Cancels a previous interest (no options, no expression).
    #[default]
    Final,
    /// Only the declarations that exist now.
    Current,
    /// Only declarations made from now on.
    Future,
    /// Both.
    CurrentFuture,
}

impl InterestMode {
    fn bits(self) -> u8 {
        match self {
            InterestMode::Final => 0,
            InterestMode::Current => 1,
            InterestMode::Future => 2,
            InterestMode::CurrentFuture => 3,
        }
    }

    fn from_bits(b: u8) -> Self {
        match b & 0x03 {
            0 => InterestMode::Final,
            1 => InterestMode::Current,
            2 => InterestMode::Future,
            _ => InterestMode::CurrentFuture,
        }
    }
}

/// The kinds of declarations an interest asks for (the options byte without R, N, M).
///
/// R (restricted), N and M are derived from [`Interest::wire_expr`] on write and
/// stripped on read, so only the K, S, Q, T and A bits are kept here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct InterestOptions(pub u8);

impl InterestOptions {
    /// Key-expression declarations (K).
    pub const KEYEXPRS: u8 = 0x01;
    /// Subscriber declarations (S).
    pub const SUBSCRIBERS: u8 = 0x02;
    /// Queryable declarations (Q).
    pub const QUERYABLES: u8 = 0x04;
    /// Liveliness-token declarations (T).
    pub const TOKENS: u8 = 0x08;
    /// Aggregate the replies (A).
    pub const AGGREGATE: u8 = 0x80;
    /// Restricted to the wire expression that follows (R); derived, not stored.
    const RESTRICTED: u8 = 0x10;
    /// The bits kept in this type.
    pub const MASK: u8 = 0x8f;

    /// True when every bit of `bits` is set.
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

/// A request for declarations matching an optional key expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interest {
    /// The interest id, echoed by the answering DECLAREs.
    pub id: u32,
    /// Current, future, both, or final (cancel).
    pub mode: InterestMode,
    /// The kinds of declarations wanted (not written when the mode is Final).
    pub options: InterestOptions,
    /// The key expression the interest is restricted to (not written when the mode is Final).
    pub wire_expr: Option<WireExpr>,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
    /// The routing node id (0 = generated here, omitted).
    pub node_id: u16,
}

impl Interest {
    /// Decodes an INTEREST whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "INTEREST";
        check_id(header, id::INTEREST, WHAT)?;
        let iid = r.z32("interest id")?;
        let mode = InterestMode::from_bits(header >> 5);
        let mut options = InterestOptions::default();
        let mut wire_expr = None;
        if mode != InterestMode::Final {
            let o = r.u8("interest options")?;
            options = InterestOptions(o & InterestOptions::MASK);
            if o & InterestOptions::RESTRICTED != 0 {
                // The expression's N and M flags are bits 5 and 6 of the options byte.
                wire_expr = Some(WireExpr::read_flagged(r, o)?);
            }
        }
        let c = CommonExts::read_all(r, header, WHAT, true)?;
        Ok(Interest {
            id: iid,
            mode,
            options,
            wire_expr,
            qos: c.qos,
            timestamp: c.timestamp,
            node_id: c.node_id,
        })
    }

    /// Encodes the INTEREST, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        x.node_id(self.node_id);
        out.push(id::INTEREST | (self.mode.bits() << 5) | x.z_flag());
        write_zint(out, self.id as u64);
        if self.mode != InterestMode::Final {
            let mut o = self.options.0 & InterestOptions::MASK;
            if let Some(we) = &self.wire_expr {
                o |= InterestOptions::RESTRICTED | we.flags();
            }
            out.push(o);
            if let Some(we) = &self.wire_expr {
                we.write(out);
            }
        }
        out.extend_from_slice(&x.buf);
    }
}

/// The body of a network OAM message; its encoding travels in header bits 5-6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OamBody {
    /// No body.
    Unit,
    /// One integer.
    Z64(u64),
    /// A byte string (e.g. link-state).
    ZBuf(Bytes),
}

/// A network operations-and-management message (id 1 = link-state among peers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkOam {
    /// The OAM id (1 = LINKSTATE).
    pub id: u16,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
    /// The body.
    pub body: OamBody,
}

impl NetworkOam {
    /// The OAM id of peer link-state.
    pub const LINKSTATE: u16 = 1;

    /// Decodes a network OAM whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "network OAM";
        check_id(header, id::OAM, WHAT)?;
        let oid = r.z16("OAM id")?;
        let c = CommonExts::read_all(r, header, WHAT, false)?;
        let body = match header & ext::ENC_MASK {
            ext::UNIT => OamBody::Unit,
            ext::Z64 => OamBody::Z64(r.zint("OAM body")?),
            ext::ZBUF => OamBody::ZBuf(r.zbytes("OAM body")?),
            _ => {
                return Err(DecodeError::malformed(
                    WHAT,
                    "body has the reserved encoding 0b11",
                ));
            }
        };
        Ok(NetworkOam {
            id: oid,
            qos: c.qos,
            timestamp: c.timestamp,
            body,
        })
    }

    /// Encodes the OAM, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        let enc = match self.body {
            OamBody::Unit => ext::UNIT,
            OamBody::Z64(_) => ext::Z64,
            OamBody::ZBuf(_) => ext::ZBUF,
        };
        out.push(id::OAM | enc | x.z_flag());
        write_zint(out, self.id as u64);
        out.extend_from_slice(&x.buf);
        match &self.body {
            OamBody::Unit => {}
            OamBody::Z64(v) => write_zint(out, *v),
            OamBody::ZBuf(b) => write_zbytes(out, b),
        }
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

    /// Encodes the message up to a PUSH's payload bytes and returns them, so that a
    /// large payload can be cut into fragments without an intermediate copy; other
    /// messages are written whole (and the returned slice is empty).
    pub fn write_head(&self, out: &mut Vec<u8>) -> &[u8] {
        match self {
            NetworkMessage::Push(m) => m.write_head(out),
            other => {
                other.write(out);
                &[]
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
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> DecodeResult<NetworkMessage> {
        let mut r = Reader::new(Bytes::copy_from_slice(bytes));
        let m = NetworkMessage::read(&mut r)?;
        assert!(r.is_empty(), "{} bytes left", r.remaining());
        Ok(m)
    }

    /// The error's display text, for checking that messages name the problem.
    fn err_text(bytes: &[u8]) -> String {
        match decode(bytes) {
            Ok(m) => panic!("decoded {m:?}"),
            Err(e) => {
                assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
                e.to_string()
            }
        }
    }

    #[test]
    fn unknown_mandatory_extension_fails_and_optional_is_skipped() {
        // PUSH (Z) scope 0, ext 0x3a = z64 mandatory id 0xa, then PUT with empty payload.
        let t = err_text(&[0x9d, 0x00, 0x3a, 0x01, 0x01, 0x00]);
        assert!(
            t.contains("PUSH") && t.contains("unknown mandatory extension 0x3a"),
            "{t}"
        );
        // The same id without the mandatory bit is skipped, as is TsStack (47).
        let m = decode(&[0x9d, 0x00, 0xaa, 0x01, 0x47, 0x01, 0xff, 0x01, 0x00]).unwrap();
        assert!(matches!(m, NetworkMessage::Push(_)));
        // DECLARE with an unknown mandatory extension on the declaration itself.
        let t = err_text(&[0x1e, 0x82, 0x01, 0x01, 0x5e, 0x00]);
        assert!(t.contains("D_SUBSCRIBER") && t.contains("0x5e"), "{t}");
        // D_FINAL with a mandatory unit extension.
        let t = err_text(&[0x1e, 0x9a, 0x11]);
        assert!(t.contains("D_FINAL"), "{t}");
    }

    #[test]
    fn bad_ids_are_named() {
        let t = err_text(&[0x05, 0x00]);
        assert!(t.contains("unknown id 0x05"), "{t}");
        let t = err_text(&[0x1e, 0x08, 0x01]);
        assert!(t.contains("unknown declaration id 0x08"), "{t}");
        // PUSH whose body is a QUERY header.
        let t = err_text(&[0x1d, 0x00, 0x03]);
        assert!(t.contains("expected PUT or DEL"), "{t}");
        // REQUEST whose body is a PUT.
        let t = err_text(&[0x1c, 0x01, 0x00, 0x01, 0x00]);
        assert!(t.contains("is not QUERY"), "{t}");
        // RESPONSE whose body is a PUT.
        let t = err_text(&[0x1b, 0x01, 0x00, 0x01, 0x00]);
        assert!(t.contains("neither REPLY nor ERR"), "{t}");
        // Target 3 does not exist.
        let t = err_text(&[0x9c, 0x01, 0x00, 0x34, 0x03, 0x03]);
        assert!(t.contains("unknown target 3"), "{t}");
        // Consolidation 4 does not exist.
        let t = err_text(&[0x1c, 0x01, 0x00, 0x23, 0x04]);
        assert!(t.contains("unknown mode 4"), "{t}");
        // OAM body encoding 0b11 is reserved.
        let t = err_text(&[0x7f, 0x01]);
        assert!(t.contains("reserved"), "{t}");
    }

    #[test]
    fn zint_overflow_in_z16_fields() {
        // Scope 65536.
        let t = err_text(&[0x1d, 0x80, 0x80, 0x04, 0x01, 0x00]);
        assert!(
            t.contains("wire expr scope") && t.contains("exceeds 16 bits"),
            "{t}"
        );
        // D_KEYEXPR id 65536.
        let t = err_text(&[0x1e, 0x00, 0x80, 0x80, 0x04, 0x00]);
        assert!(t.contains("expr id") && t.contains("65536"), "{t}");
        // NodeId 70000.
        let t = err_text(&[0x9d, 0x00, 0x33, 0xf0, 0xa2, 0x04, 0x01, 0x00]);
        assert!(t.contains("node id 70000"), "{t}");
        // OAM id 65536.
        let t = err_text(&[0x1f, 0x80, 0x80, 0x04]);
        assert!(t.contains("OAM id"), "{t}");
        // A request id beyond 32 bits.
        let t = err_text(&[0x1a, 0x80, 0x80, 0x80, 0x80, 0x10]);
        assert!(t.contains("request id"), "{t}");
        // QoS wider than a byte.
        let t = err_text(&[0x9a, 0x01, 0x21, 0x80, 0x02]);
        assert!(t.contains("QoS value 256"), "{t}");
    }

    #[test]
    fn invalid_utf8_suffix() {
        let t = err_text(&[0x3d, 0x00, 0x02, 0xff, 0xfe, 0x01, 0x00]);
        assert!(t.contains("wire expr suffix") && t.contains("UTF-8"), "{t}");
        // The same in an undeclaration's WireExpr extension (flags N, scope 0, bytes ff).
        let t = err_text(&[0x1e, 0x83, 0x01, 0x5f, 0x03, 0x01, 0x00, 0xff]);
        assert!(
            t.contains("wire expr extension") && t.contains("UTF-8"),
            "{t}"
        );
    }

    #[test]
    fn shared_memory_is_refused_clearly() {
        // PUSH scope 0, PUT (Z) with Shm (12), empty payload.
        let t = err_text(&[0x1d, 0x00, 0x81, 0x12, 0x00]);
        assert!(t.contains("shared memory not supported"), "{t}");
    }

    #[test]
    fn extension_contents_must_be_exact() {
        // RESPONSE_FINAL with a Timestamp ext whose zbuf has a trailing byte.
        let t = err_text(&[0x9a, 0x01, 0x42, 0x04, 0x05, 0x01, 0x07, 0xaa]);
        assert!(t.contains("trailing"), "{t}");
        // The same without the extra byte decodes.
        let m = decode(&[0x9a, 0x01, 0x42, 0x03, 0x05, 0x01, 0x07]).unwrap();
        let NetworkMessage::ResponseFinal(f) = m else {
            panic!("expected RESPONSE_FINAL")
        };
        assert_eq!(f.timestamp.map(|t| t.time), Some(5));
    }

    #[test]
    fn truncation_is_incomplete() {
        let mut r = Reader::new(Bytes::from_static(&[0x3d, 0x01, 0x02, b'/']));
        assert!(matches!(
            NetworkMessage::read(&mut r),
            Err(DecodeError::Incomplete(_))
        ));
    }

    #[test]
    fn undeclare_wire_expr_extension_layout() {
        let d = Declare {
            interest_id: None,
            qos: NetQos::DECLARE,
            timestamp: None,
            node_id: 0,
            body: DeclareBody::UndeclareQueryable {
                id: 7,
                wire_expr: Some(WireExpr::new(2, "a/b", Mapping::Sender)),
            },
        };
        let mut out = Vec::new();
        d.write(&mut out);
        // 9e 21 08 | 85 07 | 5f len=5 flags=03 scope=02 "a/b" (no length of its own).
        assert_eq!(
            out,
            [
                0x9e, 0x21, 0x08, 0x85, 0x07, 0x5f, 0x05, 0x03, 0x02, b'a', b'/', b'b'
            ]
        );
        assert_eq!(decode(&out).unwrap(), NetworkMessage::Declare(d));
    }

    #[test]
    fn extension_order_matches_zenoh() {
        let ts = Timestamp {
            time: 1,
            id: ZenohId::new(0x0a).unwrap(),
        };
        let req = Request {
            id: 1,
            wire_expr: WireExpr::default(),
            qos: NetQos::REQUEST,
            timestamp: Some(ts),
            target: QueryTarget::AllComplete,
            budget: Some(3),
            timeout_ms: Some(100),
            node_id: 9,
            body: Query::default(),
            unknown_exts: Default::default(),
        };
        let mut out = Vec::new();
        req.write(&mut out);
        assert_eq!(
            out,
            [
                0x9c, 0x01, 0x00, // header, id, scope
                0xa1, 0x0d, // QoS
                0xc2, 0x03, 0x01, 0x01, 0x0a, // Timestamp
                0xb4, 0x02, // Target
                0xa5, 0x03, // Budget
                0xa6, 0x64, // Timeout
                0x33, 0x09, // NodeId (last)
                0x03, // QUERY
            ]
        );
    }

    #[test]
    fn push_extensions_lone_qos_and_full_list() {
        let body = PushBody::Del(Default::default());
        let lone = Push {
            wire_expr: WireExpr::key("a"),
            qos: NetQos::new(Priority::Data, CongestionControl::Block, false),
            timestamp: None,
            node_id: 0,
            body: body.clone(),
            unknown_exts: Default::default(),
        };
        let mut out = Vec::new();
        lone.write(&mut out);
        // header (Z, M, N), scope 0, "a", QoS ext 0x21 alone, DEL.
        assert_eq!(out, [0xfd, 0x00, 0x01, b'a', 0x21, 0x0d, 0x02]);
        assert_eq!(decode(&out).unwrap(), NetworkMessage::Push(lone.clone()));

        let full = Push {
            timestamp: Some(Timestamp {
                time: 1,
                id: ZenohId::new(0x0a).unwrap(),
            }),
            node_id: 9,
            ..lone
        };
        let mut out = Vec::new();
        full.write(&mut out);
        assert_eq!(out[4], 0xa1, "QoS with the MORE bit: the general path");
        assert_eq!(decode(&out).unwrap(), NetworkMessage::Push(full));

        // A QoS value needing two bytes is refused, whichever path reads it.
        let err = err_text(&[0xfd, 0x00, 0x01, b'a', 0x21, 0x80, 0x02, 0x02]);
        assert!(err.contains("exceeds 8 bits"), "{err}");
    }

    #[test]
    fn qos_accessors() {
        let q = NetQos::default();
        assert_eq!(q.0, 0x05);
        assert_eq!(q.priority(), Priority::Data);
        assert_eq!(q.congestion_control(), CongestionControl::Drop);
        assert!(!q.is_express());
        assert_eq!(NetQos::DECLARE.priority(), Priority::Control);
        assert_eq!(
            NetQos::new(Priority::Control, CongestionControl::Block, false),
            NetQos::DECLARE
        );
        let e = q
            .with_priority(Priority::RealTime)
            .with_express(true)
            .with_congestion_control(CongestionControl::Block);
        assert_eq!(e.0, 0x19);
    }
}
