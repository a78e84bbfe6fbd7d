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

mod batch;
mod establish;

pub use batch::{
    BatchItem, BatchReader, OversizedBatch, StreamFramer, write_batch, write_prefixed,
};
pub use establish::{Init, Open, QosExt};

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

#[cfg(test)]
mod tests;
