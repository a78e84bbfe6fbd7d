//! Plexus link layer: moves bytes between two processes.
//!
//! This crate parses endpoints and locators in Zenoh's `proto/address[?metadata][#config]`
//! form, opens links with [`connect`], accepts them with [`listen`] and [`Listener::accept`],
//! and reports per-link facts ([`LinkInfo`]: source and destination locators, MTU,
//! reliability, streaming, the peer's certificate name) for an admin space. Supported
//! protocols are `tcp`, `udp`, `unixsock-stream` and `tls` (TLS over TCP, with
//! certificates and mTLS as configured in [`TlsConfig`]), each behind a cargo feature of the
//! same name.
//!
//! It does not frame, batch, encode or interpret messages: a streamed link is a byte pipe
//! and a datagram link carries opaque datagrams of at most [`Link::mtu`] bytes. It does not
//! retry, reconnect, do multicast or scout, and authenticates peers only by their TLS
//! certificates; the rest belongs to the transport and session layers above.
#![warn(missing_docs)]

mod config;
pub mod endpoint;
mod error;
mod link;
#[cfg(any(feature = "tcp", feature = "udp"))]
mod net;
#[cfg(feature = "tcp")]
mod tcp;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "udp")]
mod udp;
#[cfg(all(unix, feature = "unixsock-stream"))]
mod unix;

use std::fmt;

pub use config::{LinkConfig, Pem, SO_RCVBUF, SO_SNDBUF, TlsConfig};
pub use endpoint::{Endpoint, EndpointError, Locator, Parameters};
pub use error::LinkError;
pub use link::{Link, LinkInfo, LinkReader, LinkWriter};
#[cfg(feature = "tcp")]
pub use tcp::TCP_PROTOCOL;
#[cfg(feature = "tls")]
pub use tls::{MAX_PENDING_HANDSHAKES, TLS_PROTOCOL};
#[cfg(feature = "udp")]
pub use udp::{UDP_MTU, UDP_PROTOCOL};
#[cfg(all(unix, feature = "unixsock-stream"))]
pub use unix::{UNIXSOCK_STREAM_MTU, UNIXSOCK_STREAM_PROTOCOL};

/// A protocol this build can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    #[cfg(feature = "tcp")]
    Tcp,
    #[cfg(feature = "udp")]
    Udp,
    #[cfg(all(unix, feature = "unixsock-stream"))]
    Unix,
    #[cfg(feature = "tls")]
    Tls,
}

/// Lists the protocols compiled in.
fn supported() -> String {
    let all: &[&str] = &[
        #[cfg(feature = "tcp")]
        "tcp",
        #[cfg(feature = "udp")]
        "udp",
        #[cfg(all(unix, feature = "unixsock-stream"))]
        "unixsock-stream",
        #[cfg(feature = "tls")]
        "tls",
    ];
    all.join(", ")
}

/// Finds the protocol of `endpoint` and checks its address syntax.
fn protocol_of(endpoint: &Endpoint) -> Result<Proto, LinkError> {
    let proto = match endpoint.protocol() {
        #[cfg(feature = "tcp")]
        "tcp" => Proto::Tcp,
        #[cfg(feature = "udp")]
        "udp" => Proto::Udp,
        #[cfg(all(unix, feature = "unixsock-stream"))]
        "unixsock-stream" => Proto::Unix,
        #[cfg(feature = "tls")]
        "tls" => Proto::Tls,
        other => {
            return Err(LinkError::UnsupportedProtocol {
                endpoint: endpoint.to_string(),
                protocol: other.to_owned(),
                supported: supported(),
            });
        }
    };
    match proto {
        #[cfg(feature = "tcp")]
        Proto::Tcp => net::validate(endpoint)?,
        #[cfg(feature = "udp")]
        Proto::Udp => net::validate(endpoint)?,
        #[cfg(all(unix, feature = "unixsock-stream"))]
        Proto::Unix => unix::validate(endpoint)?,
        #[cfg(feature = "tls")]
        Proto::Tls => tls::validate(endpoint)?,
    }
    Ok(proto)
}

/// Opens a link to `endpoint`, giving up after `config.connect_timeout`.
pub async fn connect(endpoint: &Endpoint, config: &LinkConfig) -> Result<Link, LinkError> {
    let proto = protocol_of(endpoint)?;
    let open = async {
        match proto {
            #[cfg(feature = "tcp")]
            Proto::Tcp => tcp::connect(endpoint, config).await,
            #[cfg(feature = "udp")]
            Proto::Udp => udp::connect(endpoint).await,
            #[cfg(all(unix, feature = "unixsock-stream"))]
            Proto::Unix => unix::connect(endpoint).await,
            #[cfg(feature = "tls")]
            Proto::Tls => tls::connect(endpoint, config).await,
        }
    };
    match tokio::time::timeout(config.connect_timeout, open).await {
        Ok(res) => res,
        Err(_) => Err(LinkError::TimedOut {
            operation: "connect to",
            endpoint: endpoint.to_string(),
            after: config.connect_timeout,
        }),
    }
}

/// Binds a listener on `endpoint` (port 0 picks a free port, see [`Listener::locator`]).
pub async fn listen(endpoint: &Endpoint, config: &LinkConfig) -> Result<Listener, LinkError> {
    let proto = protocol_of(endpoint)?;
    let bound = |address: String| {
        let locator: Locator = Locator::from_parts(endpoint.protocol(), address)
            .with_metadata(endpoint.metadata().clone());
        endpoint.with_locator(locator)
    };
    let (kind, endpoint) = match proto {
        #[cfg(feature = "tcp")]
        Proto::Tcp => {
            let (acceptor, addr) = tcp::listen(endpoint, config).await?;
            (ListenerKind::Tcp(acceptor), bound(addr.to_string()))
        }
        #[cfg(feature = "udp")]
        Proto::Udp => {
            let (acceptor, addr) = udp::listen(endpoint).await?;
            (ListenerKind::Udp(acceptor), bound(addr.to_string()))
        }
        #[cfg(all(unix, feature = "unixsock-stream"))]
        Proto::Unix => {
            let acceptor = unix::listen(endpoint).await?;
            (
                ListenerKind::Unix(acceptor),
                bound(endpoint.address().to_owned()),
            )
        }
        #[cfg(feature = "tls")]
        Proto::Tls => {
            let (acceptor, addr) = tls::listen(endpoint, config).await?;
            (ListenerKind::Tls(acceptor), bound(addr.to_string()))
        }
    };
    Ok(Listener { endpoint, kind })
}

/// The accepting side of a listener, per protocol.
#[derive(Debug)]
enum ListenerKind {
    #[cfg(feature = "tcp")]
    Tcp(tcp::TcpAcceptor),
    #[cfg(feature = "udp")]
    Udp(udp::UdpAcceptor),
    #[cfg(all(unix, feature = "unixsock-stream"))]
    Unix(unix::UnixAcceptor),
    #[cfg(feature = "tls")]
    Tls(tls::TlsAcceptor),
}

/// A bound listener; dropping it stops accepting while accepted links keep working.
pub struct Listener {
    endpoint: Endpoint,
    kind: ListenerKind,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Returns the bound locator (port 0 replaced by the real port, metadata kept).
    pub fn locator(&self) -> &Locator {
        self.endpoint.locator()
    }

    /// Returns the bound endpoint (the bound locator plus the original config).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Waits for the next incoming link; for UDP, the first datagram from a new address.
    ///
    /// Errors (e.g. too many open files, a refused TLS handshake) concern one attempt: the
    /// listener stays usable. On TLS listeners, the links come out once their TLS
    /// handshake completed (handshakes run concurrently, see [`MAX_PENDING_HANDSHAKES`]).
    pub async fn accept(&mut self) -> Result<Link, LinkError> {
        match &mut self.kind {
            #[cfg(feature = "tcp")]
            ListenerKind::Tcp(a) => a.accept().await,
            #[cfg(feature = "udp")]
            ListenerKind::Udp(a) => a.accept().await,
            #[cfg(all(unix, feature = "unixsock-stream"))]
            ListenerKind::Unix(a) => a.accept().await,
            #[cfg(feature = "tls")]
            ListenerKind::Tls(a) => a.accept().await,
        }
    }
}
