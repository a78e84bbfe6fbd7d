//! Network OAM messages (link-state among routers).

use super::*;

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
