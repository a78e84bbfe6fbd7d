//! Zenoh 1.10's timestamp instrumentation: extension `47` (zbuf, optional) of PUSH,
//! REQUEST and RESPONSE.
//!
//! A sender that asks for instrumentation attaches a stack saying which interception
//! points record a timestamp (send, route, receive); each node the message passes
//! through at an active point pushes a record. A Zenoh router pushes a ROUTE record on
//! every message it forwards whose stack has the ROUTE flag, and so does Plexus. The
//! codec itself keeps the extension in `unknown_exts`, byte for byte; this module
//! reads and rewrites it only where a record is added.
//!
//! Wire form (the zbuf's content): `conf_flags u8` (bit 0 send, bit 1 route, bit 2
//! receive; never 0), `count zint` (at most 255), then `count` records of
//! `flags u8` (the point, bit 7 set for a user-defined timestamp format) and
//! `timestamp <u8;z>` (an HLC timestamp as [`Timestamp::write`] encodes it).

use bytes::Bytes;

use crate::wire::core::{
    DecodeError, DecodeResult, Ext, ExtBody, Reader, Timestamp, UnknownExts, ext, write_zbytes,
    write_zint,
};
use crate::wire::zenoh::expect_end;

/// The extension key of the timestamp stack (zbuf, id 7, optional).
pub const KEY: u8 = ext::ZBUF | 0x07;
/// Interception point: the message left its publisher or replier.
pub const SEND: u8 = 0x01;
/// Interception point: a router or peer forwarded the message.
pub const ROUTE: u8 = 0x02;
/// Interception point: the message reached a subscriber, queryable or querier.
pub const RECEIVE: u8 = 0x04;
/// Record flag: the timestamp is in a user-defined format, not an HLC timestamp.
pub const CUSTOM: u8 = 0x80;
/// Most records a stack may hold (Zenoh refuses longer ones).
pub const MAX_RECORDS: usize = 255;

/// One record of a stack: where it was taken and the timestamp bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interception {
    /// The interception point (bits 0-2) and the [`CUSTOM`] bit.
    pub flags: u8,
    /// The timestamp as encoded by the node that took it.
    pub timestamp: Bytes,
}

/// A decoded timestamp stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampStack {
    /// The interception points that record ([`SEND`], [`ROUTE`], [`RECEIVE`]).
    pub conf_flags: u8,
    /// The records, oldest first.
    pub records: Vec<Interception>,
}

impl TimestampStack {
    /// Decodes the content of a timestamp-stack extension.
    pub fn read(body: &Bytes) -> DecodeResult<Self> {
        const WHAT: &str = "timestamp stack";
        let mut r = Reader::new(body.clone());
        let conf_flags = r.u8(WHAT)?;
        if conf_flags == 0 {
            return Err(DecodeError::malformed(WHAT, "no interception point is on"));
        }
        let count = r.zint(WHAT)?;
        if count > MAX_RECORDS as u64 {
            return Err(DecodeError::malformed(
                WHAT,
                format!("{count} records, more than {MAX_RECORDS}"),
            ));
        }
        let mut records = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let flags = r.u8(WHAT)?;
            let timestamp = r.zbytes(WHAT)?;
            records.push(Interception { flags, timestamp });
        }
        expect_end(&r, WHAT)?;
        Ok(TimestampStack {
            conf_flags,
            records,
        })
    }

    /// Encodes the content of a timestamp-stack extension.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.conf_flags);
        write_zint(out, self.records.len() as u64);
        for rec in &self.records {
            out.push(rec.flags);
            write_zbytes(out, &rec.timestamp);
        }
    }

    /// The stack among a message's kept extensions, if it has one that decodes.
    pub fn find(exts: &UnknownExts) -> Option<Self> {
        match exts.get(KEY)?.body {
            ExtBody::ZBuf(b) => Self::read(&b).ok(),
            _ => None,
        }
    }
}

/// Adds a ROUTE record holding `ts` to the timestamp stack among `exts`, as a Zenoh
/// router does when it forwards a message: only if there is a stack, it decodes, asks
/// for ROUTE records and has room. Returns whether a record was added. Costs a null
/// check when the message has no kept extensions.
#[inline]
pub fn push_route_record(exts: &mut UnknownExts, ts: impl FnOnce() -> Timestamp) -> bool {
    if exts.is_empty() {
        return false;
    }
    push_record(exts, ROUTE, ts)
}

#[cold]
#[inline(never)]
fn push_record(exts: &mut UnknownExts, point: u8, ts: impl FnOnce() -> Timestamp) -> bool {
    let Some(mut stack) = TimestampStack::find(exts) else {
        return false;
    };
    if stack.conf_flags & point == 0 || stack.records.len() >= MAX_RECORDS {
        return false;
    }
    let mut t = Vec::new();
    ts().write(&mut t);
    stack.records.push(Interception {
        flags: point,
        timestamp: Bytes::from(t),
    });
    let mut body = Vec::new();
    stack.write(&mut body);
    exts.replace(&Ext {
        key: KEY,
        body: ExtBody::ZBuf(Bytes::from(body)),
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ZenohId;

    fn ts(time: u64) -> Timestamp {
        Timestamp {
            time,
            id: ZenohId::new(0xa1b2).expect("nonzero"),
        }
    }

    fn exts_with_stack(conf_flags: u8, records: usize) -> UnknownExts {
        let stack = TimestampStack {
            conf_flags,
            records: (0..records)
                .map(|i| Interception {
                    flags: SEND,
                    timestamp: Bytes::from(vec![i as u8]),
                })
                .collect(),
        };
        let mut body = Vec::new();
        stack.write(&mut body);
        let mut u = UnknownExts::new();
        u.push(&Ext {
            key: 0x0e,
            body: ExtBody::Unit,
        });
        u.push(&Ext {
            key: KEY,
            body: ExtBody::ZBuf(Bytes::from(body)),
        });
        u
    }

    #[test]
    fn layout_and_round_trip() {
        let s = TimestampStack {
            conf_flags: SEND | ROUTE,
            records: vec![Interception {
                flags: SEND,
                timestamp: Bytes::from_static(&[0x05, 0x02, 0xb2, 0xa1]),
            }],
        };
        let mut out = Vec::new();
        s.write(&mut out);
        assert_eq!(out, [0x03, 0x01, 0x01, 0x04, 0x05, 0x02, 0xb2, 0xa1]);
        assert_eq!(TimestampStack::read(&Bytes::from(out)).unwrap(), s);
        assert!(TimestampStack::read(&Bytes::from_static(&[0x00, 0x00])).is_err());
        let mut too_many = vec![0x01];
        write_zint(&mut too_many, 256);
        assert!(TimestampStack::read(&Bytes::from(too_many)).is_err());
        assert!(TimestampStack::read(&Bytes::from_static(&[0x01, 0x00, 0x00])).is_err());
    }

    #[test]
    fn a_route_record_is_added_only_when_asked_for() {
        let mut none = UnknownExts::new();
        assert!(!push_route_record(&mut none, || ts(1)));
        assert!(none.is_empty());

        let mut send_only = exts_with_stack(SEND, 1);
        let before = send_only.clone();
        assert!(!push_route_record(&mut send_only, || ts(1)));
        assert_eq!(send_only, before);

        let mut route = exts_with_stack(SEND | ROUTE | RECEIVE, 1);
        assert!(push_route_record(&mut route, || ts(7)));
        let s = TimestampStack::find(&route).expect("still a stack");
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[1].flags, ROUTE);
        let mut t = Vec::new();
        ts(7).write(&mut t);
        assert_eq!(s.records[1].timestamp, t);
        // The other kept extension is still first, unchanged.
        assert_eq!(route.iter().next().map(|e| e.key), Some(0x0e));

        let mut full = exts_with_stack(ROUTE, MAX_RECORDS);
        assert!(!push_route_record(&mut full, || ts(1)));
    }
}
