//! Link-state lists: the body of network OAM id 1, which routers exchange to build
//! their view of the router graph (Zenoh 1.10.2 `zenoh/src/net/codec/linkstate.rs` and
//! `zenoh/src/net/protocol/linkstate.rs`; facts in `docs/mesh.md`).
//!
//! A [`LinkStateList`] travels as the zbuf body of a [`NetworkOam`] with id
//! [`NetworkOam::LINKSTATE`]. Each [`LinkState`] describes one node of the sender's graph
//! under the sender's own small number for it (its *psid*); the zid appears when the
//! sender wants the receiver to learn or refresh that number, and links name other nodes
//! by their psids on the same sender. This module only moves bytes; the meaning (psid
//! mappings per transport, staleness by `sn`, trees) lives in the session's routing.

use bytes::Bytes;

use super::core::{DecodeError, DecodeResult, Reader, WhatAmI, ZenohId, write_zbytes, write_zint};
use super::network::{NetQos, NetworkOam, OamBody};

/// Bits of a link state's options zint.
pub mod option {
    /// The zid is present.
    pub const ZID: u64 = 0x01;
    /// The whatami byte is present.
    pub const WHATAMI: u64 = 0x02;
    /// The locator list is present.
    pub const LOCATORS: u64 = 0x04;
    /// One weight per link follows the links.
    pub const WEIGHTS: u64 = 0x08;
    /// The node is a region gateway.
    pub const GATEWAY: u64 = 0x10;
}

/// The weight Zenoh applies to a link whose weight is unset (0 on the wire).
pub const DEFAULT_LINK_WEIGHT: u16 = 100;

/// The longest locator string on the wire (its length is a u8-bounded zint).
pub const MAX_LOCATOR_LEN: usize = u8::MAX as usize;

/// One node of the sender's graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    /// The sender's number for this node (Zenoh's graph index; 0 is the sender itself).
    /// Data and declarations name tree roots by this number in their NodeId extension,
    /// which is 16 bits wide, so larger values are rejected.
    pub psid: u16,
    /// The node's own sequence number for its link list; a receiver ignores a state whose
    /// `sn` is not greater than the one it holds.
    pub sn: u64,
    /// The node's zid, when the sender (re)announces which node `psid` is.
    pub zid: Option<ZenohId>,
    /// What the node is (written as 1/2/4, not the 2-bit INIT code).
    pub whatami: Option<WhatAmI>,
    /// The node's locators (present when the sender gossips them; may be empty).
    pub locators: Option<Vec<String>>,
    /// The node's neighbours, as psids of the same sender.
    pub links: Vec<u16>,
    /// The node's weight for each link, in the order of `links` (0 = unset, which means
    /// [`DEFAULT_LINK_WEIGHT`]); `None` when every weight is unset. The encoder writes
    /// exactly one weight per link (missing entries as 0, extra ones dropped).
    pub weights: Option<Vec<u16>>,
    /// The node is a region gateway (Zenoh 1.10 regions; routers among routers send 0).
    pub gateway: bool,
}

/// A list of link states: the body of a LINKSTATE OAM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStateList {
    /// The states, in the sender's order.
    pub states: Vec<LinkState>,
}

/// The whatami byte of link states (`WhatAmI as u8` in Zenoh).
fn whatami_byte(w: WhatAmI) -> u8 {
    match w {
        WhatAmI::Router => 1,
        WhatAmI::Peer => 2,
        WhatAmI::Client => 4,
    }
}

fn whatami_from_byte(b: u8) -> DecodeResult<WhatAmI> {
    match b {
        1 => Ok(WhatAmI::Router),
        2 => Ok(WhatAmI::Peer),
        4 => Ok(WhatAmI::Client),
        _ => Err(DecodeError::malformed(
            "link state whatami",
            format!("{b} is none of 1 (router), 2 (peer), 4 (client)"),
        )),
    }
}

/// Reads a zint that must fit a psid (16 bits).
fn read_psid(r: &mut Reader, what: &'static str) -> DecodeResult<u16> {
    let v = r.zint(what)?;
    u16::try_from(v).map_err(|_| {
        DecodeError::malformed(
            what,
            format!("{v} exceeds 16 bits (psids are 16-bit NodeIds)"),
        )
    })
}

/// Reads an element count, refusing counts that could not fit in what is left (each
/// element takes at least `min_size` bytes), so a hostile count allocates nothing.
fn read_count(r: &mut Reader, min_size: usize, what: &'static str) -> DecodeResult<usize> {
    let n = r.zint(what)?;
    let fits = (r.remaining() / min_size) as u64;
    if n > fits {
        // Not enough bytes for that many elements: the input may be cut short, or lying.
        // Report "incomplete" so a stream reader waits; a whole OAM body is final anyway.
        return Err(DecodeError::Incomplete(what));
    }
    Ok(n as usize)
}

impl LinkState {
    /// The options zint this state is written with.
    pub fn options(&self) -> u64 {
        let mut o = 0;
        if self.zid.is_some() {
            o |= option::ZID;
        }
        if self.whatami.is_some() {
            o |= option::WHATAMI;
        }
        if self.locators.is_some() {
            o |= option::LOCATORS;
        }
        if self.weights.is_some() {
            o |= option::WEIGHTS;
        }
        if self.gateway {
            o |= option::GATEWAY;
        }
        o
    }

    /// The weight of the `i`th link as written (0 when unset).
    pub fn raw_weight(&self, i: usize) -> u16 {
        self.weights
            .as_ref()
            .and_then(|w| w.get(i).copied())
            .unwrap_or(0)
    }

    /// Decodes one link state.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        let options = r.zint("link state options")?;
        // Unknown option bits are ignored, as Zenoh does.
        let psid = read_psid(r, "link state psid")?;
        let sn = r.zint("link state sn")?;
        let zid = if options & option::ZID != 0 {
            Some(ZenohId::read_zlen(r, "link state zid")?)
        } else {
            None
        };
        let whatami = if options & option::WHATAMI != 0 {
            Some(whatami_from_byte(r.u8("link state whatami")?)?)
        } else {
            None
        };
        let locators = if options & option::LOCATORS != 0 {
            let n = read_count(r, 1, "link state locator count")?;
            let mut locs = Vec::with_capacity(n);
            for _ in 0..n {
                let len = r.zint("link state locator")?;
                if len > MAX_LOCATOR_LEN as u64 {
                    return Err(DecodeError::malformed(
                        "link state locator",
                        format!("length {len} exceeds {MAX_LOCATOR_LEN}"),
                    ));
                }
                let b = r.bytes(len as usize, "link state locator")?;
                let s = String::from_utf8(b.to_vec())
                    .map_err(|_| DecodeError::malformed("link state locator", "not valid UTF-8"))?;
                locs.push(s);
            }
            Some(locs)
        } else {
            None
        };
        let n = read_count(r, 1, "link state link count")?;
        let mut links = Vec::with_capacity(n);
        for _ in 0..n {
            links.push(read_psid(r, "link state link")?);
        }
        let weights = if options & option::WEIGHTS != 0 {
            let mut w = Vec::with_capacity(n);
            for _ in 0..n {
                let v = r.zint("link state weight")?;
                w.push(u16::try_from(v).map_err(|_| {
                    DecodeError::malformed("link state weight", format!("{v} exceeds 16 bits"))
                })?);
            }
            Some(w)
        } else {
            None
        };
        Ok(LinkState {
            psid,
            sn,
            zid,
            whatami,
            locators,
            links,
            weights,
            gateway: options & option::GATEWAY != 0,
        })
    }

    /// Encodes this link state.
    pub fn write(&self, out: &mut Vec<u8>) {
        write_zint(out, self.options());
        write_zint(out, self.psid as u64);
        write_zint(out, self.sn);
        if let Some(zid) = &self.zid {
            zid.write_zlen(out);
        }
        if let Some(w) = self.whatami {
            out.push(whatami_byte(w));
        }
        if let Some(locs) = &self.locators {
            write_zint(out, locs.len() as u64);
            for l in locs {
                // Locators longer than the u8 bound cannot be written; an empty string
                // keeps the count right (no real locator is that long).
                let b = if l.len() <= MAX_LOCATOR_LEN {
                    l.as_bytes()
                } else {
                    &[]
                };
                write_zbytes(out, b);
            }
        }
        write_zint(out, self.links.len() as u64);
        for l in &self.links {
            write_zint(out, *l as u64);
        }
        if self.weights.is_some() {
            for i in 0..self.links.len() {
                write_zint(out, self.raw_weight(i) as u64);
            }
        }
    }
}

impl LinkStateList {
    /// Decodes a list from the whole body of a LINKSTATE OAM. Bytes after the last state
    /// are ignored, as Zenoh ignores them.
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        // A state takes at least 4 bytes: options, psid, sn, link count.
        let n = read_count(r, 4, "link state count")?;
        let mut states = Vec::with_capacity(n);
        for _ in 0..n {
            states.push(LinkState::read(r)?);
        }
        Ok(LinkStateList { states })
    }

    /// Decodes a list from an OAM body.
    pub fn decode(body: Bytes) -> DecodeResult<Self> {
        Self::read(&mut Reader::new(body))
    }

    /// Encodes the list.
    pub fn write(&self, out: &mut Vec<u8>) {
        write_zint(out, self.states.len() as u64);
        for s in &self.states {
            s.write(out);
        }
    }

    /// The list as a network OAM (id 1, zbuf body, Control priority with Block as Zenoh
    /// sends it).
    pub fn to_oam(&self) -> NetworkOam {
        let mut body = Vec::new();
        self.write(&mut body);
        NetworkOam {
            id: NetworkOam::LINKSTATE,
            qos: NetQos::OAM,
            timestamp: None,
            body: OamBody::ZBuf(Bytes::from(body)),
        }
    }

    /// The list carried by a network OAM, which must have id 1 and a zbuf body.
    pub fn from_oam(oam: &NetworkOam) -> DecodeResult<Self> {
        if oam.id != NetworkOam::LINKSTATE {
            return Err(DecodeError::malformed(
                "link state OAM",
                format!("OAM id {} is not LINKSTATE (1)", oam.id),
            ));
        }
        match &oam.body {
            OamBody::ZBuf(b) => Self::decode(b.clone()),
            OamBody::Unit | OamBody::Z64(_) => Err(DecodeError::malformed(
                "link state OAM",
                "body is not a zbuf",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn decode(b: &[u8]) -> DecodeResult<LinkStateList> {
        LinkStateList::decode(Bytes::copy_from_slice(b))
    }

    fn err_text(b: &[u8]) -> String {
        decode(b).expect_err("should fail").to_string()
    }

    /// The OAM body of `shared/wire-captures/router-mesh.jsonl` record 5, 1-based (router
    /// B to router A right after OPEN): B's own state (psid 0, sn 2, locator, link to psid
    /// 1) and A's (psid 1, sn 0, no links). Hand-checked in `docs/mesh.md`.
    const CAPTURED: &str = "02
        07 00 02 10 5398e4fe2ccc3d63ee345f878e6590c1 01 01
            13 7463702f3132372e302e302e313a3530383731 01 01
        03 01 00 10 08cf271e7b0bac9a9d582eb6c7a061e2 01 00";

    #[test]
    fn decodes_the_captured_body() {
        let bytes = unhex(CAPTURED);
        assert_eq!(bytes.len(), 0x43, "the OAM's zbuf length in the capture");
        let l = decode(&bytes).expect("decode");
        let b: ZenohId = "c190658e875f34ee633dcc2cfee49853".parse().unwrap();
        let a: ZenohId = "e261a0c7b62e589d9aac0b7b1e27cf08".parse().unwrap();
        assert_eq!(
            l.states,
            vec![
                LinkState {
                    psid: 0,
                    sn: 2,
                    zid: Some(b),
                    whatami: Some(WhatAmI::Router),
                    locators: Some(vec!["tcp/127.0.0.1:50871".into()]),
                    links: vec![1],
                    weights: None,
                    gateway: false,
                },
                LinkState {
                    psid: 1,
                    sn: 0,
                    zid: Some(a),
                    whatami: Some(WhatAmI::Router),
                    locators: None,
                    links: vec![],
                    weights: None,
                    gateway: false,
                },
            ]
        );
        let mut out = Vec::new();
        l.write(&mut out);
        assert_eq!(out, bytes, "re-encoding reproduces Zenoh's bytes");
    }

    #[test]
    fn weights_and_gateway_layout() {
        let s = LinkState {
            psid: 3,
            sn: 300,
            zid: None,
            whatami: Some(WhatAmI::Client),
            locators: Some(vec![]),
            links: vec![0, 200],
            weights: Some(vec![0, 1000]),
            gateway: true,
        };
        let mut out = Vec::new();
        LinkStateList {
            states: vec![s.clone()],
        }
        .write(&mut out);
        // count 1; options W|L|H|G = 0x1e; psid 3; sn 300 = ac 02; whatami 4; 0 locators;
        // 2 links 0 and 200 (c8 01); weights 0 and 1000 (e8 07).
        assert_eq!(out, unhex("01 1e 03 ac02 04 00 02 00 c801 00 e807"));
        assert_eq!(decode(&out).unwrap().states, vec![s]);
    }

    #[test]
    fn encoder_writes_one_weight_per_link() {
        let mut s = LinkState {
            psid: 0,
            sn: 1,
            zid: None,
            whatami: None,
            locators: None,
            links: vec![1, 2],
            weights: Some(vec![7]),
            gateway: false,
        };
        let mut out = Vec::new();
        s.write(&mut out);
        assert_eq!(out, unhex("08 00 01 02 01 02 07 00"));
        s.weights = Some(vec![7, 8, 9]);
        out.clear();
        s.write(&mut out);
        assert_eq!(out, unhex("08 00 01 02 01 02 07 08"));
    }

    #[test]
    fn bad_input_is_named() {
        // whatami 3.
        let t = err_text(&unhex("01 02 00 00 03 00"));
        assert!(t.contains("whatami") && t.contains('3'), "{t}");
        // psid 65536.
        let t = err_text(&unhex("01 00 808004 00 00"));
        assert!(t.contains("psid") && t.contains("65536"), "{t}");
        // link psid 70000.
        let t = err_text(&unhex("01 00 00 00 01 f0a204"));
        assert!(t.contains("link") && t.contains("70000"), "{t}");
        // weight 65536.
        let t = err_text(&unhex("01 08 00 00 01 01 808004"));
        assert!(t.contains("weight"), "{t}");
        // zero zid, and a 17-byte zid.
        let t = err_text(&unhex("01 01 00 00 01 00 00"));
        assert!(t.contains("zid"), "{t}");
        let t = err_text(&unhex(
            "01 01 00 00 11 0102030405060708090a0b0c0d0e0f1011 00",
        ));
        assert!(t.contains("zid"), "{t}");
        // A locator that is not UTF-8, one longer than 255 bytes.
        let t = err_text(&unhex("01 04 00 00 01 02 ff fe 00"));
        assert!(t.contains("locator") && t.contains("UTF-8"), "{t}");
        let t = err_text(&unhex("01 04 00 00 01 8002"));
        assert!(t.contains("locator") && t.contains("256"), "{t}");
    }

    #[test]
    fn hostile_counts_allocate_nothing() {
        // 2^40 states, 2^40 links, 2^40 locators in a handful of bytes.
        for b in [
            "8080808080 20",
            "01 00 00 00 8080808080 20",
            "01 04 00 00 8080808080 20",
        ] {
            assert!(matches!(decode(&unhex(b)), Err(DecodeError::Incomplete(_))));
        }
    }

    #[test]
    fn unknown_options_and_trailing_bytes_are_ignored() {
        let l = decode(&unhex("01 60 01 05 00 ffff")).unwrap();
        assert_eq!(l.states.len(), 1);
        assert_eq!((l.states[0].psid, l.states[0].sn), (1, 5));
    }

    #[test]
    fn oam_wrapping() {
        let l = LinkStateList {
            states: vec![LinkState {
                psid: 0,
                sn: 9,
                zid: Some(ZenohId::new(0xa1).unwrap()),
                whatami: Some(WhatAmI::Router),
                locators: None,
                links: vec![1],
                weights: None,
                gateway: false,
            }],
        };
        let oam = l.to_oam();
        let mut out = Vec::new();
        oam.write(&mut out);
        // OAM zbuf (0x5f | Z), id 1, QoS ext 21 08, body length 9.
        assert_eq!(out, unhex("df 01 21 08 09 01 03 00 09 01 a1 01 01 01"));
        assert_eq!(LinkStateList::from_oam(&oam).unwrap(), l);
        let mut other = oam.clone();
        other.id = 2;
        assert!(
            LinkStateList::from_oam(&other)
                .unwrap_err()
                .to_string()
                .contains("OAM id 2")
        );
        other.id = 1;
        other.body = OamBody::Z64(3);
        assert!(LinkStateList::from_oam(&other).is_err());
    }
}
