//! UDP links and listeners.
//!
//! A connecting side owns a connected socket. A listening side owns one socket shared by
//! every accepted link: a background task reads datagrams, creates a [`Link`] for each new
//! remote address and forwards later datagrams from that address to it through a channel;
//! accepted links write with `send_to` on the shared socket.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::endpoint::{Endpoint, Locator};
use crate::error::LinkError;
use crate::link::{Link, LinkInfo, ReaderKind, WriterKind};
use crate::net;

/// Protocol name of UDP locators.
pub const UDP_PROTOCOL: &str = "udp";

/// MTU of UDP links, mirroring Zenoh's UDP defaults.
///
/// Zenoh takes `u16::MAX` minus the UDP header (8 bytes) and the IPv6 header (40 bytes) as
/// its maximum (65 487 bytes) and uses it on Linux and Windows; macOS limits datagrams to
/// 9 216 bytes by default, and other systems get a conservative 8 192.
#[cfg(any(target_os = "linux", target_os = "windows"))]
pub const UDP_MTU: u16 = u16::MAX - 8 - 40;
/// MTU of UDP links (macOS default maximum datagram size).
#[cfg(target_os = "macos")]
pub const UDP_MTU: u16 = 9_216;
/// MTU of UDP links (conservative default for other systems).
#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
pub const UDP_MTU: u16 = 8_192;

/// Datagrams queued per accepted link before new ones are dropped.
const LINK_QUEUE: usize = 256;
/// Accepted links queued before new remote addresses are ignored.
const ACCEPT_QUEUE: usize = 64;

/// Receiving side of a UDP link.
#[derive(Debug)]
pub(crate) enum UdpReader {
    /// A connected socket owned by the link.
    Connected(Arc<UdpSocket>),
    /// Datagrams forwarded by a listener's demultiplexer.
    Demux(DemuxReader),
}

/// Receives datagrams from one remote address through the listener's demultiplexer.
#[derive(Debug)]
pub(crate) struct DemuxReader {
    rx: mpsc::Receiver<Vec<u8>>,
    peer: SocketAddr,
    gone: mpsc::UnboundedSender<SocketAddr>,
}

impl Drop for DemuxReader {
    fn drop(&mut self) {
        // Lets the demultiplexer forget this peer; it may already have stopped.
        let _ = self.gone.send(self.peer);
    }
}

impl UdpReader {
    /// Receives one datagram, truncated to `buf.len()`.
    pub(crate) async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            UdpReader::Connected(socket) => socket.recv(buf).await,
            UdpReader::Demux(d) => match d.rx.recv().await {
                Some(datagram) => {
                    let n = datagram.len().min(buf.len());
                    buf[..n].copy_from_slice(&datagram[..n]);
                    Ok(n)
                }
                None => Err(io::Error::other("the UDP listener socket stopped")),
            },
        }
    }
}

/// Sending side of a UDP link.
#[derive(Debug)]
pub(crate) struct UdpWriter {
    socket: Arc<UdpSocket>,
    /// `None` when the socket is connected, the remote address when it is shared.
    peer: Option<SocketAddr>,
    closed: bool,
}

impl UdpWriter {
    /// Sends `buf` as one datagram.
    pub(crate) async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the link was closed",
            ));
        }
        let n = match self.peer {
            None => self.socket.send(buf).await?,
            Some(peer) => self.socket.send_to(buf, peer).await?,
        };
        if n != buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("datagram truncated to {n} of {} bytes", buf.len()),
            ));
        }
        Ok(())
    }

    /// Refuses further writes.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }
}

fn info(src: SocketAddr, dst: SocketAddr) -> LinkInfo {
    LinkInfo {
        src: Locator::from_parts(UDP_PROTOCOL, src.to_string()),
        dst: Locator::from_parts(UDP_PROTOCOL, dst.to_string()),
        group: None,
        mtu: UDP_MTU,
        is_reliable: false,
        is_streamed: false,
        auth_identifier: None,
    }
}

/// Opens a socket on an ephemeral port of the right family, connected to `endpoint`.
pub(crate) async fn connect(endpoint: &Endpoint) -> Result<Link, LinkError> {
    let addrs = net::resolve(endpoint).await?;
    let mut last = None;
    for addr in addrs {
        let local: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let attempt = async {
            let socket = UdpSocket::bind(local).await?;
            socket.connect(addr).await?;
            let src = socket.local_addr()?;
            Ok::<_, io::Error>((socket, src))
        };
        match attempt.await {
            Ok((socket, src)) => {
                let socket = Arc::new(socket);
                let writer = UdpWriter {
                    socket: socket.clone(),
                    peer: None,
                    closed: false,
                };
                return Ok(Link::new(
                    info(src, addr),
                    ReaderKind::Udp(UdpReader::Connected(socket)),
                    WriterKind::Udp(writer),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::ErrorKind::AddrNotAvailable.into());
    Err(LinkError::io("connect to", endpoint, e))
}

/// The accepting side of a UDP listener.
#[derive(Debug)]
pub(crate) struct UdpAcceptor {
    rx: mpsc::Receiver<Link>,
    locator: String,
}

/// Binds the shared socket and starts its demultiplexer.
pub(crate) async fn listen(endpoint: &Endpoint) -> Result<(UdpAcceptor, SocketAddr), LinkError> {
    let addrs = net::resolve(endpoint).await?;
    let Some(&addr) = addrs.first() else {
        return Err(LinkError::io(
            "listen on",
            endpoint,
            io::ErrorKind::AddrNotAvailable.into(),
        ));
    };
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|e| LinkError::io("listen on", endpoint, e))?;
    let bound = socket
        .local_addr()
        .map_err(|e| LinkError::io("get local address of", endpoint, e))?;
    let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
    tokio::spawn(demux(Arc::new(socket), bound, tx));
    let acceptor = UdpAcceptor {
        rx,
        locator: format!("{UDP_PROTOCOL}/{bound}"),
    };
    Ok((acceptor, bound))
}

impl UdpAcceptor {
    /// Waits for a datagram from a new remote address and returns its link.
    pub(crate) async fn accept(&mut self) -> Result<Link, LinkError> {
        self.rx.recv().await.ok_or_else(|| LinkError::Io {
            operation: "accept on",
            endpoint: self.locator.clone(),
            source: io::Error::other("the UDP listener socket stopped"),
        })
    }
}

/// Reads the shared socket and routes datagrams per remote address.
///
/// Runs while the listener accepts or any accepted link is alive.
async fn demux(socket: Arc<UdpSocket>, local: SocketAddr, accept: mpsc::Sender<Link>) {
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<SocketAddr>();
    let mut peers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    let mut accepting = true;
    loop {
        tokio::select! {
            res = socket.recv_from(&mut buf) => match res {
                Ok((n, peer)) => {
                    let Some(datagram) = buf.get(..n).map(<[u8]>::to_vec) else {
                        continue;
                    };
                    if let Some(tx) = peers.get(&peer) {
                        match tx.try_send(datagram) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::trace!(%peer, "udp link queue full, datagram dropped");
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => {
                                peers.remove(&peer);
                            }
                        }
                        continue;
                    }
                    if !accepting {
                        continue;
                    }
                    let (tx, rx) = mpsc::channel(LINK_QUEUE);
                    // The queue is empty, so the first datagram always fits.
                    let _ = tx.try_send(datagram);
                    let reader = DemuxReader { rx, peer, gone: gone_tx.clone() };
                    let writer = UdpWriter { socket: socket.clone(), peer: Some(peer), closed: false };
                    let link = Link::new(
                        info(local, peer),
                        ReaderKind::Udp(UdpReader::Demux(reader)),
                        WriterKind::Udp(writer),
                    );
                    peers.insert(peer, tx);
                    match accept.try_send(link) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::debug!(%peer, "udp accept queue full, new peer ignored");
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => accepting = false,
                    }
                }
                // ICMP errors caused by earlier sends surface here; they concern one peer only.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                ) => {}
                Err(e) => {
                    tracing::warn!(%local, error = %e, "udp listener socket failed");
                    return;
                }
            },
            Some(peer) = gone_rx.recv() => {
                if peers.get(&peer).is_some_and(|tx| tx.is_closed()) {
                    peers.remove(&peer);
                }
            }
            () = accept.closed(), if accepting => accepting = false,
        }
        if !accepting && peers.is_empty() {
            return;
        }
    }
}
