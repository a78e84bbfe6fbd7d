//! DECLARE and its declarations.

use super::*;

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
