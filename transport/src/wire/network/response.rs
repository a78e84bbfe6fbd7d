//! RESPONSE and RESPONSE_FINAL: the answers to a request and their end.

use super::*;

/// The entity that answered a request (extension `43` of RESPONSE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderId {
    /// The responding node.
    pub zid: ZenohId,
    /// The responding entity (queryable) within that node.
    pub eid: u32,
}

impl ResponderId {
    fn read_ext(e: &Ext) -> DecodeResult<Self> {
        const WHAT: &str = "responder id";
        let mut sub = Reader::new(e.zbuf(WHAT)?.clone());
        let zid = read_flagged_zid(&mut sub, WHAT)?;
        let eid = sub.z32(WHAT)?;
        expect_end(&sub, WHAT)?;
        Ok(ResponderId { zid, eid })
    }
}

/// The body of a RESPONSE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// A value or deletion.
    Reply(zenoh::Reply),
    /// An error.
    Err(zenoh::Err),
}

/// One answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The id of the answered request.
    pub request_id: u32,
    /// The key expression of the answer.
    pub wire_expr: WireExpr,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
    /// Who answered, if stated.
    pub responder: Option<ResponderId>,
    /// Optional extensions not modelled here (e.g. Zenoh's timestamp stack), kept as
    /// received and written after the others.
    pub unknown_exts: UnknownExts,
    /// The reply or error.
    pub body: ResponseBody,
}

impl Response {
    /// Decodes a RESPONSE whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "RESPONSE";
        check_id(header, id::RESPONSE, WHAT)?;
        let request_id = r.z32("request id")?;
        let wire_expr = WireExpr::read_flagged(r, header)?;
        let mut c = CommonExts::default();
        let mut responder = None;
        let mut exts = ExtIter::new(header & flag::Z != 0);
        loop {
            let at = r.position();
            let Some(e) = exts.next(r, WHAT)? else { break };
            if c.take(&e, WHAT, false)? {
                continue;
            }
            match e.key {
                key::RESPONDER_ID => responder = Some(ResponderId::read_ext(&e)?),
                _ => c.unknown.keep(&e, r.since(at), WHAT)?,
            }
        }
        let bh = r.u8("response body")?;
        let body = match bh & flag::ID {
            zenoh::id::REPLY => ResponseBody::Reply(zenoh::Reply::read(r, bh)?),
            zenoh::id::ERR => ResponseBody::Err(zenoh::Err::read(r, bh)?),
            other => {
                return Err(DecodeError::malformed(
                    WHAT,
                    format!("body id 0x{other:02x} is neither REPLY nor ERR"),
                ));
            }
        };
        Ok(Response {
            request_id,
            wire_expr,
            qos: c.qos,
            timestamp: c.timestamp,
            responder,
            unknown_exts: c.unknown,
            body,
        })
    }

    /// Encodes the RESPONSE, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        if let Some(rid) = &self.responder {
            x.w.zbuf_with(&mut x.buf, key::RESPONDER_ID, |b| {
                write_flagged_zid(b, &rid.zid);
                write_zint(b, rid.eid as u64);
            });
        }
        x.w.unknown(&mut x.buf, &self.unknown_exts);
        out.push(id::RESPONSE | self.wire_expr.flags() | x.z_flag());
        write_zint(out, self.request_id as u64);
        self.wire_expr.write(out);
        out.extend_from_slice(&x.buf);
        match &self.body {
            ResponseBody::Reply(b) => b.write(out),
            ResponseBody::Err(b) => b.write(out),
        }
    }
}

/// The end of the responses to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFinal {
    /// The id of the finished request.
    pub request_id: u32,
    /// Quality of service.
    pub qos: NetQos,
    /// Optional network timestamp.
    pub timestamp: Option<Timestamp>,
}

impl ResponseFinal {
    /// Decodes a RESPONSE_FINAL whose header byte was already read.
    pub fn read(r: &mut Reader, header: u8) -> DecodeResult<Self> {
        const WHAT: &str = "RESPONSE_FINAL";
        check_id(header, id::RESPONSE_FINAL, WHAT)?;
        let request_id = r.z32("request id")?;
        let c = CommonExts::read_all(r, header, WHAT, false)?;
        Ok(ResponseFinal {
            request_id,
            qos: c.qos,
            timestamp: c.timestamp,
        })
    }

    /// Encodes the RESPONSE_FINAL, header included.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut x = ExtsOut::new();
        x.qos(self.qos);
        x.timestamp(&self.timestamp);
        out.push(id::RESPONSE_FINAL | x.z_flag());
        write_zint(out, self.request_id as u64);
        out.extend_from_slice(&x.buf);
    }
}
