//! REQUEST: a query routed to queryables, and its target.

use super::*;

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
