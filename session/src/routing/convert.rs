//! Conversions between what applications see (samples, `uhlc` timestamps) and what
//! travels (PUT/DEL bodies, wire timestamps).

use std::num::NonZeroU128;

use bytes::Bytes;
use plexus_transport::wire::network::{NetQos, PushBody};
use plexus_transport::wire::zenoh::{Del, Put};
use plexus_transport::wire::{self, ZenohId};

use crate::encoding::Encoding;
use crate::key_expr::OwnedKeyExpr;
use crate::sample::{Sample, SampleKind};

pub(crate) fn to_uhlc(ts: wire::Timestamp) -> uhlc::Timestamp {
    let id = NonZeroU128::new(ts.id.to_u128()).map(uhlc::ID::from);
    // A zid is never zero, so the fallback is unreachable; keep it total anyway.
    uhlc::Timestamp::new(
        uhlc::NTP64(ts.time),
        id.unwrap_or_else(|| uhlc::ID::from(NonZeroU128::MIN)),
    )
}

pub(crate) fn to_wire_ts(ts: &uhlc::Timestamp) -> Option<wire::Timestamp> {
    let id = ZenohId::new(u128::from_le_bytes(ts.get_id().to_le_bytes()))?;
    Some(wire::Timestamp {
        time: ts.get_time().as_u64(),
        id,
    })
}

/// A sample built from a received PUT or DEL.
#[inline(always)]
pub(crate) fn sample_of(key: OwnedKeyExpr, mut body: PushBody, qos: NetQos) -> Sample {
    sample_taken(key, &mut body, qos)
}

/// The sample a PUT or DEL carries, taking its payload and attachment out of `body`.
#[inline(always)]
pub(crate) fn sample_taken(key: OwnedKeyExpr, body: &mut PushBody, qos: NetQos) -> Sample {
    let (kind, payload, encoding, timestamp, attachment) = match body {
        PushBody::Put(p) => (
            SampleKind::Put,
            std::mem::take(&mut p.payload),
            Encoding::from_wire(std::mem::take(&mut p.encoding)),
            p.timestamp,
            p.attachment.take(),
        ),
        PushBody::Del(d) => (
            SampleKind::Delete,
            Bytes::new(),
            Encoding::default(),
            d.timestamp,
            d.attachment.take(),
        ),
    };
    Sample {
        key_expr: key,
        payload,
        kind,
        encoding,
        timestamp: timestamp.map(to_uhlc),
        attachment,
        priority: qos.priority(),
        congestion_control: qos.congestion_control(),
        express: qos.is_express(),
    }
}

/// The PUT or DEL that carries a sample.
pub(crate) fn push_body_of(sample: &Sample) -> PushBody {
    let timestamp = sample.timestamp.as_ref().and_then(to_wire_ts);
    match sample.kind {
        SampleKind::Put => PushBody::Put(Put {
            timestamp,
            encoding: sample.encoding.to_wire(),
            source_info: None,
            attachment: sample.attachment.clone(),
            payload: sample.payload.clone(),
            unknown_exts: Default::default(),
        }),
        SampleKind::Delete => PushBody::Del(Del {
            timestamp,
            source_info: None,
            attachment: sample.attachment.clone(),
            unknown_exts: Default::default(),
        }),
    }
}
