//! Transport messages: the handshake (INIT, OPEN), CLOSE, KEEP_ALIVE, FRAME, FRAGMENT and
//! transport OAM, and [`BatchReader`], which walks a batch and yields the transport
//! messages and the network messages that FRAMEs carry.

use std::time::Duration;

use bytes::Bytes;

use super::core::{
    DecodeError, DecodeResult, Ext, ExtBody, ExtIter, ExtWriter, Priority, Reader, Reliability,
    WhatAmI, ZenohId, ext, flag, write_zbytes, write_zint,
};
use super::network::{NetworkMessage, Push, is_network_header};

/// Message ids of the transport layer.
pub mod id {
    /// Transport OAM.
    pub const OAM: u8 = 0x00;
    /// INIT (syn and ack).
    pub const INIT: u8 = 0x01;
    /// OPEN (syn and ack).
    pub const OPEN: u8 = 0x02;
    /// CLOSE.
    pub const CLOSE: u8 = 0x03;
    /// KEEP_ALIVE.
    pub const KEEP_ALIVE: u8 = 0x04;
    /// FRAME.
    pub const FRAME: u8 = 0x05;
    /// FRAGMENT.
    pub const FRAGMENT: u8 = 0x06;
    /// JOIN (multicast only).
    pub const JOIN: u8 = 0x07;
}

/// The protocol version Plexus speaks.
pub const VERSION: u8 = 0x09;
/// The default sequence-number / request-id resolution byte (32 bits each).
pub const DEFAULT_RESOLUTION: u8 = 0x0a;
/// The default batch size when INIT carries no size parameters.
pub const DEFAULT_BATCH_SIZE: u16 = u16::MAX;

/// Extension keys (low 7 header bits) of the handshake messages.
mod ext_key {
    use super::ext;
    pub const QOS: u8 = 0x01;
    pub const QOS_LINK: u8 = ext::Z64 | 0x01;
    pub const SHM: u8 = ext::ZBUF | 0x02;
    pub const AUTH: u8 = ext::ZBUF | 0x03;
    pub const MULTILINK: u8 = ext::ZBUF | 0x04;
    pub const MULTILINK_ACK: u8 = 0x04;
    pub const LOW_LATENCY: u8 = 0x05;
    pub const COMPRESSION: u8 = 0x06;
    pub const PATCH: u8 = ext::Z64 | 0x07;
    pub const REGION_NAME: u8 = ext::ZBUF | 0x08;
    /// FRAME/FRAGMENT/OAM QoS: z64, mandatory, id 1.
    pub const FRAME_QOS: u8 = ext::Z64 | ext::MANDATORY | 0x01;
    pub const FRAGMENT_FIRST: u8 = 0x02;
    pub const FRAGMENT_DROP: u8 = 0x03;
}

/// How a side announces QoS in INIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QosExt {
    /// Plain QoS (`01`): all priorities and reliabilities.
    Plain,
    /// QoS restricted by the endpoint (`21`): the raw z64 bit field.
    Link(u64),
}

/// INIT: the first handshake exchange (syn from the opener, ack from the acceptor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Init {
    /// False for the syn, true for the ack.
    pub ack: bool,
    /// Protocol version (0x09).
    pub version: u8,
    /// Kind of the sender.
    pub whatami: WhatAmI,
    /// Id of the sender.
    pub zid: ZenohId,
    /// Resolution byte: bits 0-1 frame SN width, bits 2-3 request id width (0=8 … 3=64 bits).
    pub resolution: u8,
    /// Largest batch, including the 2-byte length prefix on streamed links.
    pub batch_size: u16,
    /// The acceptor's cookie (ack only; empty in a syn).
    pub cookie: Bytes,
    /// QoS offer or agreement.
    pub qos: Option<QosExt>,
    /// Shared-memory extension body, if any.
    pub shm: Option<Bytes>,
    /// Authentication extension body, if any.
    pub auth: Option<Bytes>,
    /// Multilink extension body, if any.
    pub multilink: Option<Bytes>,
    /// Low-latency transport requested.
    pub low_latency: bool,
    /// Compression requested.
    pub compression: bool,
    /// Protocol patch level (0 = omitted).
    pub patch: u64,
    /// Region name extension body, if any.
    pub region_name: Option<Bytes>,
}

impl Init {
    /// A syn with default parameters and no extensions.
    pub fn syn(whatami: WhatAmI, zid: ZenohId) -> Self {
        Init {
            ack: false,
            version: VERSION,
            whatami,
            zid,
            resolution: DEFAULT_RESOLUTION,
            batch_size: DEFAULT_BATCH_SIZE,
            cookie: Bytes::new(),
            qos: None,
            shm: None,
            auth: None,
            multilink: None,
            low_latency: false,
            compression: false,
            patch: 0,
            region_name: None,
        }
    }

    fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let ack = header & flag::A != 0;
        let version = r.u8("INIT version")?;
        let b = r.u8("INIT zid flags")?;
        let whatami = WhatAmI::from_code(b & 0x03)?;
        let zid_len = ((b >> 4) as usize) + 1;
        let zid = ZenohId::from_wire(&r.bytes(zid_len, "INIT zid")?, "INIT zid")?;
        let (resolution, batch_size) = if header & flag::B != 0 {
            (r.u8("INIT resolution")?, r.u16_le("INIT batch size")?)
        } else {
            (DEFAULT_RESOLUTION, DEFAULT_BATCH_SIZE)
        };
        let cookie = if ack {
            let len = r.z16("INIT cookie")?;
            r.bytes(len as usize, "INIT cookie")?
        } else {
            Bytes::new()
        };
        let mut m = Init {
            ack,
            version,
            whatami,
            zid,
            resolution,
            batch_size,
            cookie,
            ..Init::syn(whatami, zid)
        };
        let mut exts = ExtIter::new(header & flag::Z != 0);
        while let Some(e) = exts.next(r, "INIT extension")? {
            match e.key {
                ext_key::QOS => m.qos = Some(QosExt::Plain),
                ext_key::QOS_LINK => m.qos = Some(QosExt::Link(e.z64("INIT QoS")?)),
                ext_key::SHM => m.shm = Some(e.zbuf("INIT shm")?.clone()),
                ext_key::AUTH => m.auth = Some(e.zbuf("INIT auth")?.clone()),
                ext_key::MULTILINK => m.multilink = Some(e.zbuf("INIT multilink")?.clone()),
                ext_key::LOW_LATENCY => m.low_latency = true,
                ext_key::COMPRESSION => m.compression = true,
                ext_key::PATCH => m.patch = e.z64("INIT patch")?,
                ext_key::REGION_NAME => m.region_name = Some(e.zbuf("INIT region")?.clone()),
                _ => e.unknown("INIT")?,
            }
        }
        Ok(m)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let sized = self.resolution != DEFAULT_RESOLUTION || self.batch_size != DEFAULT_BATCH_SIZE;
        let has_exts = self.qos.is_some()
            || self.shm.is_some()
            || self.auth.is_some()
            || self.multilink.is_some()
            || self.low_latency
            || self.compression
            || self.patch != 0
            || self.region_name.is_some();
        let mut h = id::INIT;
        if self.ack {
            h |= flag::A;
        }
        if sized {
            h |= flag::B;
        }
        if has_exts {
            h |= flag::Z;
        }
        out.push(h);
        out.push(self.version);
        let (le, n) = self.zid.wire_bytes();
        out.push((((n - 1) as u8) << 4) | self.whatami.code());
        out.extend_from_slice(&le[..n]);
        if sized {
            out.push(self.resolution);
            out.extend_from_slice(&self.batch_size.to_le_bytes());
        }
        if self.ack {
            write_zbytes(out, &self.cookie);
        }
        let mut w = ExtWriter::new();
        match self.qos {
            Some(QosExt::Plain) => w.unit(out, ext_key::QOS),
            Some(QosExt::Link(v)) => w.z64(out, ext_key::QOS_LINK, v),
            None => {}
        }
        if let Some(b) = &self.shm {
            w.zbuf(out, ext_key::SHM, b);
        }
        if let Some(b) = &self.auth {
            w.zbuf(out, ext_key::AUTH, b);
        }
        if let Some(b) = &self.multilink {
            w.zbuf(out, ext_key::MULTILINK, b);
        }
        if self.low_latency {
            w.unit(out, ext_key::LOW_LATENCY);
        }
        if self.compression {
            w.unit(out, ext_key::COMPRESSION);
        }
        if self.patch != 0 {
            w.z64(out, ext_key::PATCH, self.patch);
        }
        if let Some(b) = &self.region_name {
            w.zbuf(out, ext_key::REGION_NAME, b);
        }
    }
}

/// OPEN: the second handshake exchange (syn echoes the cookie, ack completes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// False for the syn, true for the ack.
    pub ack: bool,
    /// The sender's lease: the peer drops the link after this long without input.
    pub lease: Duration,
    /// First sequence number the sender will use on every channel.
    pub initial_sn: u32,
    /// The cookie from INIT ack, echoed verbatim (syn only).
    pub cookie: Bytes,
    /// QoS confirmed.
    pub qos: bool,
    /// Shared-memory extension body, if any.
    pub shm: Option<Bytes>,
    /// Authentication extension body, if any.
    pub auth: Option<Bytes>,
    /// Multilink syn extension body, if any.
    pub multilink_syn: Option<Bytes>,
    /// Multilink acknowledged.
    pub multilink_ack: bool,
    /// Low-latency transport confirmed.
    pub low_latency: bool,
    /// Compression confirmed.
    pub compression: bool,
    /// Remote bound extension value, if any.
    pub remote_bound: Option<u64>,
}

impl Open {
    /// A message with no extensions.
    pub fn new(ack: bool, lease: Duration, initial_sn: u32, cookie: Bytes) -> Self {
        Open {
            ack,
            lease,
            initial_sn,
            cookie,
            qos: false,
            shm: None,
            auth: None,
            multilink_syn: None,
            multilink_ack: false,
            low_latency: false,
            compression: false,
            remote_bound: None,
        }
    }

    fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let ack = header & flag::A != 0;
        let lease = r.zint("OPEN lease")?;
        let lease = if header & flag::B != 0 {
            Duration::from_secs(lease)
        } else {
            Duration::from_millis(lease)
        };
        let initial_sn = r.z32("OPEN initial sn")?;
        let cookie = if ack {
            Bytes::new()
        } else {
            let len = r.z16("OPEN cookie")?;
            r.bytes(len as usize, "OPEN cookie")?
        };
        let mut m = Open::new(ack, lease, initial_sn, cookie);
        let mut exts = ExtIter::new(header & flag::Z != 0);
        while let Some(e) = exts.next(r, "OPEN extension")? {
            match e.key {
                ext_key::QOS => m.qos = true,
                ext_key::SHM => m.shm = Some(e.zbuf("OPEN shm")?.clone()),
                // Newer Zenoh sends the shm extension as a z64; accept and keep nothing.
                k if k == ext::Z64 | 0x02 => {}
                ext_key::AUTH => m.auth = Some(e.zbuf("OPEN auth")?.clone()),
                ext_key::MULTILINK => m.multilink_syn = Some(e.zbuf("OPEN multilink")?.clone()),
                ext_key::MULTILINK_ACK => m.multilink_ack = true,
                ext_key::LOW_LATENCY => m.low_latency = true,
                ext_key::COMPRESSION => m.compression = true,
                ext_key::PATCH => m.remote_bound = Some(e.z64("OPEN remote bound")?),
                _ => e.unknown("OPEN")?,
            }
        }
        Ok(m)
    }

    fn write(&self, out: &mut Vec<u8>) {
        // Whole seconds travel in seconds, as Zenoh writes them. Decide on the full
        // u128 milliseconds: a lease received in seconds can exceed u64::MAX ms, and
        // must re-encode as the same seconds rather than a clamped millisecond count.
        let in_secs = self.lease.as_millis().is_multiple_of(1000);
        let lease = if in_secs {
            self.lease.as_secs()
        } else {
            self.lease.as_millis().min(u64::MAX as u128) as u64
        };
        let has_exts = self.qos
            || self.shm.is_some()
            || self.auth.is_some()
            || self.multilink_syn.is_some()
            || self.multilink_ack
            || self.low_latency
            || self.compression
            || self.remote_bound.is_some();
        let mut h = id::OPEN;
        if self.ack {
            h |= flag::A;
        }
        if in_secs {
            h |= flag::B;
        }
        if has_exts {
            h |= flag::Z;
        }
        out.push(h);
        write_zint(out, lease);
        write_zint(out, self.initial_sn as u64);
        if !self.ack {
            write_zbytes(out, &self.cookie);
        }
        let mut w = ExtWriter::new();
        if self.qos {
            w.unit(out, ext_key::QOS);
        }
        if let Some(b) = &self.shm {
            w.zbuf(out, ext_key::SHM, b);
        }
        if let Some(b) = &self.auth {
            w.zbuf(out, ext_key::AUTH, b);
        }
        if let Some(b) = &self.multilink_syn {
            w.zbuf(out, ext_key::MULTILINK, b);
        }
        if self.multilink_ack {
            w.unit(out, ext_key::MULTILINK_ACK);
        }
        if self.low_latency {
            w.unit(out, ext_key::LOW_LATENCY);
        }
        if self.compression {
            w.unit(out, ext_key::COMPRESSION);
        }
        if let Some(v) = self.remote_bound {
            w.z64(out, ext_key::PATCH, v);
        }
    }
}

/// Why a link or transport was closed, as carried by CLOSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// No particular reason (a normal close).
    Generic,
    /// Something the peer asked for is not supported.
    Unsupported,
    /// The peer sent something invalid.
    Invalid,
    /// Too many transports.
    MaxSessions,
    /// Too many links on one transport.
    MaxLinks,
    /// The lease expired.
    Expired,
    /// The peer did not answer.
    Unresponsive,
    /// The node reached its own listener.
    ConnectionToSelf,
    /// A code this version does not know.
    Other(u8),
}

impl CloseReason {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            CloseReason::Generic => 0,
            CloseReason::Unsupported => 1,
            CloseReason::Invalid => 2,
            CloseReason::MaxSessions => 3,
            CloseReason::MaxLinks => 4,
            CloseReason::Expired => 5,
            CloseReason::Unresponsive => 6,
            CloseReason::ConnectionToSelf => 7,
            CloseReason::Other(c) => c,
        }
    }

    /// The reason for a wire code.
    pub fn from_code(c: u8) -> Self {
        match c {
            0 => CloseReason::Generic,
            1 => CloseReason::Unsupported,
            2 => CloseReason::Invalid,
            3 => CloseReason::MaxSessions,
            4 => CloseReason::MaxLinks,
            5 => CloseReason::Expired,
            6 => CloseReason::Unresponsive,
            7 => CloseReason::ConnectionToSelf,
            c => CloseReason::Other(c),
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Generic => f.write_str("generic"),
            CloseReason::Unsupported => f.write_str("unsupported"),
            CloseReason::Invalid => f.write_str("invalid"),
            CloseReason::MaxSessions => f.write_str("too many sessions"),
            CloseReason::MaxLinks => f.write_str("too many links"),
            CloseReason::Expired => f.write_str("lease expired"),
            CloseReason::Unresponsive => f.write_str("unresponsive"),
            CloseReason::ConnectionToSelf => f.write_str("connection to self"),
            CloseReason::Other(c) => write!(f, "reason code {c}"),
        }
    }
}

/// CLOSE: ends a link, or the whole transport when `session` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    /// Why.
    pub reason: CloseReason,
    /// True to close the whole transport, false for this link only.
    pub session: bool,
}

/// The header of a FRAME; the network messages it carries follow it in the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Which channel of the priority.
    pub reliability: Reliability,
    /// Sequence number on that channel.
    pub sn: u32,
    /// The channel's priority (the QoS extension; Data when absent).
    pub priority: Priority,
}

impl FrameHeader {
    fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let reliability = reliability_of(header);
        let sn = r.z32("FRAME sn")?;
        let priority = read_channel_exts(r, header, "FRAME")?.0;
        Ok(FrameHeader {
            reliability,
            sn,
            priority,
        })
    }

    /// Appends the header (message id, flags, SN and the QoS extension when needed).
    pub fn write(&self, out: &mut Vec<u8>) {
        let qos = self.priority != Priority::Data;
        out.push(id::FRAME | reliable_flag(self.reliability) | if qos { flag::Z } else { 0 });
        write_zint(out, self.sn as u64);
        if qos {
            ExtWriter::new().z64(out, ext_key::FRAME_QOS, self.priority as u64);
        }
    }
}

/// FRAGMENT: one slice of a network message too large for a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Which channel of the priority.
    pub reliability: Reliability,
    /// True when more fragments of this message follow.
    pub more: bool,
    /// Sequence number on that channel.
    pub sn: u32,
    /// The channel's priority.
    pub priority: Priority,
    /// Set on the first fragment of a message.
    pub first: bool,
    /// Set on an empty fragment meaning "the rest was dropped".
    pub drop: bool,
    /// The slice of the serialized message (runs to the end of the batch).
    pub payload: Bytes,
}

impl Fragment {
    fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let reliability = reliability_of(header);
        let more = header & flag::B != 0;
        let sn = r.z32("FRAGMENT sn")?;
        let (priority, first, drop) = read_channel_exts(r, header, "FRAGMENT")?;
        Ok(Fragment {
            reliability,
            more,
            sn,
            priority,
            first,
            drop,
            payload: r.rest(),
        })
    }

    /// Appends the fragment header, without the payload.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        let qos = self.priority != Priority::Data;
        let has_exts = qos || self.first || self.drop;
        let mut h = id::FRAGMENT | reliable_flag(self.reliability);
        if self.more {
            h |= flag::B;
        }
        if has_exts {
            h |= flag::Z;
        }
        out.push(h);
        write_zint(out, self.sn as u64);
        let mut w = ExtWriter::new();
        if qos {
            w.z64(out, ext_key::FRAME_QOS, self.priority as u64);
        }
        if self.first {
            w.unit(out, ext_key::FRAGMENT_FIRST);
        }
        if self.drop {
            w.unit(out, ext_key::FRAGMENT_DROP);
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        self.write_header(out);
        out.extend_from_slice(&self.payload);
    }
}

/// The body of a transport OAM message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OamBody {
    /// No body.
    Unit,
    /// An integer.
    Z64(u64),
    /// Bytes.
    ZBuf(Bytes),
}

/// Transport OAM: operations and management messages between transports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportOam {
    /// The OAM id, which says how to read the body.
    pub id: u16,
    /// The priority of the channel it travels on.
    pub priority: Priority,
    /// The body.
    pub body: OamBody,
}

impl TransportOam {
    fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let id = r.z16("OAM id")?;
        let priority = read_channel_exts(r, header, "OAM")?.0;
        let body = match (header >> 5) & 0b11 {
            0b00 => OamBody::Unit,
            0b01 => OamBody::Z64(r.zint("OAM body")?),
            0b10 => OamBody::ZBuf(r.zbytes("OAM body")?),
            _ => return Err(DecodeError::malformed("OAM", "reserved body encoding")),
        };
        Ok(TransportOam { id, priority, body })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let enc = match self.body {
            OamBody::Unit => 0b00,
            OamBody::Z64(_) => 0b01,
            OamBody::ZBuf(_) => 0b10,
        };
        let qos = self.priority != Priority::Data;
        out.push(id::OAM | (enc << 5) | if qos { flag::Z } else { 0 });
        write_zint(out, self.id as u64);
        if qos {
            ExtWriter::new().z64(out, ext_key::FRAME_QOS, self.priority as u64);
        }
        match &self.body {
            OamBody::Unit => {}
            OamBody::Z64(v) => write_zint(out, *v),
            OamBody::ZBuf(b) => write_zbytes(out, b),
        }
    }
}

/// A transport-layer message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportMessage {
    /// INIT syn or ack.
    Init(Init),
    /// OPEN syn or ack.
    Open(Open),
    /// CLOSE.
    Close(Close),
    /// KEEP_ALIVE.
    KeepAlive,
    /// FRAME header; its network messages follow as separate [`BatchItem`]s.
    Frame(FrameHeader),
    /// FRAGMENT.
    Fragment(Fragment),
    /// Transport OAM.
    Oam(TransportOam),
}

impl TransportMessage {
    /// Decodes one transport message. A FRAME yields only its header.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        let header = r.u8("transport message header")?;
        Ok(match header & flag::ID {
            id::INIT => TransportMessage::Init(Init::read(r, header)?),
            id::OPEN => TransportMessage::Open(Open::read(r, header)?),
            id::CLOSE => {
                let reason = CloseReason::from_code(r.u8("CLOSE reason")?);
                skip_exts(r, header, "CLOSE")?;
                TransportMessage::Close(Close {
                    reason,
                    session: header & flag::A != 0,
                })
            }
            id::KEEP_ALIVE => {
                skip_exts(r, header, "KEEP_ALIVE")?;
                TransportMessage::KeepAlive
            }
            id::FRAME => TransportMessage::Frame(FrameHeader::read(r, header)?),
            id::FRAGMENT => TransportMessage::Fragment(Fragment::read(r, header)?),
            id::OAM => TransportMessage::Oam(TransportOam::read(r, header)?),
            id::JOIN => {
                return Err(DecodeError::malformed(
                    "JOIN",
                    "multicast JOIN received on a unicast link",
                ));
            }
            other => {
                return Err(DecodeError::malformed(
                    "transport message",
                    format!("unknown message id 0x{other:02x} (header 0x{header:02x})"),
                ));
            }
        })
    }

    /// Encodes the message. A FRAME writes only its header.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            TransportMessage::Init(m) => m.write(out),
            TransportMessage::Open(m) => m.write(out),
            TransportMessage::Close(m) => {
                out.push(id::CLOSE | if m.session { flag::A } else { 0 });
                out.push(m.reason.code());
            }
            TransportMessage::KeepAlive => out.push(id::KEEP_ALIVE),
            TransportMessage::Frame(h) => h.write(out),
            TransportMessage::Fragment(m) => m.write(out),
            TransportMessage::Oam(m) => m.write(out),
        }
    }
}

fn reliability_of(header: u8) -> Reliability {
    if header & flag::A != 0 {
        Reliability::Reliable
    } else {
        Reliability::BestEffort
    }
}

fn reliable_flag(r: Reliability) -> u8 {
    match r {
        Reliability::Reliable => flag::A,
        Reliability::BestEffort => 0,
    }
}

/// Reads the extensions of FRAME, FRAGMENT and OAM: (priority, first, drop).
fn read_channel_exts(
    r: &mut Reader,
    header: u8,
    what: &'static str,
) -> DecodeResult<(Priority, bool, bool)> {
    let (mut priority, mut first, mut drop) = (Priority::Data, false, false);
    let mut exts = ExtIter::new(header & flag::Z != 0);
    while let Some(e) = exts.next(r, what)? {
        match (e.key, &e.body) {
            (ext_key::FRAME_QOS, ExtBody::Z64(v)) => {
                if *v > 7 {
                    return Err(DecodeError::malformed(what, format!("priority {v} > 7")));
                }
                priority = Priority::from_bits(*v as u8);
            }
            (ext_key::FRAGMENT_FIRST, _) if what == "FRAGMENT" => first = true,
            (ext_key::FRAGMENT_DROP, _) if what == "FRAGMENT" => drop = true,
            _ => e.unknown(what)?,
        }
    }
    Ok((priority, first, drop))
}

fn skip_exts(r: &mut Reader, header: u8, what: &'static str) -> DecodeResult<()> {
    let mut exts = ExtIter::new(header & flag::Z != 0);
    while let Some(e) = exts.next(r, what)? {
        Ext::unknown(&e, what)?;
    }
    Ok(())
}

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
    #[inline]
    pub fn next_push(&mut self) -> DecodeResult<Option<Push>> {
        if self.failed || !self.in_frame {
            return Ok(None);
        }
        match self.r.peek_u8() {
            Some(h) if h & flag::ID == super::network::id::PUSH => {}
            _ => return Ok(None),
        }
        let header = self.r.u8("network message")?;
        match Push::read(&mut self.r, header) {
            Ok(push) => Ok(Some(push)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Bytes {
        let s: String = s.split_whitespace().collect();
        Bytes::from(
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
                .collect::<Vec<u8>>(),
        )
    }

    fn one(b: Bytes) -> TransportMessage {
        let mut r = Reader::new(b.clone());
        let m = TransportMessage::read(&mut r).expect("decode");
        assert!(r.is_empty(), "trailing bytes after {m:?}");
        let mut out = Vec::new();
        m.write(&mut out);
        assert_eq!(out, b.to_vec(), "re-encoding {m:?}");
        m
    }

    #[test]
    fn handshake_keepalive_capture() {
        // Batches 0-3 and 16 of wire-captures/handshake-keepalive.jsonl.
        let syn = one(hex("c109f2583cd191937e33053095359d542150010ac8ff812701"));
        let TransportMessage::Init(syn) = syn else {
            panic!("not INIT")
        };
        assert!(!syn.ack);
        assert_eq!(syn.whatami, WhatAmI::Client);
        assert_eq!(syn.zid.to_string(), "15021549d35953005337e9391d13c58");
        assert_eq!(syn.batch_size, 65480);
        assert_eq!(syn.qos, Some(QosExt::Plain));
        assert_eq!(syn.patch, 1);

        let ack = one(hex(
            "e109f1ed42acc460a4c4c19f42eefca936133f0a00c03130d916e17ea50dff418d40f8b7623aeee8c773
             30fdb2a4eef7990033c4f67a03ff8eca3ebf80428cb5cfaa0a61593cc7b8812701",
        ));
        let TransportMessage::Init(ack) = ack else {
            panic!("not INIT")
        };
        assert!(ack.ack);
        assert_eq!(ack.whatami, WhatAmI::Peer);
        assert_eq!(ack.batch_size, 49152);
        assert_eq!(ack.cookie.len(), 49);

        let open_syn = one(hex(
            "4201a8d4d3233130d916e17ea50dff418d40f8b7623aeee8c77330fdb2a4eef7990033c4f67a03ff8eca
             3ebf80428cb5cfaa0a61593cc7b8",
        ));
        let TransportMessage::Open(open_syn) = open_syn else {
            panic!("not OPEN")
        };
        assert_eq!(open_syn.lease, Duration::from_secs(1));
        assert_eq!(open_syn.initial_sn, 74770984);
        assert_eq!(open_syn.cookie, ack.cookie);
        let open_ack = one(hex("620a9feeb44b"));
        let TransportMessage::Open(open_ack) = open_ack else {
            panic!("not OPEN")
        };
        assert!(open_ack.ack);
        assert_eq!(open_ack.lease, Duration::from_secs(10));
        assert_eq!(open_ack.initial_sn, 158152479);

        assert_eq!(one(hex("04")), TransportMessage::KeepAlive);
        assert_eq!(
            one(hex("0300")),
            TransportMessage::Close(Close {
                reason: CloseReason::Generic,
                session: false
            })
        );
        assert_eq!(
            one(hex("0302")),
            TransportMessage::Close(Close {
                reason: CloseReason::Invalid,
                session: false
            })
        );
    }

    #[test]
    fn open_lease_in_milliseconds() {
        let m = TransportMessage::Open(Open::new(false, Duration::from_millis(1500), 9, hex("aa")));
        let mut out = Vec::new();
        m.write(&mut out);
        assert_eq!(out, hex("02dc0b0901aa").to_vec());
        assert_eq!(one(Bytes::from(out)), m);
    }

    #[test]
    fn fragment_and_frame_headers() {
        let f = Fragment {
            reliability: Reliability::Reliable,
            more: true,
            sn: 5,
            priority: Priority::InteractiveLow,
            first: true,
            drop: false,
            payload: hex("0102"),
        };
        let mut out = Vec::new();
        TransportMessage::Fragment(f.clone()).write(&mut out);
        assert_eq!(out, hex("e605b10302 0102").to_vec());
        assert_eq!(one(Bytes::from(out)), TransportMessage::Fragment(f));
        let h = FrameHeader {
            reliability: Reliability::BestEffort,
            sn: 300,
            priority: Priority::Data,
        };
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out, hex("05ac02").to_vec());
    }

    #[test]
    fn bad_input_is_named() {
        let err = TransportMessage::read(&mut Reader::new(hex("1f"))).unwrap_err();
        assert!(err.to_string().contains("unknown message id"), "{err}");
        let err = TransportMessage::read(&mut Reader::new(hex("8300 95"))).unwrap_err();
        assert!(
            err.to_string().contains("unknown mandatory extension"),
            "{err}"
        );
        let err = TransportMessage::read(&mut Reader::new(hex("0109f3"))).unwrap_err();
        assert!(err.to_string().contains("whatami"), "{err}");
        let err = BatchReader::read_all(hex("c109f2")).unwrap_err();
        assert!(
            err.to_string().contains("past the end of its batch"),
            "{err}"
        );
    }

    #[test]
    fn next_push_takes_pushes_in_frames_only() {
        use crate::wire::network::{NetQos, PushBody, WireExpr};
        use crate::wire::zenoh::Put;
        let push = |key: &str| Push {
            wire_expr: WireExpr::key(key),
            qos: NetQos::default(),
            timestamp: None,
            node_id: 0,
            body: PushBody::Put(Put {
                timestamp: None,
                encoding: Default::default(),
                source_info: None,
                attachment: None,
                payload: Bytes::from_static(b"v"),
                unknown_exts: Default::default(),
            }),
            unknown_exts: Default::default(),
        };
        let frame = FrameHeader {
            reliability: Reliability::Reliable,
            sn: 1,
            priority: Priority::Data,
        };
        // A PUSH before any frame is not taken for one.
        let mut batch = Vec::new();
        push("early").write(&mut batch);
        let mut r = BatchReader::new(Bytes::from(batch));
        assert_eq!(r.next_push().unwrap(), None, "outside a frame");
        let early = r.next_item().unwrap_err();
        assert!(early.to_string().contains("unknown"), "{early}");

        let mut batch = Vec::new();
        frame.write(&mut batch);
        push("a").write(&mut batch);
        push("b").write(&mut batch);
        TransportMessage::KeepAlive.write(&mut batch);
        let mut r = BatchReader::new(Bytes::from(batch));
        assert_eq!(r.next_push().unwrap(), None, "the frame header comes first");
        assert!(matches!(
            r.next_item().unwrap(),
            Some(BatchItem::Transport(TransportMessage::Frame(_)))
        ));
        assert_eq!(r.next_push().unwrap(), Some(push("a")));
        assert_eq!(r.next_push().unwrap(), Some(push("b")));
        assert_eq!(r.next_push().unwrap(), None, "a transport message is next");
        assert_eq!(
            r.next_item().unwrap(),
            Some(BatchItem::Transport(TransportMessage::KeepAlive))
        );
        assert_eq!(r.next_item().unwrap(), None);

        // A PUSH cut short is an error naming the batch, and ends the batch.
        let mut batch = Vec::new();
        frame.write(&mut batch);
        push("cut").write(&mut batch);
        batch.truncate(batch.len() - 1);
        let mut r = BatchReader::new(Bytes::from(batch));
        r.next_item().unwrap();
        let err = r.next_push().unwrap_err();
        assert!(
            err.to_string().contains("past the end of its batch"),
            "{err}"
        );
        assert_eq!(r.next_push().unwrap(), None);
        assert_eq!(r.next_item().unwrap(), None);
    }

    #[test]
    fn framer_splits_and_rejects_oversized() {
        let mut f = StreamFramer::new(16);
        f.extend(&[2, 0, 3, 0, 1]);
        assert_eq!(f.next_batch().unwrap(), Some(hex("0300")));
        assert_eq!(f.next_batch().unwrap(), None);
        f.extend(&[0, 4]);
        assert_eq!(f.next_batch().unwrap(), Some(hex("04")));
        f.extend(&[15, 0]);
        assert_eq!(f.next_batch(), Err(OversizedBatch { len: 17, max: 16 }));
    }
}
