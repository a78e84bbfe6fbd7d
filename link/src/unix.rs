//! Unix stream socket links and listeners (`unixsock-stream/<absolute path>`).
//!
//! The listener end of a link is named by the socket path. On Linux the connecting side
//! binds its socket to a fresh abstract name (`@plexus-<pid>-<n>`) so both sides report the
//! same locator for it; elsewhere (or if that fails) each side invents a process-unique
//! `unnamed-<pid>-<n>` name for that end, as Zenoh does with random names.
//!
//! Listening on a path that already exists probes it with a connection: a live listener
//! makes this fail with [`LinkError::AddressInUse`] (and sees a link that closes at once), a
//! stale socket file is removed, and anything that is not a socket is left alone.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{UnixListener, UnixStream};

use crate::endpoint::{Endpoint, EndpointError, Locator};
use crate::error::LinkError;
use crate::link::{Link, LinkInfo, ReaderKind, WriterKind};

/// Protocol name of unix stream socket locators.
pub const UNIXSOCK_STREAM_PROTOCOL: &str = "unixsock-stream";

/// MTU of unix stream links: like Zenoh, the largest batch a 16-bit length prefix allows.
pub const UNIXSOCK_STREAM_MTU: u16 = u16::MAX;

/// Numbers the client ends of links created by this process.
static CLIENT_ENDS: AtomicU64 = AtomicU64::new(0);

/// Names a client end that has no path, unique within this process.
///
/// Used where the peer's address is unknown: the two sides' names then differ, as in Zenoh,
/// which invents a random name for that end.
fn unnamed(pid: Option<i32>) -> Locator {
    let n = CLIENT_ENDS.fetch_add(1, Ordering::Relaxed);
    let pid = pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    Locator::from_parts(UNIXSOCK_STREAM_PROTOCOL, format!("unnamed-{pid}-{n}"))
}

/// Returns the abstract name (Linux) a socket address carries, printed as `@name`.
fn abstract_name(addr: &socket2::SockAddr) -> Option<String> {
    let name = addr.as_abstract_namespace()?;
    std::str::from_utf8(name).ok().map(|n| format!("@{n}"))
}

/// Connects from a socket bound to a fresh abstract name, so both sides see the same name
/// for the client end (Linux only; `None` when that is not possible right away).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn connect_named(path: &Path) -> Option<(UnixStream, Locator)> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let n = CLIENT_ENDS.fetch_add(1, Ordering::Relaxed);
    let name = format!("\0plexus-{}-{n}", std::process::id());
    let attempt = || -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(&name)?)?;
        socket.set_nonblocking(true)?;
        // A unix stream connect completes at once unless the backlog is full.
        socket.connect(&SockAddr::unix(path)?)?;
        UnixStream::from_std(socket.into())
    };
    match attempt() {
        Ok(stream) => {
            let local = socket2::SockRef::from(&stream).local_addr().ok()?;
            let address = abstract_name(&local)?;
            Some((
                stream,
                Locator::from_parts(UNIXSOCK_STREAM_PROTOCOL, address),
            ))
        }
        Err(e) => {
            tracing::trace!(error = %e, "named unix connect failed, falling back to unnamed");
            None
        }
    }
}

fn path_of(endpoint: &Endpoint) -> Result<PathBuf, EndpointError> {
    let path = Path::new(endpoint.address());
    if !path.is_absolute() {
        return Err(EndpointError::InvalidAddress {
            endpoint: endpoint.to_string(),
            address: endpoint.address().to_owned(),
            reason: "expected an absolute socket path".into(),
        });
    }
    Ok(path.to_path_buf())
}

/// Checks the address syntax.
pub(crate) fn validate(endpoint: &Endpoint) -> Result<(), EndpointError> {
    path_of(endpoint).map(|_| ())
}

fn into_link(stream: UnixStream, src: Locator, dst: Locator) -> Link {
    let info = LinkInfo {
        src,
        dst,
        group: None,
        mtu: UNIXSOCK_STREAM_MTU,
        is_reliable: true,
        is_streamed: true,
        auth_identifier: None,
    };
    let (r, w) = stream.into_split();
    Link::new(info, ReaderKind::Unix(r), WriterKind::Unix(w))
}

/// Connects to the socket at the endpoint's path; a missing path counts as refused.
pub(crate) async fn connect(endpoint: &Endpoint) -> Result<Link, LinkError> {
    let path = path_of(endpoint)?;
    let dst = Locator::from_parts(UNIXSOCK_STREAM_PROTOCOL, endpoint.address().to_owned());
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some((stream, src)) = connect_named(&path) {
        return Ok(into_link(stream, src, dst));
    }
    let stream = UnixStream::connect(&path).await.map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            LinkError::ConnectionRefused {
                endpoint: endpoint.to_string(),
            }
        } else {
            LinkError::io("connect to", endpoint, e)
        }
    })?;
    let dst = Locator::from_parts(UNIXSOCK_STREAM_PROTOCOL, endpoint.address().to_owned());
    Ok(into_link(
        stream,
        unnamed(i32::try_from(std::process::id()).ok()),
        dst,
    ))
}

/// A bound unix listener; its socket file is removed when it is dropped.
#[derive(Debug)]
pub(crate) struct UnixAcceptor {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file we created, so we never remove someone else's.
    id: Option<(u64, u64)>,
    locator: Locator,
}

impl Drop for UnixAcceptor {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| Some((m.dev(), m.ino())) == self.id)
            .unwrap_or(false);
        if !ours {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot remove socket file");
        }
    }
}

/// Binds a listener at the endpoint's path, replacing a stale socket file but refusing a live one.
pub(crate) async fn listen(endpoint: &Endpoint) -> Result<UnixAcceptor, LinkError> {
    let path = path_of(endpoint)?;
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(LinkError::AddressInUse {
                    endpoint: endpoint.to_string(),
                });
            }
            // Nobody answers: a stale file left by a crashed process.
            std::fs::remove_file(&path)
                .map_err(|e| LinkError::io("remove stale socket file of", endpoint, e))?;
        }
        Ok(_) => {
            return Err(LinkError::io(
                "listen on",
                endpoint,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the path exists and is not a socket",
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LinkError::io("inspect socket path of", endpoint, e)),
    }
    let listener =
        UnixListener::bind(&path).map_err(|e| LinkError::io("listen on", endpoint, e))?;
    let id = std::fs::symlink_metadata(&path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let locator = Locator::from_parts(UNIXSOCK_STREAM_PROTOCOL, endpoint.address().to_owned());
    Ok(UnixAcceptor {
        listener,
        path,
        id,
        locator,
    })
}

impl UnixAcceptor {
    /// Waits for the next incoming connection.
    pub(crate) async fn accept(&self) -> Result<Link, LinkError> {
        let (stream, _) = self.listener.accept().await.map_err(|e| LinkError::Io {
            operation: "accept on",
            endpoint: self.locator.to_string(),
            source: e,
        })?;
        let peer = socket2::SockRef::from(&stream)
            .peer_addr()
            .ok()
            .and_then(|a| abstract_name(&a));
        let dst = match peer {
            Some(name) => Locator::from_parts(UNIXSOCK_STREAM_PROTOCOL, name),
            None => unnamed(stream.peer_cred().ok().and_then(|c| c.pid())),
        };
        Ok(into_link(stream, self.locator.clone(), dst))
    }
}
