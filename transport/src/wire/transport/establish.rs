//! INIT and OPEN, the messages of the handshake, and their extensions.

use super::*;

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

    pub(super) fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
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

    pub(super) fn write(&self, out: &mut Vec<u8>) {
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

    pub(super) fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
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

    pub(super) fn write(&self, out: &mut Vec<u8>) {
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
