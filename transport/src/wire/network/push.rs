//! PUSH: a publication routed on a key expression.

use super::*;

/// A publication: a PUT or DEL routed on a key expression.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
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
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        let mut push = Push::default();
        push.read_into(r, header)?;
        Ok(push)
    }

    /// Decodes into `self` a PUSH whose header byte was already read, replacing every
    /// field (after an error, `self` holds a mix of old and new): a link's reader
    /// decodes a batch's PUSHes into one place (see
    /// [`Put::read_into`](crate::wire::zenoh::Put::read_into)).
    #[inline]
    pub fn read_into(&mut self, r: &mut Reader, header: u8) -> DecodeResult<()> {
        const WHAT: &str = "PUSH";
        check_id(header, id::PUSH, WHAT)?;
        self.wire_expr = WireExpr::read_flagged(r, header)?;
        let c = CommonExts::read_all(r, header, WHAT, true)?;
        self.qos = c.qos;
        self.timestamp = c.timestamp;
        self.node_id = c.node_id;
        self.unknown_exts = c.unknown;
        self.body.read_into(r)
    }

    /// Encodes the PUSH, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let payload = self.write_head(out);
        out.extend_from_slice(payload);
    }

    /// Encodes the PUSH up to its payload bytes and returns them (see
    /// [`super::zenoh::Put::write_head`]).
    pub fn write_head(&self, out: &mut Vec<u8>) -> &Bytes {
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
