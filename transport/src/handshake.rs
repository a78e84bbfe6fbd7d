//! The INIT/OPEN exchange that establishes a unicast link, as a sans-IO state machine.
//!
//! ```text
//! opener → INIT syn   version, whatami, zid, [resolution, batch size], exts (QoS, Patch)
//!        ← INIT ack   version, whatami, zid, [agreed resolution, batch size], cookie, exts
//! opener → OPEN syn   own lease, own initial SN, cookie echoed verbatim
//!        ← OPEN ack   own lease, own initial SN
//! ```
//!
//! One [`Handshake`] drives one side of one link. Feed it every decoded message with
//! [`Handshake::handle_message`], decoding failures with
//! [`Handshake::handle_decode_error`] and the passage of time with
//! [`Handshake::handle_timeout`]; send whatever [`Handshake::poll_transmit`] yields,
//! each message as its own batch; once [`Handshake::established`] returns the agreed
//! parameters, the link belongs to the transport. After an error, send the CLOSE that
//! [`Handshake::poll_transmit`] may still yield, then close the link.
//!
//! Negotiation follows Zenoh 1.10.2 (`unicast/establishment/{open,accept}.rs`): the
//! acceptor answers the per-field minimum SN and request-id resolution, the minimum
//! batch size, QoS only when both sides want it and Patch `min(1, offered)`; MultiLink
//! when both sides hold a [`HandshakeConfig::multilink`] key (see [`crate::multilink`]);
//! it declines every other extension (LowLatency, Compression, Shm) by leaving it out of
//! its INIT ack. The opener refuses an ack whose resolution exceeds its offer. QoS is
//! settled by the INIT exchange.
//!
//! With [`HandshakeConfig::auth`] set, the Auth extension of all four messages carries
//! usrpwd authentication (see [`crate::auth`] for the exchange): the opener proves its
//! credentials, the acceptor checks them against its dictionary and refuses with
//! CLOSE(GENERIC), and [`Established::auth_user`] names the user the opener proved.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::{self, AuthError, UsrPwd};
use crate::multilink::{MultilinkError, MultilinkKey};
use crate::seq;
use crate::wire::transport::{Close, CloseReason, Init, Open, QosExt, TransportMessage, VERSION};
use crate::wire::{DecodeError, WhatAmI, ZenohId};

/// The highest protocol patch level Plexus implements (1: fragment First/Drop markers).
pub const PATCH_CURRENT: u64 = 1;
/// The default lease announced in OPEN (Zenoh's `transport/link/tx/lease`, 10 s).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest remote lease honoured: a peer announcing less gets this much.
pub const MIN_REMOTE_LEASE: Duration = Duration::from_millis(100);
/// The longest remote lease honoured (Plexus's own bound, Zenoh has none): a peer
/// announcing more (up to `u64::MAX` seconds on the wire) gets this much, so that
/// a silent peer cannot hold a link for ever and no timer arithmetic overflows.
pub const MAX_REMOTE_LEASE: Duration = Duration::from_secs(3600);

/// The default time allowed for the whole handshake (Zenoh's open/accept timeout, 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What this side offers and requires during the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Our zenoh id.
    pub zid: ZenohId,
    /// Our kind of node.
    pub whatami: WhatAmI,
    /// The lease we announce: the peer drops the link after this long without input from us.
    pub lease: Duration,
    /// Our largest batch, 2-byte length prefix included.
    pub batch_size: u16,
    /// Our resolution byte (default 0x0a); a 64-bit frame-SN offer is lowered to 32 bit.
    pub resolution: u8,
    /// Whether we want QoS (eight priority channels).
    pub qos: bool,
    /// Our protocol patch level; values above [`PATCH_CURRENT`] are lowered to it.
    pub patch: u64,
    /// How long the whole handshake may take.
    pub timeout: Duration,
    /// A fixed initial SN (reduced to the agreed mask) instead of a random one, for tests.
    pub initial_sn: Option<u32>,
    /// usrpwd authentication: our credentials and the users we let in (none by default).
    pub auth: Option<Arc<UsrPwd>>,
    /// A fixed usrpwd nonce instead of a random one, for tests.
    pub nonce: Option<u64>,
    /// Our multilink key: with it, the handshake offers (opener) or takes up (acceptor)
    /// Zenoh's multilink extension, proving the opener's key to the acceptor.
    pub multilink: Option<Arc<MultilinkKey>>,
}

impl HandshakeConfig {
    /// A configuration with Zenoh's defaults: lease 10 s, batch 65535, resolution 0x0a,
    /// QoS on, patch 1, timeout 10 s, random initial SN.
    pub fn new(zid: ZenohId, whatami: WhatAmI) -> Self {
        HandshakeConfig {
            zid,
            whatami,
            lease: DEFAULT_LEASE,
            batch_size: u16::MAX,
            resolution: crate::wire::transport::DEFAULT_RESOLUTION,
            qos: true,
            patch: PATCH_CURRENT,
            timeout: DEFAULT_TIMEOUT,
            initial_sn: None,
            auth: None,
            nonce: None,
            multilink: None,
        }
    }

    /// The resolution we actually offer: bits 0-3 only, frame SNs capped at 32 bit.
    fn offered_resolution(&self) -> u8 {
        let fsn = (self.resolution & 0b11).min(0b10);
        (self.resolution & 0b1100) | fsn
    }
}

/// The parameters both sides agreed on, available once the handshake completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Established {
    /// The peer's zenoh id.
    pub remote_zid: ZenohId,
    /// The peer's kind of node.
    pub remote_whatami: WhatAmI,
    /// The agreed batch size, 2-byte length prefix included.
    pub batch_size: u16,
    /// The agreed resolution byte (bits 0-1 frame SN, bits 2-3 request id).
    pub resolution: u8,
    /// The mask of every frame SN on this link.
    pub sn_mask: u32,
    /// Whether QoS (eight priority channels) is on.
    pub qos: bool,
    /// The agreed protocol patch level.
    pub patch: u64,
    /// The first SN of each of our TX channels (announced in our OPEN).
    pub local_initial_sn: u32,
    /// The first SN the peer will use on each channel (from its OPEN).
    pub remote_initial_sn: u32,
    /// The lease we announced: the peer expects input from us at least this often.
    pub local_lease: Duration,
    /// The lease the peer announced, clamped to [`MIN_REMOTE_LEASE`]..=[`MAX_REMOTE_LEASE`]:
    /// we drop the link after this long without input.
    pub remote_lease: Duration,
    /// The user the peer proved with usrpwd authentication (acceptor side; `None` when
    /// usrpwd is off, and on the opener side).
    pub auth_user: Option<String>,
    /// The peer's multilink key (Zenoh's multilink extension, in its wire encoding):
    /// on the acceptor side, proven by the peer on this link; on the opener side, as the
    /// peer announced it. `None` when the extension was not agreed.
    pub multilink_key: Option<Bytes>,
}

/// Why a handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: ours is {ours:#04x}, the peer's is {theirs:#04x}")]
    VersionMismatch {
        /// Our version (0x09).
        ours: u8,
        /// The version in the peer's INIT.
        theirs: u8,
    },
    /// A message that does not belong at this point of the handshake.
    #[error("unexpected {got} during the handshake (expected {expected})")]
    Unexpected {
        /// What the handshake was waiting for.
        expected: &'static str,
        /// Short name of what arrived.
        got: String,
    },
    /// The OPEN syn did not echo the cookie of our INIT ack.
    #[error("OPEN syn carried a cookie other than the one we sent")]
    CookieMismatch,
    /// The peer has our own zenoh id: we reached our own listener.
    #[error("connection to self")]
    ConnectionToSelf,
    /// The INIT ack answered a resolution above the one we offered.
    #[error("INIT ack resolution {answered:#04x} exceeds our offer {offered:#04x}")]
    ResolutionRefused {
        /// The resolution byte we offered.
        offered: u8,
        /// The resolution byte the ack carried.
        answered: u8,
    },
    /// The peer sent CLOSE.
    #[error("closed by the peer: {reason}")]
    ClosedByPeer {
        /// The reason it gave.
        reason: CloseReason,
    },
    /// The handshake did not complete in time.
    #[error("handshake timed out after {after:?}")]
    TimedOut {
        /// Time since the handshake started.
        after: Duration,
    },
    /// The peer's bytes could not be decoded, or carried an impossible value.
    #[error("malformed handshake input: {0}")]
    Malformed(DecodeError),
    /// usrpwd authentication failed (refused here, or our credentials refused there).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The multilink exchange failed.
    #[error(transparent)]
    Multilink(#[from] MultilinkError),
    /// The handshake completed, but the caller refused the link (a limit was reached).
    #[error("refused ({reason}): {detail}")]
    Refused {
        /// The reason sent in CLOSE.
        reason: CloseReason,
        /// What was refused and why.
        detail: String,
    },
}

/// Parameters settled by the INIT exchange.
#[derive(Clone, Debug)]
struct Agreed {
    remote_zid: ZenohId,
    remote_whatami: WhatAmI,
    batch_size: u16,
    resolution: u8,
    sn_mask: u32,
    qos: bool,
    patch: u64,
    local_initial_sn: u32,
    auth_user: Option<String>,
    multilink_key: Option<Bytes>,
}

impl Agreed {
    fn establish(self, local_lease: Duration, remote: &Open) -> Established {
        Established {
            remote_zid: self.remote_zid,
            remote_whatami: self.remote_whatami,
            batch_size: self.batch_size,
            resolution: self.resolution,
            sn_mask: self.sn_mask,
            qos: self.qos,
            patch: self.patch,
            local_initial_sn: self.local_initial_sn,
            remote_initial_sn: remote.initial_sn,
            local_lease,
            remote_lease: remote.lease.clamp(MIN_REMOTE_LEASE, MAX_REMOTE_LEASE),
            auth_user: self.auth_user,
            multilink_key: self.multilink_key,
        }
    }
}

#[derive(Debug)]
enum State {
    /// Opener: INIT syn queued, waiting for the INIT ack.
    WaitInitAck,
    /// Opener: OPEN syn queued, waiting for the OPEN ack.
    WaitOpenAck(Agreed),
    /// Acceptor: waiting for the INIT syn.
    WaitInitSyn,
    /// Acceptor: INIT ack queued, waiting for the OPEN syn echoing `cookie` (and
    /// answering `nonce` when usrpwd is on).
    WaitOpenSyn {
        agreed: Agreed,
        cookie: Bytes,
        nonce: Option<u64>,
        /// The multilink challenge and the opener's key, when it offered the extension.
        multilink: Option<(u64, Bytes)>,
    },
    /// Done.
    Established(Established),
    /// Failed; later input gets this error again.
    Failed(HandshakeError),
}

/// One side of the INIT/OPEN exchange on one link.
#[derive(Debug)]
pub struct Handshake {
    cfg: HandshakeConfig,
    state: State,
    outbox: VecDeque<TransportMessage>,
    started: Instant,
    deadline: Instant,
}

impl Handshake {
    fn with_state(mut cfg: HandshakeConfig, state: State, now: Instant) -> Self {
        cfg.resolution = cfg.offered_resolution();
        cfg.patch = cfg.patch.min(PATCH_CURRENT);
        Handshake {
            deadline: now + cfg.timeout,
            cfg,
            state,
            outbox: VecDeque::new(),
            started: now,
        }
    }

    /// The side that connected: queues the INIT syn.
    pub fn opener(cfg: HandshakeConfig, now: Instant) -> Self {
        let mut hs = Self::with_state(cfg, State::WaitInitAck, now);
        let mut syn = Init::syn(hs.cfg.whatami, hs.cfg.zid);
        syn.resolution = hs.cfg.resolution;
        syn.batch_size = hs.cfg.batch_size;
        syn.qos = hs.cfg.qos.then_some(QosExt::Plain);
        syn.patch = hs.cfg.patch;
        if hs.credentials().is_some() {
            syn.auth = Some(auth::init_syn());
        }
        syn.multilink = hs.cfg.multilink.as_ref().map(|k| k.public().clone());
        hs.outbox.push_back(TransportMessage::Init(syn));
        hs
    }

    /// The side that accepted the link: waits for the INIT syn.
    pub fn acceptor(cfg: HandshakeConfig, now: Instant) -> Self {
        Self::with_state(cfg, State::WaitInitSyn, now)
    }

    /// Feeds one message received on the link.
    ///
    /// On error a CLOSE is queued when Zenoh would send one (not after a CLOSE from the
    /// peer), and later calls return the same error. Input after establishment is
    /// refused with [`HandshakeError::Unexpected`] without queuing anything: the
    /// transport, not the handshake, owns the link then.
    pub fn handle_message(
        &mut self,
        msg: TransportMessage,
        now: Instant,
    ) -> Result<(), HandshakeError> {
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Established(_) => {
                return Err(HandshakeError::Unexpected {
                    expected: "nothing (the handshake is complete)",
                    got: short_name(&msg).to_string(),
                });
            }
            _ => {}
        }
        if now >= self.deadline {
            return self.handle_timeout(now);
        }
        if let TransportMessage::Close(Close { reason, .. }) = msg {
            // A CLOSE in answer to our OPEN with credentials is the refusal of those.
            let err = match (&self.state, self.credentials()) {
                (State::WaitOpenAck(_), Some(user)) => AuthError::Refused {
                    user: user.to_owned(),
                    reason,
                }
                .into(),
                _ => HandshakeError::ClosedByPeer { reason },
            };
            return Err(self.fail(err, None));
        }
        let state = std::mem::replace(&mut self.state, State::WaitInitSyn);
        match (state, msg) {
            (State::WaitInitSyn, TransportMessage::Init(m)) if !m.ack => self.on_init_syn(m),
            (State::WaitInitAck, TransportMessage::Init(m)) if m.ack => self.on_init_ack(m),
            (
                State::WaitOpenSyn {
                    agreed,
                    cookie,
                    nonce,
                    multilink,
                },
                TransportMessage::Open(m),
            ) if !m.ack => self.on_open_syn(agreed, cookie, nonce, multilink, m),
            (State::WaitOpenAck(agreed), TransportMessage::Open(m)) if m.ack => {
                self.on_open_ack(agreed, m)
            }
            (state, msg) => {
                let expected = expected_in(&state);
                Err(self.fail(
                    HandshakeError::Unexpected {
                        expected,
                        got: short_name(&msg).to_string(),
                    },
                    Some(CloseReason::Invalid),
                ))
            }
        }
    }

    /// Reports bytes from the link that did not decode: queues CLOSE(INVALID) while the
    /// handshake is in progress and returns the error to surface.
    pub fn handle_decode_error(&mut self, err: DecodeError) -> HandshakeError {
        let e = HandshakeError::Malformed(err);
        match self.state {
            State::Failed(_) | State::Established(_) => e,
            _ => self.fail(e, Some(CloseReason::Invalid)),
        }
    }

    /// Checks the deadline: past it, the handshake fails with
    /// [`HandshakeError::TimedOut`] (no CLOSE is queued; the caller just drops the link).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            State::Established(_) => Ok(()),
            _ if now >= self.deadline => Err(self.fail(
                HandshakeError::TimedOut {
                    after: now.saturating_duration_since(self.started),
                },
                None,
            )),
            _ => Ok(()),
        }
    }

    /// The next message to send, each as its own batch.
    pub fn poll_transmit(&mut self) -> Option<TransportMessage> {
        self.outbox.pop_front()
    }

    /// When [`Handshake::handle_timeout`] must be called next, while the handshake is
    /// in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Established(_) | State::Failed(_) => None,
            _ => Some(self.deadline),
        }
    }

    /// The agreed parameters, once the handshake completed and its last message was
    /// taken from [`Handshake::poll_transmit`] (opener: after the OPEN ack arrived;
    /// acceptor: after its OPEN ack was handed out for sending).
    pub fn established(&self) -> Option<&Established> {
        match &self.state {
            State::Established(e) if self.outbox.is_empty() => Some(e),
            _ => None,
        }
    }

    /// The agreed parameters as soon as the exchange completed, before the acceptor's
    /// OPEN ack was taken from [`Handshake::poll_transmit`]: the moment to admit or
    /// [`Handshake::refuse`] the link.
    pub fn completed(&self) -> Option<&Established> {
        match &self.state {
            State::Established(e) => Some(e),
            _ => None,
        }
    }

    /// Refuses a completed handshake: what was queued (the acceptor's OPEN ack) is
    /// dropped and CLOSE(`reason`) queued instead; the handshake fails with
    /// [`HandshakeError::Refused`]. Does nothing unless [`Handshake::completed`].
    pub fn refuse(&mut self, reason: CloseReason, detail: impl Into<String>) -> HandshakeError {
        let err = HandshakeError::Refused {
            reason,
            detail: detail.into(),
        };
        if matches!(self.state, State::Established(_)) {
            self.outbox.clear();
            return self.fail(err, Some(reason));
        }
        err
    }

    /// The error the handshake failed with, if it did.
    pub fn error(&self) -> Option<&HandshakeError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The configuration in use (after normalisation of resolution and patch).
    pub fn config(&self) -> &HandshakeConfig {
        &self.cfg
    }

    /// Enters the failed state, queuing CLOSE(`close`) if given; returns the error.
    fn fail(&mut self, err: HandshakeError, close: Option<CloseReason>) -> HandshakeError {
        if let Some(reason) = close {
            self.outbox.push_back(TransportMessage::Close(Close {
                reason,
                session: false,
            }));
        }
        self.state = State::Failed(err.clone());
        err
    }

    /// Our usrpwd user name, when we authenticate on links we open.
    fn credentials(&self) -> Option<&str> {
        self.cfg.auth.as_ref().and_then(|a| a.user())
    }

    /// Fails with an authentication error, sending CLOSE(GENERIC) as Zenoh does.
    fn fail_auth(&mut self, err: AuthError) -> HandshakeError {
        self.fail(err.into(), Some(CloseReason::Generic))
    }

    fn initial_sn(&self, mask: u32) -> u32 {
        let v = self
            .cfg
            .initial_sn
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u32);
        v & mask
    }

    fn check_version(&mut self, theirs: u8) -> Result<(), HandshakeError> {
        if theirs != VERSION {
            return Err(self.fail(
                HandshakeError::VersionMismatch {
                    ours: VERSION,
                    theirs,
                },
                Some(CloseReason::Invalid),
            ));
        }
        Ok(())
    }

    fn check_not_self(&mut self, remote: ZenohId) -> Result<(), HandshakeError> {
        if remote == self.cfg.zid {
            return Err(self.fail(
                HandshakeError::ConnectionToSelf,
                Some(CloseReason::ConnectionToSelf),
            ));
        }
        Ok(())
    }

    fn check_initial_sn(&mut self, sn: u32, mask: u32) -> Result<(), HandshakeError> {
        if !seq::in_range(sn, mask) {
            return Err(self.fail(
                HandshakeError::Malformed(DecodeError::malformed(
                    "OPEN initial sn",
                    format!("{sn} exceeds the agreed SN mask {mask:#x}"),
                )),
                Some(CloseReason::Invalid),
            ));
        }
        Ok(())
    }

    fn on_init_syn(&mut self, syn: Init) -> Result<(), HandshakeError> {
        self.check_version(syn.version)?;
        // Zenoh notices this only at OPEN syn (cap: connect-to-self); refusing at
        // INIT syn saves a round trip and sends the same reason.
        self.check_not_self(syn.zid)?;
        let own = self.cfg.resolution;
        let fsn = (own & 0b11).min(syn.resolution & 0b11);
        let rid = (own & 0b1100).min(syn.resolution & 0b1100);
        let resolution = rid | fsn;
        let sn_mask = seq::sn_mask(resolution);
        let qos = self.cfg.qos && syn.qos.is_some();
        let patch = self.cfg.patch.min(syn.patch);
        // With usrpwd configured, every opener must authenticate (as in Zenoh).
        let nonce = if self.cfg.auth.as_ref().is_some_and(|a| a.is_enabled()) {
            match auth::offered(syn.auth.as_ref()) {
                Ok(true) => {}
                Ok(false) => return Err(self.fail_auth(AuthError::Missing)),
                Err(e) => return Err(self.fail_auth(e)),
            }
            match self.cfg.nonce.map_or_else(auth::nonce, Ok) {
                Ok(n) => Some(n),
                Err(e) => return Err(self.fail_auth(e)),
            }
        } else {
            None
        };
        let agreed = Agreed {
            remote_zid: syn.zid,
            remote_whatami: syn.whatami,
            batch_size: self.cfg.batch_size.min(syn.batch_size),
            resolution,
            sn_mask,
            qos,
            patch,
            local_initial_sn: self.initial_sn(sn_mask),
            auth_user: None,
            multilink_key: None,
        };
        // Multilink only when both sides want it (as in Zenoh).
        let multilink = match (self.cfg.multilink.clone(), syn.multilink.as_ref()) {
            (Some(key), Some(theirs)) => match key.challenge(theirs) {
                Ok((challenge, body, alice)) => Some((challenge, body, alice)),
                Err(e) => return Err(self.fail(e.into(), Some(CloseReason::Generic))),
            },
            _ => None,
        };
        let cookie = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let mut ack = Init::syn(self.cfg.whatami, self.cfg.zid);
        ack.ack = true;
        ack.resolution = agreed.resolution;
        ack.batch_size = agreed.batch_size;
        ack.cookie = cookie.clone();
        ack.qos = qos.then_some(QosExt::Plain);
        ack.patch = patch;
        ack.auth = nonce.map(auth::init_ack);
        ack.multilink = multilink.as_ref().map(|(_, body, _)| body.clone());
        self.outbox.push_back(TransportMessage::Init(ack));
        self.state = State::WaitOpenSyn {
            agreed,
            cookie,
            nonce,
            multilink: multilink.map(|(challenge, _, alice)| (challenge, alice)),
        };
        Ok(())
    }

    fn on_init_ack(&mut self, ack: Init) -> Result<(), HandshakeError> {
        self.check_version(ack.version)?;
        let offered = self.cfg.resolution;
        if ack.resolution & 0b11 > offered & 0b11 || ack.resolution & 0b1100 > offered & 0b1100 {
            return Err(self.fail(
                HandshakeError::ResolutionRefused {
                    offered,
                    answered: ack.resolution,
                },
                Some(CloseReason::Invalid),
            ));
        }
        self.check_not_self(ack.zid)?;
        let resolution = ack.resolution & 0b1111;
        let sn_mask = seq::sn_mask(resolution);
        let agreed = Agreed {
            remote_zid: ack.zid,
            remote_whatami: ack.whatami,
            batch_size: self.cfg.batch_size.min(ack.batch_size),
            resolution,
            sn_mask,
            qos: self.cfg.qos && ack.qos.is_some(),
            // Zenoh refuses an ack patch above its own; taking the minimum is as safe.
            patch: self.cfg.patch.min(ack.patch),
            local_initial_sn: self.initial_sn(sn_mask),
            auth_user: None,
            multilink_key: None,
        };
        let mut agreed = agreed;
        let mut open = Open::new(false, self.cfg.lease, agreed.local_initial_sn, ack.cookie);
        if let (Some(key), Some(theirs)) = (self.cfg.multilink.clone(), ack.multilink.as_ref()) {
            match key.answer(theirs) {
                Ok((proof, bob)) => {
                    open.multilink_syn = Some(proof);
                    agreed.multilink_key = Some(bob);
                }
                Err(e) => return Err(self.fail(e.into(), Some(CloseReason::Generic))),
            }
        }
        if let Some(usrpwd) = self.cfg.auth.clone()
            && let Some(user) = usrpwd.user()
        {
            let nonce = match auth::read_nonce(ack.auth.as_ref()) {
                Ok(Some(nonce)) => nonce,
                Ok(None) => {
                    let user = user.to_owned();
                    return Err(self.fail_auth(AuthError::NotOffered { user }));
                }
                Err(e) => return Err(self.fail_auth(e)),
            };
            open.auth = usrpwd.answer(nonce).as_ref().map(auth::open_syn);
        }
        self.outbox.push_back(TransportMessage::Open(open));
        self.state = State::WaitOpenAck(agreed);
        Ok(())
    }

    fn on_open_syn(
        &mut self,
        mut agreed: Agreed,
        cookie: Bytes,
        nonce: Option<u64>,
        multilink: Option<(u64, Bytes)>,
        syn: Open,
    ) -> Result<(), HandshakeError> {
        if syn.cookie != cookie {
            return Err(self.fail(HandshakeError::CookieMismatch, Some(CloseReason::Invalid)));
        }
        self.check_initial_sn(syn.initial_sn, agreed.sn_mask)?;
        let mut ack = Open::new(true, self.cfg.lease, agreed.local_initial_sn, Bytes::new());
        if let (Some((challenge, alice)), Some(key)) = (multilink, self.cfg.multilink.clone()) {
            let proven = match syn.multilink_syn.as_ref() {
                Some(proof) => key.check(challenge, proof),
                None => Err(MultilinkError::Missing),
            };
            if let Err(e) = proven {
                return Err(self.fail(e.into(), Some(CloseReason::Generic)));
            }
            agreed.multilink_key = Some(alice);
            ack.multilink_ack = true;
        }
        if let (Some(nonce), Some(usrpwd)) = (nonce, self.cfg.auth.clone()) {
            let answer = match auth::read_open_syn(syn.auth.as_ref()) {
                Ok(Some(answer)) => answer,
                Ok(None) => return Err(self.fail_auth(AuthError::Missing)),
                Err(e) => return Err(self.fail_auth(e)),
            };
            match usrpwd.check(nonce, &answer) {
                Ok(user) => agreed.auth_user = Some(user),
                Err(e) => return Err(self.fail_auth(e)),
            }
            ack.auth = Some(auth::open_ack());
        }
        self.outbox.push_back(TransportMessage::Open(ack));
        self.state = State::Established(agreed.establish(self.cfg.lease, &syn));
        Ok(())
    }

    fn on_open_ack(&mut self, mut agreed: Agreed, ack: Open) -> Result<(), HandshakeError> {
        self.check_initial_sn(ack.initial_sn, agreed.sn_mask)?;
        if !ack.multilink_ack {
            // The acceptor did not confirm the exchange: no multilink (as in Zenoh).
            agreed.multilink_key = None;
        }
        if let Some(user) = self.credentials() {
            match auth::confirmed(ack.auth.as_ref()) {
                Ok(true) => {}
                Ok(false) => {
                    let user = user.to_owned();
                    return Err(self.fail_auth(AuthError::NotConfirmed { user }));
                }
                Err(e) => return Err(self.fail_auth(e)),
            }
        }
        self.state = State::Established(agreed.establish(self.cfg.lease, &ack));
        Ok(())
    }
}

/// What a handshake in `state` waits for.
fn expected_in(state: &State) -> &'static str {
    match state {
        State::WaitInitSyn => "INIT syn",
        State::WaitInitAck => "INIT ack",
        State::WaitOpenSyn { .. } => "OPEN syn",
        State::WaitOpenAck(_) => "OPEN ack",
        State::Established(_) | State::Failed(_) => "nothing",
    }
}

/// A short name for a transport message, as used in [`HandshakeError::Unexpected`].
pub fn short_name(msg: &TransportMessage) -> &'static str {
    match msg {
        TransportMessage::Init(m) if m.ack => "INIT ack",
        TransportMessage::Init(_) => "INIT syn",
        TransportMessage::Open(m) if m.ack => "OPEN ack",
        TransportMessage::Open(_) => "OPEN syn",
        TransportMessage::Close(_) => "CLOSE",
        TransportMessage::KeepAlive => "KEEP_ALIVE",
        TransportMessage::Frame(_) => "FRAME",
        TransportMessage::Fragment(_) => "FRAGMENT",
        TransportMessage::Oam(_) => "OAM",
    }
}

#[cfg(test)]
mod tests;
