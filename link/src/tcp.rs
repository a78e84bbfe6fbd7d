//! TCP links and listeners.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::config::{LinkConfig, SocketOptions};
use crate::endpoint::{Endpoint, Locator};
use crate::error::LinkError;
use crate::link::{Link, LinkInfo, ReaderKind, WriterKind};
use crate::net;

/// Protocol name of TCP locators.
pub const TCP_PROTOCOL: &str = "tcp";

/// Pending connections the OS queues for a TCP listener.
const BACKLOG: i32 = 1024;

/// Creates a socket2 TCP socket for `addr` with the buffer sizes applied.
fn new_socket(addr: SocketAddr, opts: &SocketOptions) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_tcp_nodelay(opts.nodelay)?;
    if let Some(size) = opts.sndbuf {
        socket.set_send_buffer_size(size)?;
    }
    if let Some(size) = opts.rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Computes the MTU the way Zenoh's TCP link does.
///
/// Zenoh starts from `u16::MAX` minus the IP+TCP header size (40 bytes for IPv4, 60 for
/// IPv6, per RFC 6691) and, on unix, lowers it to the largest multiple of half the TCP MSS
/// below that, so batches fill whole segments.
pub(crate) fn mtu(stream: &TcpStream, local: SocketAddr) -> u16 {
    let header: u16 = if local.is_ipv4() { 40 } else { 60 };
    let max = u16::MAX - header;
    #[cfg(unix)]
    {
        let half_mss = SockRef::from(stream).tcp_mss().unwrap_or(u32::from(max)) / 2;
        if half_mss > 0 {
            let mut target = half_mss;
            while target + half_mss < u32::from(max) {
                target += half_mss;
            }
            return u16::try_from(target.min(u32::from(max))).unwrap_or(max);
        }
    }
    #[cfg(not(unix))]
    let _ = stream;
    max
}

/// Applies `TCP_NODELAY` to an established stream and returns its local and peer addresses.
pub(crate) fn prepare(
    stream: &TcpStream,
    opts: &SocketOptions,
    endpoint: &str,
) -> Result<(SocketAddr, SocketAddr), LinkError> {
    let sock = SockRef::from(stream);
    sock.set_tcp_nodelay(opts.nodelay)
        .map_err(|e| LinkError::io("set TCP_NODELAY on", endpoint, e))?;
    let local = stream
        .local_addr()
        .map_err(|e| LinkError::io("get local address of", endpoint, e))?;
    let peer = stream
        .peer_addr()
        .map_err(|e| LinkError::io("get peer address of", endpoint, e))?;
    Ok((local, peer))
}

/// Wraps an established stream into a [`Link`], enforcing `TCP_NODELAY`.
fn into_link(stream: TcpStream, opts: &SocketOptions, endpoint: &str) -> Result<Link, LinkError> {
    let (local, peer) = prepare(&stream, opts, endpoint)?;
    let info = LinkInfo {
        src: Locator::from_parts(TCP_PROTOCOL, local.to_string()),
        dst: Locator::from_parts(TCP_PROTOCOL, peer.to_string()),
        group: None,
        mtu: mtu(&stream, local),
        is_reliable: true,
        is_streamed: true,
        auth_identifier: None,
    };
    let (r, w) = stream.into_split();
    Ok(Link::new(info, ReaderKind::Tcp(r), WriterKind::Tcp(w)))
}

/// Connects to the first reachable address of `endpoint`.
pub(crate) async fn connect(endpoint: &Endpoint, config: &LinkConfig) -> Result<Link, LinkError> {
    let opts = SocketOptions::resolve(config, endpoint)?;
    let stream = connect_stream(endpoint, &opts).await?;
    into_link(stream, &opts, &endpoint.to_string())
}

/// Opens a TCP connection to the first reachable address of `endpoint`.
pub(crate) async fn connect_stream(
    endpoint: &Endpoint,
    opts: &SocketOptions,
) -> Result<TcpStream, LinkError> {
    let addrs = net::resolve(endpoint).await?;
    let mut last = None;
    for addr in addrs {
        let attempt = async {
            let socket = new_socket(addr, opts)?;
            TcpSocket::from_std_stream(socket.into())
                .connect(addr)
                .await
        };
        match attempt.await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                tracing::debug!(%endpoint, %addr, error = %e, "tcp connect attempt failed");
                last = Some(e);
            }
        }
    }
    let e = last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into());
    Err(LinkError::io("connect to", endpoint, e))
}

/// A bound TCP listener.
#[derive(Debug)]
pub(crate) struct TcpAcceptor {
    listener: TcpListener,
    opts: SocketOptions,
    locator: String,
}

/// Binds a listener on the first address of `endpoint`; returns it with its bound address.
pub(crate) async fn listen(
    endpoint: &Endpoint,
    config: &LinkConfig,
) -> Result<(TcpAcceptor, SocketAddr), LinkError> {
    let opts = SocketOptions::resolve(config, endpoint)?;
    let (listener, bound) = bind(endpoint, &opts).await?;
    let acceptor = TcpAcceptor {
        listener,
        opts,
        locator: format!("{TCP_PROTOCOL}/{bound}"),
    };
    Ok((acceptor, bound))
}

/// Binds a TCP listener on the first address of `endpoint`; returns it with its bound address.
pub(crate) async fn bind(
    endpoint: &Endpoint,
    opts: &SocketOptions,
) -> Result<(TcpListener, SocketAddr), LinkError> {
    let addrs = net::resolve(endpoint).await?;
    let Some(&addr) = addrs.first() else {
        return Err(LinkError::io(
            "listen on",
            endpoint,
            std::io::ErrorKind::AddrNotAvailable.into(),
        ));
    };
    let bind = || -> std::io::Result<TcpListener> {
        let socket = new_socket(addr, opts)?;
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        TcpListener::from_std(socket.into())
    };
    let listener = bind().map_err(|e| LinkError::io("listen on", endpoint, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| LinkError::io("get local address of", endpoint, e))?;
    Ok((listener, bound))
}

impl TcpAcceptor {
    /// Waits for the next incoming connection.
    pub(crate) async fn accept(&self) -> Result<Link, LinkError> {
        let (stream, _) = self.listener.accept().await.map_err(|e| LinkError::Io {
            operation: "accept on",
            endpoint: self.locator.clone(),
            source: e,
        })?;
        into_link(stream, &self.opts, &self.locator)
    }
}
