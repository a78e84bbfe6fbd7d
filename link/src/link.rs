//! Links: an established byte channel to one peer, splittable into a reader and a writer.

use std::sync::Arc;

#[cfg(any(feature = "tcp", all(unix, feature = "unixsock-stream")))]
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::endpoint::Locator;
use crate::error::LinkError;

/// Facts about a link, shared by both halves and reportable in an admin space.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkInfo {
    pub(crate) src: Locator,
    pub(crate) dst: Locator,
    pub(crate) group: Option<Locator>,
    pub(crate) mtu: u16,
    pub(crate) is_reliable: bool,
    pub(crate) is_streamed: bool,
    pub(crate) auth_identifier: Option<String>,
}

impl LinkInfo {
    /// Returns the local locator of the link.
    pub fn src(&self) -> &Locator {
        &self.src
    }

    /// Returns the remote locator of the link.
    pub fn dst(&self) -> &Locator {
        &self.dst
    }

    /// Returns the multicast group locator (always `None`: only unicast links exist).
    pub fn group(&self) -> Option<&Locator> {
        self.group.as_ref()
    }

    /// Returns the largest batch the link carries in one piece, in bytes.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Returns whether the link delivers every byte, in order.
    pub fn is_reliable(&self) -> bool {
        self.is_reliable
    }

    /// Returns whether the link is a byte stream (as opposed to datagrams).
    pub fn is_streamed(&self) -> bool {
        self.is_streamed
    }

    /// Returns the identity the link layer proved for the peer: on TLS links, the common
    /// name of the certificate the peer presented (`None` when it presented none, and on
    /// every other protocol).
    pub fn auth_identifier(&self) -> Option<&str> {
        self.auth_identifier.as_deref()
    }
}

/// The reading side of a link, per protocol.
#[derive(Debug)]
pub(crate) enum ReaderKind {
    #[cfg(feature = "tcp")]
    Tcp(tokio::net::tcp::OwnedReadHalf),
    #[cfg(feature = "udp")]
    Udp(crate::udp::UdpReader),
    #[cfg(all(unix, feature = "unixsock-stream"))]
    Unix(tokio::net::unix::OwnedReadHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::ReadHalf<crate::tls::Stream>),
}

/// The writing side of a link, per protocol.
#[derive(Debug)]
pub(crate) enum WriterKind {
    #[cfg(feature = "tcp")]
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    #[cfg(feature = "udp")]
    Udp(crate::udp::UdpWriter),
    #[cfg(all(unix, feature = "unixsock-stream"))]
    Unix(tokio::net::unix::OwnedWriteHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::WriteHalf<crate::tls::Stream>),
}

/// The receiving half of a link.
#[derive(Debug)]
pub struct LinkReader {
    info: Arc<LinkInfo>,
    kind: ReaderKind,
}

/// The sending half of a link.
#[derive(Debug)]
pub struct LinkWriter {
    info: Arc<LinkInfo>,
    kind: WriterKind,
}

/// An established link to one peer over TCP, UDP or a unix stream socket.
#[derive(Debug)]
pub struct Link {
    reader: LinkReader,
    writer: LinkWriter,
}

impl Link {
    pub(crate) fn new(info: LinkInfo, reader: ReaderKind, writer: WriterKind) -> Self {
        let info = Arc::new(info);
        Link {
            reader: LinkReader {
                info: info.clone(),
                kind: reader,
            },
            writer: LinkWriter { info, kind: writer },
        }
    }

    /// Returns the shared link facts.
    pub fn info(&self) -> &Arc<LinkInfo> {
        &self.reader.info
    }

    /// Returns the local locator.
    pub fn src(&self) -> &Locator {
        self.info().src()
    }

    /// Returns the remote locator.
    pub fn dst(&self) -> &Locator {
        self.info().dst()
    }

    /// Returns the multicast group (always `None`).
    pub fn group(&self) -> Option<&Locator> {
        self.info().group()
    }

    /// Returns the link MTU in bytes.
    pub fn mtu(&self) -> u16 {
        self.info().mtu()
    }

    /// Returns whether the link is reliable.
    pub fn is_reliable(&self) -> bool {
        self.info().is_reliable()
    }

    /// Returns whether the link is streamed.
    pub fn is_streamed(&self) -> bool {
        self.info().is_streamed()
    }

    /// Splits the link so reading and writing can happen on different tasks.
    pub fn split(self) -> (LinkReader, LinkWriter) {
        (self.reader, self.writer)
    }

    /// Reads like [`LinkReader::read`].
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        self.reader.read(buf).await
    }

    /// Reads like [`LinkReader::read_exact`].
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), LinkError> {
        self.reader.read_exact(buf).await
    }

    /// Writes like [`LinkWriter::write_all`].
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), LinkError> {
        self.writer.write_all(buf).await
    }

    /// Writes like [`LinkWriter::write_vectored_all`].
    pub async fn write_vectored_all(&mut self, bufs: &[&[u8]]) -> Result<(), LinkError> {
        self.writer.write_vectored_all(bufs).await
    }

    /// Closes like [`LinkWriter::close`].
    pub async fn close(&mut self) -> Result<(), LinkError> {
        self.writer.close().await
    }

    /// Returns whether `TCP_NODELAY` is set (`None` for non-TCP links).
    pub fn tcp_nodelay(&self) -> Option<bool> {
        self.writer.tcp_nodelay()
    }

    /// Returns the socket's `SO_SNDBUF` as reported by the OS (`None` for non-TCP links).
    pub fn send_buffer_size(&self) -> Option<usize> {
        self.writer.send_buffer_size()
    }

    /// Returns the socket's `SO_RCVBUF` as reported by the OS (`None` for non-TCP links).
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.writer.recv_buffer_size()
    }
}

impl LinkReader {
    /// Returns the shared link facts.
    pub fn info(&self) -> &Arc<LinkInfo> {
        &self.info
    }

    fn err(&self, operation: &'static str, e: std::io::Error) -> LinkError {
        #[cfg(feature = "tls")]
        if let Some(tls) = crate::tls::io_error(&self.info.dst, &e) {
            return tls;
        }
        LinkError::io(operation, &self.info.dst, e)
    }

    /// Reads into `buf`: on streamed links some bytes (`Ok(0)` = end of stream), on datagram
    /// links exactly one datagram (truncated to `buf.len()` if larger).
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let res: std::io::Result<usize> = match &mut self.kind {
            #[cfg(feature = "tcp")]
            ReaderKind::Tcp(r) => r.read(buf).await,
            #[cfg(feature = "udp")]
            ReaderKind::Udp(r) => r.recv(buf).await,
            #[cfg(all(unix, feature = "unixsock-stream"))]
            ReaderKind::Unix(r) => r.read(buf).await,
            #[cfg(feature = "tls")]
            ReaderKind::Tls(r) => r.read(buf).await,
        };
        res.map_err(|e| self.err("read from", e))
    }

    /// Appends what arrives to `buf` (growing it by up to `max` bytes): on streamed links
    /// some bytes (`Ok(0)` = end of stream), on datagram links one whole datagram.
    pub async fn read_buf(
        &mut self,
        buf: &mut bytes::BytesMut,
        max: usize,
    ) -> Result<usize, LinkError> {
        buf.reserve(max);
        let res: std::io::Result<usize> = match &mut self.kind {
            #[cfg(feature = "tcp")]
            ReaderKind::Tcp(r) => r.read_buf(buf).await,
            #[cfg(feature = "udp")]
            ReaderKind::Udp(r) => {
                let start = buf.len();
                buf.resize(start + max, 0);
                let n = r.recv(&mut buf[start..]).await;
                buf.truncate(start + *n.as_ref().unwrap_or(&0));
                n
            }
            #[cfg(all(unix, feature = "unixsock-stream"))]
            ReaderKind::Unix(r) => r.read_buf(buf).await,
            #[cfg(feature = "tls")]
            ReaderKind::Tls(r) => r.read_buf(buf).await,
        };
        res.map_err(|e| self.err("read from", e))
    }

    /// Fills `buf` completely on a streamed link; end of stream first is [`LinkError::ClosedByPeer`].
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), LinkError> {
        let res: std::io::Result<()> = match &mut self.kind {
            #[cfg(feature = "tcp")]
            ReaderKind::Tcp(r) => r.read_exact(buf).await.map(|_| ()),
            #[cfg(feature = "udp")]
            ReaderKind::Udp(_) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!(
                    "read_exact of {} bytes needs a streamed link; read datagrams with read()",
                    buf.len()
                ),
            )),
            #[cfg(all(unix, feature = "unixsock-stream"))]
            ReaderKind::Unix(r) => r.read_exact(buf).await.map(|_| ()),
            #[cfg(feature = "tls")]
            ReaderKind::Tls(r) => r.read_exact(buf).await.map(|_| ()),
        };
        res.map_err(|e| self.err("read_exact from", e))
    }
}

impl LinkWriter {
    /// Returns the shared link facts.
    pub fn info(&self) -> &Arc<LinkInfo> {
        &self.info
    }

    fn err(&self, operation: &'static str, e: std::io::Error) -> LinkError {
        #[cfg(feature = "tls")]
        if let Some(tls) = crate::tls::io_error(&self.info.dst, &e) {
            return tls;
        }
        LinkError::io(operation, &self.info.dst, e)
    }

    fn check_datagram(&self, size: usize) -> Result<(), LinkError> {
        if !self.info.is_streamed && size > usize::from(self.info.mtu) {
            return Err(LinkError::TooLarge {
                endpoint: self.info.dst.to_string(),
                size,
                mtu: self.info.mtu,
            });
        }
        Ok(())
    }

    /// Writes all of `buf`; on datagram links `buf` is sent as one datagram of at most `mtu` bytes.
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), LinkError> {
        self.check_datagram(buf.len())?;
        let res: std::io::Result<()> = match &mut self.kind {
            #[cfg(feature = "tcp")]
            WriterKind::Tcp(w) => w.write_all(buf).await,
            #[cfg(feature = "udp")]
            WriterKind::Udp(w) => w.send(buf).await,
            #[cfg(all(unix, feature = "unixsock-stream"))]
            WriterKind::Unix(w) => w.write_all(buf).await,
            // rustls may keep encrypted records back when the socket is full: flush them.
            #[cfg(feature = "tls")]
            WriterKind::Tls(w) => match w.write_all(buf).await {
                Ok(()) => w.flush().await,
                Err(e) => Err(e),
            },
        };
        res.map_err(|e| self.err("write to", e))
    }

    /// Writes all buffers in order, using vectored writes on streams; on datagram links the
    /// buffers are joined into one datagram of at most `mtu` bytes.
    pub async fn write_vectored_all(&mut self, bufs: &[&[u8]]) -> Result<(), LinkError> {
        self.write_vectored_all_noting(bufs, &mut |_| {}).await
    }

    /// [`LinkWriter::write_vectored_all`], calling `progress` with the byte count of each
    /// write that took some (a stream may take a long write in many parts).
    pub async fn write_vectored_all_noting(
        &mut self,
        bufs: &[&[u8]],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), LinkError> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.check_datagram(total)?;
        let res: std::io::Result<()> = match &mut self.kind {
            #[cfg(feature = "tcp")]
            WriterKind::Tcp(w) => write_vectored_stream(w, bufs, progress).await,
            #[cfg(feature = "udp")]
            WriterKind::Udp(w) => w.send(&bufs.concat()).await.map(|()| progress(total)),
            #[cfg(all(unix, feature = "unixsock-stream"))]
            WriterKind::Unix(w) => write_vectored_stream(w, bufs, progress).await,
            #[cfg(feature = "tls")]
            WriterKind::Tls(w) => match write_vectored_stream(w, bufs, progress).await {
                Ok(()) => w.flush().await,
                Err(e) => Err(e),
            },
        };
        res.map_err(|e| self.err("write to", e))
    }

    /// Shuts the sending direction down (the peer reads end of stream on streamed links);
    /// later writes fail.
    pub async fn close(&mut self) -> Result<(), LinkError> {
        let res: std::io::Result<()> = match &mut self.kind {
            #[cfg(feature = "tcp")]
            WriterKind::Tcp(w) => w.shutdown().await,
            #[cfg(feature = "udp")]
            WriterKind::Udp(w) => {
                w.close();
                Ok(())
            }
            #[cfg(all(unix, feature = "unixsock-stream"))]
            WriterKind::Unix(w) => w.shutdown().await,
            // Sends TLS close_notify, then shuts the TCP sending direction down.
            #[cfg(feature = "tls")]
            WriterKind::Tls(w) => w.shutdown().await,
        };
        match res {
            // The peer may already have gone: closing is then done.
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
            other => other.map_err(|e| self.err("close", e)),
        }
    }

    /// Returns whether `TCP_NODELAY` is set (`None` for non-TCP links).
    pub fn tcp_nodelay(&self) -> Option<bool> {
        match &self.kind {
            #[cfg(feature = "tcp")]
            WriterKind::Tcp(w) => w.as_ref().nodelay().ok(),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Returns the socket's `SO_SNDBUF` as reported by the OS (`None` for non-TCP links).
    pub fn send_buffer_size(&self) -> Option<usize> {
        match &self.kind {
            #[cfg(feature = "tcp")]
            WriterKind::Tcp(w) => socket2::SockRef::from(w.as_ref()).send_buffer_size().ok(),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Returns the socket's `SO_RCVBUF` as reported by the OS (`None` for non-TCP links).
    pub fn recv_buffer_size(&self) -> Option<usize> {
        match &self.kind {
            #[cfg(feature = "tcp")]
            WriterKind::Tcp(w) => socket2::SockRef::from(w.as_ref()).recv_buffer_size().ok(),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// Writes every buffer to a stream with as few vectored writes as the OS allows.
#[cfg(any(feature = "tcp", all(unix, feature = "unixsock-stream")))]
async fn write_vectored_stream<W>(
    w: &mut W,
    bufs: &[&[u8]],
    progress: &mut (dyn FnMut(usize) + Send),
) -> std::io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    use std::io::IoSlice;
    let mut slices: Vec<IoSlice<'_>> = bufs
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| IoSlice::new(b))
        .collect();
    let mut rest: &mut [IoSlice<'_>] = &mut slices;
    while !rest.is_empty() {
        let n = w.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        progress(n);
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}
