//! INTEREST: a request for declarations matching a key expression.

use super::*;

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
