//! Shared helpers of the socket-level transport tests: a recording handler, message
//! builders and a hand-driven "raw" peer that runs the handshake itself over a TCP stream.
#![allow(dead_code)]

pub mod raw;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_link::{Endpoint, Locator};
use plexus_transport::handshake::{Established, Handshake, HandshakeConfig};
use plexus_transport::wire::network::{NetworkMessage, PushBody};
use plexus_transport::wire::transport::{BatchItem, BatchReader, StreamFramer, TransportMessage};
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Bound on waiting for anything that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// A change reported by a manager's handler, tagged with the remote zid.
#[derive(Debug)]
pub enum Ev {
    /// `TransportHandler::opened`.
    Opened(Transport),
    /// `PeerHandler::event` of the transport to this zid.
    Event(ZenohId, TransportEvent),
}

impl Ev {
    pub fn zid(&self) -> ZenohId {
        match self {
            Ev::Opened(t) => t.zid(),
            Ev::Event(z, _) => *z,
        }
    }
}

struct Recorder {
    events: mpsc::UnboundedSender<Ev>,
    msgs: mpsc::UnboundedSender<(ZenohId, NetworkMessage)>,
}

struct PeerRecorder {
    zid: ZenohId,
    events: mpsc::UnboundedSender<Ev>,
    msgs: mpsc::UnboundedSender<(ZenohId, NetworkMessage)>,
}

impl TransportHandler for Recorder {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        let _ = self.events.send(Ev::Opened(t.clone()));
        Arc::new(PeerRecorder {
            zid: t.zid(),
            events: self.events.clone(),
            msgs: self.msgs.clone(),
        })
    }
}

impl PeerHandler for PeerRecorder {
    fn message(&self, msg: NetworkMessage) {
        let _ = self.msgs.send((self.zid, msg));
    }
    fn event(&self, event: TransportEvent) {
        let _ = self.events.send(Ev::Event(self.zid, event));
    }
}

/// A manager with the receiving ends of what its handler saw.
pub struct Node {
    pub mgr: TransportManager,
    pub events: mpsc::UnboundedReceiver<Ev>,
    pub msgs: mpsc::UnboundedReceiver<(ZenohId, NetworkMessage)>,
    /// Events already received for other zids by [`Node::next_event_for`].
    pending: VecDeque<Ev>,
}

impl Node {
    /// A manager with default settings (a random zid, kind Peer).
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// A manager whose default settings `tweak` adjusts.
    pub fn with(tweak: impl FnOnce(&mut TransportConfig)) -> Self {
        let mut cfg = TransportConfig::new(ZenohId::random(), WhatAmI::Peer);
        tweak(&mut cfg);
        let (etx, events) = mpsc::unbounded_channel();
        let (mtx, msgs) = mpsc::unbounded_channel();
        let mgr = TransportManager::new(
            cfg,
            Arc::new(Recorder {
                events: etx,
                msgs: mtx,
            }),
        );
        Node {
            mgr,
            events,
            msgs,
            pending: VecDeque::new(),
        }
    }

    pub fn zid(&self) -> ZenohId {
        self.mgr.zid()
    }

    /// Listens on `endpoint` and returns the bound locator.
    pub async fn listen(&self, endpoint: &str) -> Locator {
        let ep: Endpoint = endpoint.parse().expect("endpoint");
        self.mgr.listen(&ep).await.expect("listen")
    }

    /// Connects to `locator`, bounded.
    pub async fn connect(&self, locator: &Locator) -> Transport {
        tokio::time::timeout(WAIT, self.mgr.connect(&locator.to_endpoint()))
            .await
            .expect("connect timed out")
            .expect("connect")
    }

    /// The next event of any transport, bounded by [`WAIT`].
    pub async fn next_event(&mut self) -> Ev {
        if let Some(ev) = self.pending.pop_front() {
            return ev;
        }
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("timed out waiting for a transport event")
            .expect("event channel closed")
    }

    /// The next event concerning `zid`; events of other transports are kept for later.
    pub async fn next_event_for(&mut self, zid: ZenohId) -> Ev {
        if let Some(pos) = self.pending.iter().position(|e| e.zid() == zid) {
            return self.pending.remove(pos).expect("present");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for an event of {zid}"))
                .expect("event channel closed");
            if ev.zid() == zid {
                return ev;
            }
            self.pending.push_back(ev);
        }
    }

    /// Expects `Opened` then `LinkAdded` for `zid`; returns the transport and the link.
    pub async fn expect_open(
        &mut self,
        zid: ZenohId,
    ) -> (Transport, plexus_transport::LinkSnapshot) {
        let t = match self.next_event_for(zid).await {
            Ev::Opened(t) => t,
            other => panic!("expected the transport to {zid} to open, got {other:?}"),
        };
        match self.next_event_for(zid).await {
            Ev::Event(_, TransportEvent::LinkAdded(l)) => (t, l),
            other => panic!("expected LinkAdded for {zid}, got {other:?}"),
        }
    }

    /// The next network message from `from`, bounded by [`WAIT`]; messages from other
    /// transports are an error.
    pub async fn next_msg(&mut self, from: ZenohId) -> NetworkMessage {
        let (zid, msg) = tokio::time::timeout(WAIT, self.msgs.recv())
            .await
            .expect("timed out waiting for a message")
            .expect("message channel closed");
        assert_eq!(zid, from, "message from an unexpected transport");
        msg
    }

    /// True when no event is queued right now.
    pub fn no_event_queued(&mut self) -> bool {
        self.pending.is_empty() && self.events.try_recv().is_err()
    }
}

/// A PUSH/PUT on `key` whose payload starts with `seq` (8 bytes LE) and is `size` long
/// (at least 8), filled with a pattern derived from `seq`.
pub fn put(key: &str, seq: u64, size: usize) -> NetworkMessage {
    raw::push_put(key, payload(seq, size))
}

/// The payload [`put`] sends.
pub fn payload(seq: u64, size: usize) -> Bytes {
    let size = size.max(8);
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend((8..size).map(|i| (i as u64).wrapping_mul(31).wrapping_add(seq) as u8));
    Bytes::from(v)
}

/// The key and payload of a PUSH/PUT.
pub fn key_and_payload(msg: &NetworkMessage) -> (String, Bytes) {
    match msg {
        NetworkMessage::Push(p) => match &p.body {
            PushBody::Put(put) => (p.wire_expr.suffix.clone(), put.payload.clone()),
            other => panic!("expected a PUT, got {other:?}"),
        },
        other => panic!("expected a PUSH, got {other:?}"),
    }
}

/// The sequence number [`put`] stored in a message's payload.
pub fn seq_of(msg: &NetworkMessage) -> u64 {
    let (_, p) = key_and_payload(msg);
    u64::from_le_bytes(p[..8].try_into().expect("8 bytes"))
}

/// The socket address of a `tcp/...` locator.
pub fn socket_addr(locator: &Locator) -> SocketAddr {
    locator.address().parse().expect("ip:port")
}

/// A deterministic pseudo-random byte generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A peer that speaks the protocol by hand over a TCP stream.
pub struct RawPeer {
    pub stream: TcpStream,
    pub framer: StreamFramer,
    pub est: Established,
}

/// What a raw peer read until the stream ended.
#[derive(Debug, Default)]
pub struct Drained {
    /// Transport messages, in order (FRAME headers included).
    pub msgs: Vec<TransportMessage>,
    /// The first decoding problem, if any.
    pub error: Option<String>,
}

impl Drained {
    pub fn keep_alives(&self) -> usize {
        self.msgs
            .iter()
            .filter(|m| matches!(m, TransportMessage::KeepAlive))
            .count()
    }
}

impl RawPeer {
    /// Connects to `addr` and runs the opener side of the handshake with `cfg`.
    pub async fn connect(addr: SocketAddr, cfg: HandshakeConfig) -> RawPeer {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("raw connect timed out")
            .expect("raw connect");
        Self::handshake(stream, cfg).await
    }

    /// [`RawPeer::connect`] with a small receive buffer (set before connecting), so that
    /// a peer that stops reading blocks its remote's writes soon.
    pub async fn connect_small(addr: SocketAddr, cfg: HandshakeConfig, rcvbuf: u32) -> RawPeer {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .expect("socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        let stream = tokio::time::timeout(WAIT, socket.connect(addr))
            .await
            .expect("raw connect timed out")
            .expect("raw connect");
        Self::handshake(stream, cfg).await
    }

    async fn handshake(stream: TcpStream, cfg: HandshakeConfig) -> RawPeer {
        Self::try_handshake(stream, cfg)
            .await
            .unwrap_or_else(|e| panic!("raw handshake: {e}"))
    }

    /// Connects to `addr` and runs the opener side of the handshake with `cfg`; returns
    /// how it failed (e.g. refused with CLOSE) instead of panicking.
    pub async fn try_connect(addr: SocketAddr, cfg: HandshakeConfig) -> Result<RawPeer, String> {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("raw connect timed out")
            .expect("raw connect");
        Self::try_handshake(stream, cfg).await
    }

    /// Runs the opener side of the handshake over `stream`.
    pub async fn try_handshake(stream: TcpStream, cfg: HandshakeConfig) -> Result<RawPeer, String> {
        stream.set_nodelay(true).expect("nodelay");
        let mut peer = RawPeer {
            stream,
            framer: StreamFramer::new(u16::MAX),
            est: dummy_established(),
        };
        let mut hs = Handshake::opener(cfg, Instant::now());
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(m) = hs.poll_transmit() {
                peer.send_message(&m).await;
            }
            if let Some(est) = hs.established() {
                peer.est = est.clone();
                peer.framer.set_batch_size(est.batch_size);
                return Ok(peer);
            }
            let batch = tokio::time::timeout_at(deadline, peer.next_batch())
                .await
                .expect("raw handshake timed out")
                .ok_or("the stream ended during the handshake")?;
            for item in BatchReader::read_all(batch).expect("handshake batch decodes") {
                match item {
                    BatchItem::Transport(m) => hs
                        .handle_message(m, Instant::now())
                        .map_err(|e| e.to_string())?,
                    BatchItem::Network(m) => panic!("network message during handshake: {m:?}"),
                }
            }
        }
    }

    /// Writes `batch` with its 2-byte little-endian length prefix.
    pub async fn send_batch(&mut self, batch: &[u8]) {
        self.send_raw(&raw::prefixed(batch)).await;
    }

    /// Writes bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.write_all(bytes))
            .await
            .expect("raw write timed out")
            .expect("raw write");
    }

    /// Sends one transport message as its own batch.
    pub async fn send_message(&mut self, m: &TransportMessage) {
        self.send_raw(&raw::one(m)).await;
    }

    /// The next batch, `None` at the end of the stream (or on a reset).
    pub async fn next_batch(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.framer.next_batch().expect("the peer's batch fits") {
                return Some(b);
            }
            match self.stream.read_buf(self.framer.buffer_mut()).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next transport message (network messages skipped), `None` at the end.
    pub async fn next_transport_message(&mut self) -> Option<TransportMessage> {
        loop {
            let batch = self.next_batch().await?;
            for item in BatchReader::read_all(batch).expect("the peer's batch decodes") {
                if let BatchItem::Transport(m) = item {
                    return Some(m);
                }
            }
        }
    }

    /// Reads until the stream ends (bounded by [`WAIT`]) and returns what came.
    pub async fn drain_until_eof(&mut self) -> Drained {
        let mut out = Drained::default();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let batch = tokio::time::timeout_at(deadline, self.next_batch())
                .await
                .expect("the remote side did not close the stream");
            let Some(batch) = batch else { return out };
            let mut r = BatchReader::new(batch);
            loop {
                match r.next_item() {
                    Ok(None) => break,
                    Ok(Some(BatchItem::Transport(m))) => out.msgs.push(m),
                    Ok(Some(BatchItem::Network(_))) => {}
                    Err(e) => {
                        out.error.get_or_insert(e.to_string());
                        break;
                    }
                }
            }
        }
    }
}

fn dummy_established() -> Established {
    Established {
        remote_zid: ZenohId::random(),
        remote_whatami: WhatAmI::Peer,
        batch_size: u16::MAX,
        resolution: 0,
        sn_mask: 0,
        qos: false,
        patch: 0,
        local_initial_sn: 0,
        remote_initial_sn: 0,
        local_lease: Duration::ZERO,
        remote_lease: Duration::ZERO,
        auth_user: None,
        multilink_key: None,
    }
}

/// A handshake configuration for a raw peer with a fresh zid and this lease.
pub fn raw_cfg(lease: Duration) -> HandshakeConfig {
    let mut cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
    cfg.lease = lease;
    cfg
}

static TASK_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on tokio worker threads (spawned tasks), which would otherwise go
/// unnoticed; the default hook still prints them.
pub fn watch_task_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                // "tokio-rt-worker" since tokio 1.4x, "tokio-runtime-worker" before.
                .is_some_and(|n| {
                    n.starts_with("tokio-rt-worker") || n.starts_with("tokio-runtime-worker")
                })
            {
                TASK_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

/// Panics seen on tokio worker threads since the hook was installed.
pub fn task_panics() -> usize {
    TASK_PANICS.load(Ordering::SeqCst)
}
