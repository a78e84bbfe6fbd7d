//! The HTTP server: Zenoh's REST API on `/<key-expr>`, the live connectivity page on
//! `/`, and Prometheus metrics on `/metrics`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use plexus::{Encoding, OwnedKeyExpr, Sample, Session};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::admin::{METRICS_ENCODING, param};
use crate::json::{JsonSample, html_escape};
use crate::monitor::Monitor;

/// The largest request body accepted (a PUT's payload or a query's), in bytes.
pub const MAX_BODY: usize = 16 << 20;

/// How many samples an SSE stream may hold for a slow client before it is ended (the
/// browser's `EventSource` reconnects).
const SSE_QUEUE: usize = 4096;

const PAGE: &str = include_str!("page.html");

/// The REST plugin's settings (the `plugins/rest` section, as Zenoh's plugin reads it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestConfig {
    /// Where the HTTP server listens: `http_port` is a port (all interfaces) or
    /// `"<ip>:<port>"`.
    pub http_port: SocketAddr,
}

/// Keys of `plugins/rest` that Zenoh's plugin knows and Plexus accepts without using
/// them (Plexus serves HTTP on the process's own runtime).
const IGNORED_KEYS: [&str; 6] = [
    "work_thread_num",
    "max_block_thread_num",
    "__path__",
    "__required__",
    "__config__",
    "__plugin__",
];

impl RestConfig {
    /// Reads a `plugins/rest` section.
    pub fn from_json(v: &Value) -> Result<RestConfig, Error> {
        let bad = |key: &str, reason: String| Error::Config {
            key: format!("plugins/rest/{key}"),
            reason,
        };
        let Value::Object(map) = v else {
            return Err(Error::Config {
                key: "plugins/rest".into(),
                reason: format!("expected an object, got {v}"),
            });
        };
        for k in map.keys() {
            if k != "http_port" && !IGNORED_KEYS.contains(&k.as_str()) {
                return Err(bad(
                    k,
                    "unknown key (Zenoh's REST plugin has no such key)".into(),
                ));
            }
        }
        let port = map
            .get("http_port")
            .ok_or_else(|| bad("http_port", "missing".into()))?;
        let http_port = parse_http_port(port).map_err(|r| bad("http_port", r))?;
        Ok(RestConfig { http_port })
    }

    /// The `plugins/rest` section of a session's configuration, if it has one.
    pub fn from_config(config: &plexus::Config) -> Result<Option<RestConfig>, Error> {
        config.plugin("rest").map(RestConfig::from_json).transpose()
    }
}

/// A port number (listen on every interface) or `"<ip>:<port>"`, as Zenoh accepts;
/// `"[<ipv6>]:<port>"` too.
pub(crate) fn parse_http_port(v: &Value) -> Result<SocketAddr, String> {
    let any = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let expected = || format!(r#"expected a port number or "<ip>:<port>", got {v}"#);
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .map(|p| SocketAddr::new(any, p))
            .ok_or_else(expected),
        Value::String(s) => {
            if let Ok(p) = s.parse::<u16>() {
                return Ok(SocketAddr::new(any, p));
            }
            if let Ok(a) = s.parse::<SocketAddr>() {
                return Ok(a);
            }
            match s.split_once(':') {
                Some((ip, port)) => match (ip.parse::<IpAddr>(), port.parse::<u16>()) {
                    (Ok(ip), Ok(port)) => Ok(SocketAddr::new(ip, port)),
                    _ => Err(expected()),
                },
                None => Err(expected()),
            }
        }
        _ => Err(expected()),
    }
}

/// The running HTTP server. Dropping it stops the server: it stops accepting, ends the
/// SSE streams, and finishes once the requests in progress have been answered.
pub struct RestServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    _task: JoinHandle<()>,
}

impl std::fmt::Debug for RestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[derive(Clone)]
struct AppState {
    monitor: Monitor,
    page: Arc<str>,
    shutdown: watch::Receiver<bool>,
}

impl RestServer {
    /// Binds `config.http_port` and serves `monitor`'s session.
    pub async fn serve(monitor: &Monitor, config: &RestConfig) -> Result<RestServer, Error> {
        let listener = tokio::net::TcpListener::bind(config.http_port)
            .await
            .map_err(|source| Error::Bind {
                addr: config.http_port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.http_port,
            source,
        })?;
        let session = monitor.session();
        let page = PAGE
            .replace("__ZID__", &session.zid().to_string())
            .replace("__MODE__", session.mode().as_str());
        let (shutdown, rx) = watch::channel(false);
        let state = AppState {
            monitor: monitor.clone(),
            page: page.into(),
            shutdown: rx.clone(),
        };
        let mut done = rx;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app(state))
                .with_graceful_shutdown(async move {
                    let _ = done.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("REST plugin: HTTP server on {addr} stopped: {e}");
            }
        });
        tracing::info!(%addr, "REST plugin listening");
        Ok(RestServer {
            addr,
            shutdown,
            _task: task,
        })
    }

    /// The address the server listens on (the port resolved when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route(
            "/{*key_expr}",
            get(query_or_subscribe)
                .post(query_or_subscribe)
                .put(publish)
                .patch(publish)
                .delete(publish)
                .options(preflight),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(allow_any_origin))
        .with_state(state)
}

/// CORS, as Zenoh's plugin: any origin may call the API.
async fn allow_any_origin(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

async fn preflight(headers: HeaderMap) -> Response {
    let allow_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
            ),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers),
        ],
    )
        .into_response()
}

async fn page(State(st): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        st.page.to_string(),
    )
        .into_response()
}

/// OpenMetrics text when the scraper accepts it, else Prometheus text 0.0.4.
async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let (ctype, body) = if openmetrics {
        (METRICS_ENCODING, st.monitor.metrics_text(true))
    } else {
        (
            "text/plain; version=0.0.4; charset=utf-8",
            st.monitor.metrics_text(false),
        )
    };
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

/// The key expression of a request path, with `@/local` standing for `@/<zid>`; a
/// `400` naming it when it is not valid.
fn key_of(session: &Session, path: &str) -> Result<OwnedKeyExpr, Box<Response>> {
    let path = match path.strip_prefix("@/local") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!("@/{}{rest}", session.zid())
        }
        _ => path.to_string(),
    };
    OwnedKeyExpr::new(path).map_err(|e| Box::new(text(StatusCode::BAD_REQUEST, e.to_string())))
}

/// The request's encoding: its `Content-Type`, `zenoh/bytes` without one.
fn encoding_of(headers: &HeaderMap) -> Encoding {
    headers
        .get(header::CONTENT_TYPE)
        .map(|h| Encoding::from(String::from_utf8_lossy(h.as_bytes()).as_ref()))
        .unwrap_or_default()
}

/// The first media type of the `Accept` header, without parameters.
fn first_accept(headers: &HeaderMap) -> Option<String> {
    let a = headers.get(header::ACCEPT)?.to_str().ok()?;
    let first = a.split(',').next()?.split(';').next()?.trim();
    Some(first.to_ascii_lowercase())
}

async fn query_or_subscribe(
    State(st): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let session = st.monitor.session().clone();
    let key = match key_of(&session, &path) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let accept = first_accept(&headers);
    if accept.as_deref() == Some("text/event-stream") {
        return subscribe(&session, key, st.shutdown.clone()).await;
    }
    let parameters = uri.query().unwrap_or_default();
    let selector = if parameters.is_empty() {
        key.to_string()
    } else {
        format!("{key}?{parameters}")
    };
    let mut get = session.get(&selector);
    if !body.is_empty() {
        get = get.payload(body).encoding(encoding_of(&headers));
    }
    let replies = match get.await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if param(parameters, "_raw").is_some() {
        // The first reply's payload, as is.
        let Ok(reply) = replies.recv_async().await else {
            return StatusCode::OK.into_response();
        };
        let (payload, encoding) = match reply.result() {
            Ok(s) => (s.payload().clone(), s.encoding().clone()),
            Err(e) => (e.payload().clone(), e.encoding().clone()),
        };
        let ctype = encoding.to_string();
        return match HeaderValue::from_str(&ctype) {
            Ok(v) if looks_like_mime(&ctype) => {
                ([(header::CONTENT_TYPE, v)], payload).into_response()
            }
            _ => payload.into_response(),
        };
    }
    if accept.as_deref() == Some("text/html") {
        let mut html = String::from("<dl>\n");
        while let Ok(reply) = replies.recv_async().await {
            let (key, payload) = match reply.result() {
                Ok(s) => (s.key_expr().to_string(), s.payload().clone()),
                Err(e) => ("ERROR".to_string(), e.payload().clone()),
            };
            html.push_str(&format!(
                "<dt>{}</dt>\n<dd>{}</dd>\n",
                html_escape(&key),
                html_escape(&String::from_utf8_lossy(&payload))
            ));
        }
        html.push_str("</dl>\n");
        return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    }
    let mut out = Vec::new();
    while let Ok(reply) = replies.recv_async().await {
        out.push(match reply.result() {
            Ok(s) => JsonSample::from(s),
            Err(e) => JsonSample::error(e.payload(), e.encoding()),
        });
    }
    match serde_json::to_vec(&out) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `type/subtype` followed by `; key=value` parameters, as HTTP's `Content-Type` wants.
fn looks_like_mime(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let mut parts = s.split(';');
    let Some((ty, sub)) = parts.next().and_then(|m| m.trim().split_once('/')) else {
        return false;
    };
    token(ty)
        && token(sub)
        && parts.all(|p| {
            p.trim()
                .split_once('=')
                .is_some_and(|(k, v)| token(k.trim()) && !v.trim().is_empty())
        })
}

/// Subscribes on `key` and streams the samples as Server-Sent Events (`event: PUT` or
/// `DELETE`, `data:` the JSON sample) until the client goes or the server stops.
async fn subscribe(
    session: &Session,
    key: OwnedKeyExpr,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let (tx, rx) = flume::bounded::<Sample>(SSE_QUEUE);
    // A client too slow to take its samples loses its stream rather than holding
    // samples without bound or slowing the session down.
    let tx = Mutex::new(Some(tx));
    let subscriber = session
        .declare_subscriber(key.clone())
        .callback(move |s: Sample| {
            let mut slot = tx.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = slot.as_ref()
                && t.try_send(s).is_err()
            {
                tracing::debug!("REST plugin: an SSE client fell behind; ending its stream");
                *slot = None;
            }
        })
        .await;
    let subscriber = match subscriber {
        Ok(s) => s,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    tracing::debug!("REST plugin: SSE stream on {key}");
    let stream = futures_util::stream::unfold(
        (rx, subscriber, shutdown),
        |(rx, sub, mut shutdown)| async move {
            let sample = tokio::select! {
                s = rx.recv_async() => s.ok()?,
                _ = shutdown.wait_for(|stop| *stop) => return None,
            };
            let data = serde_json::to_string(&JsonSample::from(&sample)).unwrap_or_default();
            let event = Event::default().event(sample.kind().to_string()).data(data);
            Some((Ok::<_, Infallible>(event), (rx, sub, shutdown)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn publish(
    State(st): State<AppState>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = st.monitor.session();
    let key = match key_of(session, &path) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let res = if method == Method::DELETE {
        session.delete(key).await
    } else {
        session.put(key, body).encoding(encoding_of(&headers)).await
    };
    match res {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_port_forms() {
        let any = |p| SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), p);
        assert_eq!(parse_http_port(&serde_json::json!(8000)), Ok(any(8000)));
        assert_eq!(parse_http_port(&serde_json::json!("8000")), Ok(any(8000)));
        assert_eq!(
            parse_http_port(&serde_json::json!("127.0.0.1:0")),
            Ok("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_http_port(&serde_json::json!("[::1]:80")),
            Ok("[::1]:80".parse().unwrap())
        );
        for bad in [
            serde_json::json!(70000),
            serde_json::json!("x:1"),
            serde_json::json!(true),
        ] {
            let e = parse_http_port(&bad).unwrap_err();
            assert!(e.contains("expected a port number"), "{e}");
        }
        let e = RestConfig::from_json(&serde_json::json!({"http_port": 1, "htp": 2})).unwrap_err();
        assert!(e.to_string().contains("plugins/rest/htp"), "{e}");
        let e = RestConfig::from_json(&serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("plugins/rest/http_port"), "{e}");
        assert!(
            RestConfig::from_json(&serde_json::json!({"http_port": 1, "__required__": true}))
                .is_ok()
        );
    }

    #[test]
    fn content_types() {
        assert!(looks_like_mime("text/plain"));
        assert!(looks_like_mime(
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        ));
        assert!(looks_like_mime("zenoh/bytes"));
        assert!(!looks_like_mime("text/plain;utf-8"));
        assert!(!looks_like_mime("unknown(99)"));
    }
}
