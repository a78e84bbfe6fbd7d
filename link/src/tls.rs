//! TLS links and listeners (`tls/host:port`): TLS over TCP with rustls and the ring provider.
//!
//! The settings and their meaning follow Zenoh 1.10.2's TLS link ([`TlsConfig`], overridable
//! per endpoint with Zenoh's endpoint keys):
//! - connecting checks the server's certificate chain against the WebPKI roots plus
//!   `root_ca_certificate`, and (unless `verify_name_on_connect` is false) that it names the
//!   endpoint's host; the host is sent as SNI when it is a DNS name;
//! - listening needs `listen_certificate` and `listen_private_key`; with `enable_mtls` the
//!   listener demands a client certificate signed by `root_ca_certificate` (the only roots
//!   it trusts) and the connecting side presents `connect_certificate`; both sides then
//!   speak TLS 1.3 only;
//! - the link's [`LinkInfo::auth_identifier`] is the common name of the certificate the
//!   peer presented.
//!
//! An accepted connection's TLS handshake runs on a task of its own (at most
//! [`MAX_PENDING_HANDSHAKES`] at once, each bounded by the handshake timeout), so a slow or
//! silent client never holds up the others; [`crate::Listener::accept`] returns the links
//! whose handshake finished, and the failures, one per call.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    ServerConfig, SignatureScheme,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::config::{LinkConfig, Pem, SocketOptions};
use crate::endpoint::{Endpoint, EndpointError, Locator};
use crate::error::LinkError;
use crate::link::{Link, LinkInfo, ReaderKind, WriterKind};
use crate::net::{self, Host};
use crate::tcp;

/// Protocol name of TLS locators.
pub const TLS_PROTOCOL: &str = "tls";

/// TLS handshakes a listener runs at once (Zenoh's `accept_pending` default); further
/// connections wait in the kernel's backlog until one finishes.
pub const MAX_PENDING_HANDSHAKES: usize = 100;

/// The stream under a TLS link.
pub(crate) type Stream = tokio_rustls::TlsStream<TcpStream>;

/// The five PEM items and their Zenoh names.
const ROOT_CA: &str = "root_ca_certificate";
const LISTEN_CERT: &str = "listen_certificate";
const LISTEN_KEY: &str = "listen_private_key";
const CONNECT_CERT: &str = "connect_certificate";
const CONNECT_KEY: &str = "connect_private_key";
/// Endpoint keys of the options.
const ENABLE_MTLS: &str = "enable_mtls";
const VERIFY_NAME: &str = "verify_name_on_connect";
const HANDSHAKE_TIMEOUT_MS: &str = "tls_handshake_timeout_ms";

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A PEM item and where it was configured, for error messages.
#[derive(Debug)]
struct Item {
    pem: Pem,
    origin: String,
}

/// The TLS settings for one endpoint: the link config overridden by the endpoint's config.
#[derive(Debug)]
struct Settings {
    root_ca: Option<Item>,
    listen_cert: Option<Item>,
    listen_key: Option<Item>,
    connect_cert: Option<Item>,
    connect_key: Option<Item>,
    enable_mtls: bool,
    verify_name: bool,
    handshake_timeout: Duration,
    socket: SocketOptions,
}

fn config_error(endpoint: &Endpoint, reason: impl Into<String>) -> LinkError {
    LinkError::TlsConfig {
        endpoint: endpoint.to_string(),
        reason: reason.into(),
    }
}

/// The item `name` from the endpoint's `<name>_file|_base64|_raw` entry, else from the
/// link config.
fn item(endpoint: &Endpoint, name: &str, global: &Option<Pem>) -> Result<Option<Item>, LinkError> {
    type Make = fn(String) -> Pem;
    let forms: [(&str, Make); 3] = [
        ("file", |v| Pem::File(v.into())),
        ("base64", Pem::Base64),
        ("raw", Pem::Raw),
    ];
    let mut found: Option<Item> = None;
    for (suffix, make) in forms {
        let key = format!("{name}_{suffix}");
        if let Some(value) = endpoint.config().get(&key) {
            if let Some(first) = &found {
                return Err(config_error(
                    endpoint,
                    format!("give only one of {} and `{key}`", first.origin),
                ));
            }
            found = Some(Item {
                pem: make(value.to_owned()),
                origin: format!("endpoint config `{key}`"),
            });
        }
    }
    if found.is_some() {
        return Ok(found);
    }
    Ok(global.as_ref().map(|pem| Item {
        origin: match pem {
            Pem::File(path) => format!("`transport/link/tls/{name}` ({})", path.display()),
            Pem::Base64(_) => format!("`transport/link/tls/{name}_base64`"),
            Pem::Raw(_) => format!("`transport/link/tls/{name}` (inline)"),
        },
        pem: pem.clone(),
    }))
}

fn flag(endpoint: &Endpoint, key: &str, default: bool) -> Result<bool, LinkError> {
    match endpoint.config().get(key) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(EndpointError::InvalidConfigValue {
            endpoint: endpoint.to_string(),
            key: key.to_owned(),
            value: other.to_owned(),
            reason: "expected `true` or `false`",
        }
        .into()),
    }
}

impl Settings {
    fn resolve(config: &LinkConfig, endpoint: &Endpoint) -> Result<Self, LinkError> {
        let tls = &config.tls;
        let handshake_timeout = match endpoint.config().get(HANDSHAKE_TIMEOUT_MS) {
            None => tls.handshake_timeout,
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(EndpointError::InvalidConfigValue {
                        endpoint: endpoint.to_string(),
                        key: HANDSHAKE_TIMEOUT_MS.to_owned(),
                        value: v.to_owned(),
                        reason: "expected a positive number of milliseconds",
                    }
                    .into());
                }
            },
        };
        Ok(Settings {
            root_ca: item(endpoint, ROOT_CA, &tls.root_ca_certificate)?,
            listen_cert: item(endpoint, LISTEN_CERT, &tls.listen_certificate)?,
            listen_key: item(endpoint, LISTEN_KEY, &tls.listen_private_key)?,
            connect_cert: item(endpoint, CONNECT_CERT, &tls.connect_certificate)?,
            connect_key: item(endpoint, CONNECT_KEY, &tls.connect_private_key)?,
            enable_mtls: flag(endpoint, ENABLE_MTLS, tls.enable_mtls)?,
            verify_name: flag(endpoint, VERIFY_NAME, tls.verify_name_on_connect)?,
            handshake_timeout,
            socket: SocketOptions::resolve_with(
                config.tcp_nodelay,
                tls.so_sndbuf,
                tls.so_rcvbuf,
                endpoint,
            )?,
        })
    }
}

/// Reads the PEM text of an item.
async fn load(item: &Item) -> Result<Vec<u8>, String> {
    use base64::Engine;
    match &item.pem {
        Pem::File(path) => tokio::fs::read(path)
            .await
            .map_err(|e| format!("{}: cannot read {}: {e}", item.origin, path.display())),
        Pem::Base64(text) => {
            let compact: String = text.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| format!("{}: not valid base64: {e}", item.origin))
        }
        Pem::Raw(text) => Ok(text.as_bytes().to_vec()),
    }
}

async fn certificates(item: &Item) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = load(item).await?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", item.origin))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate", item.origin));
    }
    Ok(certs)
}

async fn private_key(item: &Item) -> Result<PrivateKeyDer<'static>, String> {
    let pem = load(item).await?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "{}: holds no usable private key (PKCS#1, PKCS#8 or SEC1 PEM expected): {e}",
            item.origin
        )
    })
}

async fn add_roots(store: &mut RootCertStore, item: &Item) -> Result<(), String> {
    for cert in certificates(item).await? {
        store
            .add(cert)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", item.origin))?;
    }
    Ok(())
}

/// A certificate and its key, both required.
async fn identity(
    cert: &Option<Item>,
    key: &Option<Item>,
    names: (&str, &str),
    why: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let missing = |name: &str| {
        format!(
            "{why} needs `transport/link/tls/{name}` (or `{name}_base64`, or the endpoint's \
             `{name}_file`)"
        )
    };
    let cert = cert.as_ref().ok_or_else(|| missing(names.0))?;
    let key = key.as_ref().ok_or_else(|| missing(names.1))?;
    Ok((certificates(cert).await?, private_key(key).await?))
}

/// Checks a server's chain against the roots but not its name (`verify_name_on_connect:
/// false`), as Zenoh does.
#[derive(Debug)]
struct AnyNameVerifier {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn client_config(s: &Settings) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca) = &s.root_ca {
        add_roots(&mut roots, ca).await?;
    }
    let builder = ClientConfig::builder_with_provider(provider());
    let builder = if s.enable_mtls {
        builder.with_protocol_versions(&[&rustls::version::TLS13])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .map_err(|e| e.to_string())?;
    let builder = if s.verify_name {
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyNameVerifier {
                roots,
                provider: provider(),
            }))
    };
    let config = if s.enable_mtls {
        let (certs, key) = identity(
            &s.connect_cert,
            &s.connect_key,
            (CONNECT_CERT, CONNECT_KEY),
            "connecting with `enable_mtls`",
        )
        .await?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("the connect certificate and key do not fit: {e}"))?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(config))
}

async fn server_config(s: &Settings) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = identity(
        &s.listen_cert,
        &s.listen_key,
        (LISTEN_CERT, LISTEN_KEY),
        "listening on TLS",
    )
    .await?;
    let builder = ServerConfig::builder_with_provider(provider());
    let config = if s.enable_mtls {
        let ca = s.root_ca.as_ref().ok_or_else(|| {
            format!(
                "`enable_mtls` needs `transport/link/tls/{ROOT_CA}` (or `{ROOT_CA}_base64`, or \
                 the endpoint's `{ROOT_CA}_file`) to check client certificates"
            )
        })?;
        let mut roots = RootCertStore::empty();
        add_roots(&mut roots, ca).await?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("{}: {e}", ca.origin))?;
        builder
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
    } else {
        builder
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
    }
    .map_err(|e| format!("the listen certificate and key do not fit: {e}"))?;
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry: the endpoint's host.
fn server_name(endpoint: &Endpoint) -> Result<ServerName<'static>, LinkError> {
    let (host, _) = net::parse(endpoint)?;
    match host {
        Host::Ip(ip) => Ok(ServerName::IpAddress(ip.into())),
        Host::Name(name) => ServerName::try_from(name.to_owned()).map_err(|_| {
            EndpointError::InvalidAddress {
                endpoint: endpoint.to_string(),
                address: endpoint.address().to_owned(),
                reason: format!("`{name}` is not a valid DNS name for TLS"),
            }
            .into()
        }),
    }
}

/// Checks the address syntax.
pub(crate) fn validate(endpoint: &Endpoint) -> Result<(), EndpointError> {
    net::validate(endpoint)
}

/// Says in words why rustls failed.
fn describe(err: &rustls::Error) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the peer's certificate is not signed by a CA we trust (unknown issuer)".into()
        }
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the peer's certificate does not name the host we connected to (set \
              `verify_name_on_connect` to false to check only its chain)"
            .into(),
        E::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the peer's certificate has expired".into(),
        E::NoCertificatesPresented => "the peer presented no client certificate, but mTLS \
                                       (`enable_mtls`) is on here"
            .into(),
        E::AlertReceived(AlertDescription::UnknownCA) => {
            "the peer refused our certificate: it is not signed by a CA the peer trusts \
             (alert unknown_ca)"
                .into()
        }
        E::AlertReceived(AlertDescription::BadCertificate) => {
            "the peer refused our certificate (alert bad_certificate)".into()
        }
        E::AlertReceived(AlertDescription::CertificateExpired) => {
            "the peer refused our certificate as expired (alert certificate_expired)".into()
        }
        E::AlertReceived(AlertDescription::CertificateRequired) => {
            "the peer requires a client certificate (mTLS): set `enable_mtls` with \
             `connect_certificate` and `connect_private_key`"
                .into()
        }
        other => other.to_string(),
    }
}

/// Turns an I/O error that carries a rustls error into [`LinkError::Tls`].
pub(crate) fn io_error(endpoint: &Locator, e: &std::io::Error) -> Option<LinkError> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(LinkError::Tls {
        endpoint: endpoint.to_string(),
        reason: describe(tls),
    })
}

fn handshake_error(endpoint: &str, e: std::io::Error) -> LinkError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => LinkError::Tls {
            endpoint: endpoint.to_owned(),
            reason: describe(tls),
        },
        None => LinkError::io("TLS handshake with", endpoint, e),
    }
}

/// The common name of the certificate the peer presented first, if any.
fn peer_common_name(conn: &rustls::CommonState) -> Option<String> {
    conn.peer_certificates()?
        .first()
        .and_then(|c| common_name(c.as_ref()))
}

fn into_link(
    stream: Stream,
    local: SocketAddr,
    peer: SocketAddr,
    mtu: u16,
    auth_identifier: Option<String>,
) -> Link {
    let info = LinkInfo {
        src: Locator::from_parts(TLS_PROTOCOL, local.to_string()),
        dst: Locator::from_parts(TLS_PROTOCOL, peer.to_string()),
        group: None,
        mtu,
        is_reliable: true,
        is_streamed: true,
        auth_identifier,
    };
    let (r, w) = tokio::io::split(stream);
    Link::new(info, ReaderKind::Tls(r), WriterKind::Tls(w))
}

/// Connects over TCP, then runs the TLS handshake as the client.
pub(crate) async fn connect(endpoint: &Endpoint, config: &LinkConfig) -> Result<Link, LinkError> {
    let settings = Settings::resolve(config, endpoint)?;
    let name = server_name(endpoint)?;
    let client = client_config(&settings)
        .await
        .map_err(|reason| config_error(endpoint, reason))?;
    let shown = endpoint.to_string();
    let stream = tcp::connect_stream(endpoint, &settings.socket).await?;
    let (local, peer) = tcp::prepare(&stream, &settings.socket, &shown)?;
    let mtu = tcp::mtu(&stream, local);
    let tls = tokio_rustls::TlsConnector::from(client)
        .connect(name, stream)
        .await
        .map_err(|e| handshake_error(&shown, e))?;
    let cn = peer_common_name(tls.get_ref().1);
    Ok(into_link(
        tokio_rustls::TlsStream::Client(tls),
        local,
        peer,
        mtu,
        cn,
    ))
}

/// A bound TLS listener with the handshakes of accepted connections in flight.
pub(crate) struct TlsAcceptor {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    socket: SocketOptions,
    timeout: Duration,
    locator: String,
    /// Handshakes in flight; dropping the acceptor aborts them.
    pending: JoinSet<Result<Link, LinkError>>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("locator", &self.locator)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Binds a listener on the first address of `endpoint`; returns it with its bound address.
pub(crate) async fn listen(
    endpoint: &Endpoint,
    config: &LinkConfig,
) -> Result<(TlsAcceptor, SocketAddr), LinkError> {
    let settings = Settings::resolve(config, endpoint)?;
    let server = server_config(&settings)
        .await
        .map_err(|reason| config_error(endpoint, reason))?;
    let (listener, bound) = tcp::bind(endpoint, &settings.socket).await?;
    Ok((
        TlsAcceptor {
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(server),
            socket: settings.socket,
            timeout: settings.handshake_timeout,
            locator: format!("{TLS_PROTOCOL}/{bound}"),
            pending: JoinSet::new(),
        },
        bound,
    ))
}

impl TlsAcceptor {
    /// Returns the next link whose TLS handshake completed, or the next failure.
    pub(crate) async fn accept(&mut self) -> Result<Link, LinkError> {
        loop {
            tokio::select! {
                biased;
                Some(done) = self.pending.join_next(), if !self.pending.is_empty() => {
                    return match done {
                        Ok(result) => result,
                        Err(e) => Err(LinkError::Tls {
                            endpoint: self.locator.clone(),
                            reason: format!("handshake task ended abnormally: {e}"),
                        }),
                    };
                }
                accepted = self.listener.accept(), if self.pending.len() < MAX_PENDING_HANDSHAKES => {
                    let (stream, _) = accepted.map_err(|e| LinkError::Io {
                        operation: "accept on",
                        endpoint: self.locator.clone(),
                        source: e,
                    })?;
                    self.pending.spawn(handshake(
                        self.acceptor.clone(),
                        stream,
                        self.socket,
                        self.timeout,
                        self.locator.clone(),
                    ));
                }
            }
        }
    }
}

/// The server side of one accepted connection's TLS handshake.
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    socket: SocketOptions,
    timeout: Duration,
    locator: String,
) -> Result<Link, LinkError> {
    let (local, peer) = tcp::prepare(&stream, &socket, &locator)?;
    let mtu = tcp::mtu(&stream, local);
    let remote = format!("{TLS_PROTOCOL}/{peer}");
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Err(_) => {
            return Err(LinkError::TimedOut {
                operation: "TLS handshake with",
                endpoint: remote,
                after: timeout,
            });
        }
        Ok(Err(e)) => return Err(handshake_error(&remote, e)),
        Ok(Ok(tls)) => tls,
    };
    let cn = peer_common_name(tls.get_ref().1);
    Ok(into_link(
        tokio_rustls::TlsStream::Server(tls),
        local,
        peer,
        mtu,
        cn,
    ))
}

/// One DER element: its tag, its content, and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (content, after) = rest.split_at(len);
    Some((tag, content, after))
}

/// The first common name (OID 2.5.4.3) in the subject of a DER X.509 certificate.
pub(crate) fn common_name(cert: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (SEQUENCE, cert, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version (optional), serial, signature algorithm, issuer, validity, subject.
    if rest.first() == Some(&0xa0) {
        rest = der(rest)?.2;
    }
    for _ in 0..4 {
        rest = der(rest)?.2;
    }
    let (SEQUENCE, mut names, _) = der(rest)? else {
        return None;
    };
    while !names.is_empty() {
        let (tag, rdn, after) = der(names)?;
        names = after;
        if tag != SET {
            return None;
        }
        let mut attrs = rdn;
        while !attrs.is_empty() {
            let (tag, attr, after) = der(attrs)?;
            attrs = after;
            if tag != SEQUENCE {
                return None;
            }
            let (OID, oid, value) = der(attr)? else {
                return None;
            };
            if oid != CN {
                continue;
            }
            let (kind, text, _) = der(value)?;
            return match kind {
                // UTF8String, PrintableString, TeletexString (read as UTF-8), IA5String
                0x0c | 0x13 | 0x14 | 0x16 => std::str::from_utf8(text).ok().map(str::to_owned),
                // BMPString: UTF-16 big-endian
                0x1e if text.len() % 2 == 0 => {
                    let units = text
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]));
                    char::decode_utf16(units)
                        .collect::<Result<String, _>>()
                        .ok()
                }
                _ => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(dn: &[(rcgen::DnType, rcgen::DnValue)]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), v.clone());
        }
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn common_name_is_read_from_the_subject() {
        use rcgen::{DnType, DnValue};
        let der = cert_with(&[
            (
                DnType::OrganizationName,
                DnValue::Utf8String("Plexus".into()),
            ),
            (DnType::CommonName, DnValue::Utf8String("router-1".into())),
        ]);
        assert_eq!(common_name(&der).as_deref(), Some("router-1"));
        let der = cert_with(&[(
            DnType::CommonName,
            DnValue::PrintableString("printable".try_into().expect("printable")),
        )]);
        assert_eq!(common_name(&der).as_deref(), Some("printable"));
        let der = cert_with(&[(
            DnType::CommonName,
            DnValue::BmpString("bmp-é".try_into().expect("bmp")),
        )]);
        assert_eq!(common_name(&der).as_deref(), Some("bmp-é"));
        let der = cert_with(&[(DnType::OrganizationName, DnValue::Utf8String("x".into()))]);
        assert_eq!(common_name(&der), None);
    }

    #[test]
    fn common_name_never_panics_on_truncated_or_altered_input() {
        let der = cert_with(&[(
            rcgen::DnType::CommonName,
            rcgen::DnValue::Utf8String("node".into()),
        )]);
        for cut in 0..der.len() {
            let _ = common_name(&der[..cut]);
        }
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = common_name(&bad);
        }
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
