//! A small HTTP client for talking to Envoy in tests: HTTP/1.1 or h2c (prior
//! knowledge), one fresh connection per request, and access to the body as it
//! streams in, including how it ended (a cut stream must be told apart from
//! a finished one).
//!
//! Every call has an async form and a `_blocking` twin (see
//! [`crate::runtime::block_on`]).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::error::Context;
use crate::{runtime, Error, Result};

/// Default limit for a whole exchange (headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn get(url: &str) -> RequestBuilder {
    request("GET", url)
}

pub fn post(url: &str) -> RequestBuilder {
    request("POST", url)
}

pub fn request(method: &str, url: &str) -> RequestBuilder {
    RequestBuilder {
        method: method.to_string(),
        url: url.to_string(),
        headers: Vec::new(),
        body: Bytes::new(),
        h2c: false,
        timeout: DEFAULT_TIMEOUT,
    }
}

#[derive(Clone, Debug)]
pub struct RequestBuilder {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    h2c: bool,
    timeout: Duration,
}

/// How a response body ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyEnding {
    /// The body ended normally (final chunk / END_STREAM).
    Complete,
    /// The stream or connection broke before the end (reset, premature close).
    Error(String),
    /// The time limit passed first.
    TimedOut,
}

/// A response with its whole body (as far as it got).
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    pub body: Bytes,
    pub ending: BodyEnding,
}

impl Response {
    /// First value of a header, if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::new(format!("response body is not JSON ({e}): {}", self.text())))
    }
}

impl RequestBuilder {
    /// Adds a header (repeat for several values).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// Speak HTTP/2 over cleartext (prior knowledge) instead of HTTP/1.1.
    pub fn h2c(mut self) -> Self {
        self.h2c = true;
        self
    }

    /// Limit for the whole exchange (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends and reads the whole body. Errors only if no response head
    /// arrives; a body that breaks off is reported in [`Response::ending`].
    pub async fn send(self) -> Result<Response> {
        let deadline = Instant::now() + self.timeout;
        let stream = self.open().await?;
        Ok(stream.read_to_end_by(deadline).await)
    }

    pub fn send_blocking(self) -> Result<Response> {
        runtime::block_on(self.send())
    }

    /// Sends and returns once the response head arrived; read the body with
    /// [`StreamingResponse::next_chunk`].
    pub async fn open(self) -> Result<StreamingResponse> {
        let timeout = self.timeout;
        let url = self.url.clone();
        tokio::time::timeout(timeout, self.open_inner())
            .await
            .map_err(|_| Error::new(format!("{url}: no response head within {timeout:?}")))?
    }

    pub fn open_blocking(self) -> Result<StreamingResponse> {
        runtime::block_on(self.open())
    }

    async fn open_inner(self) -> Result<StreamingResponse> {
        let uri: Uri = self
            .url
            .parse()
            .context(|| format!("bad URL {}", self.url))?;
        let authority = uri
            .authority()
            .ok_or_else(|| Error::new(format!("URL without host: {}", self.url)))?
            .clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .context(|| format!("connecting to {authority}"))?;
        let _ = tcp.set_nodelay(true);
        let io = TokioIo::new(tcp);

        let method = Method::from_bytes(self.method.as_bytes())
            .context(|| format!("bad method {}", self.method))?;
        let target: Uri = if self.h2c {
            uri.clone()
        } else {
            uri.path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .parse()
                .context(|| "bad path".to_string())?
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(target)
            .body(Full::new(self.body.clone()))
            .context(|| "building request".to_string())?;
        let has_host = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"));
        if !self.h2c && !has_host {
            req.headers_mut().insert(
                hyper::header::HOST,
                HeaderValue::from_str(authority.as_str()).context(|| "host".to_string())?,
            );
        }
        for (name, value) in &self.headers {
            req.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).context(|| format!("header {name}"))?,
                HeaderValue::from_str(value).context(|| format!("value of {name}"))?,
            );
        }

        let (resp, conn) = if self.h2c {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .context(|| format!("h2c handshake with {authority}"))?;
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            let resp = sender.send_request(req).await;
            (resp, conn)
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .context(|| format!("HTTP/1.1 handshake with {authority}"))?;
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            let resp = sender.send_request(req).await;
            (resp, conn)
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                conn.abort();
                return Err(Error::new(format!("{} {}: {e}", self.method, self.url)));
            }
        };
        let (parts, body) = resp.into_parts();
        Ok(StreamingResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            version: format!("{:?}", parts.version),
            body,
            conn,
            ended: None,
        })
    }
}

/// A response whose body is read as it arrives. Dropping it closes the
/// connection (the client "goes away").
pub struct StreamingResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub version: String,
    body: Incoming,
    conn: JoinHandle<()>,
    ended: Option<BodyEnding>,
}

impl StreamingResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next body chunk as received; `Ok(None)` at the clean end;
    /// `Err` if the stream broke or `timeout` passed. Trailers are skipped.
    pub async fn next_chunk(&mut self, timeout: Duration) -> Result<Option<Bytes>> {
        if let Some(ended) = &self.ended {
            return match ended {
                BodyEnding::Complete => Ok(None),
                other => Err(Error::new(format!("stream already ended: {other:?}"))),
            };
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Err(Error::new(format!("no body chunk within {timeout:?}"))),
                Ok(None) => {
                    self.ended = Some(BodyEnding::Complete);
                    return Ok(None);
                }
                Ok(Some(Err(e))) => {
                    let ending = BodyEnding::Error(e.to_string());
                    self.ended = Some(ending.clone());
                    return Err(Error::new(format!("stream broke: {e}")));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    pub fn next_chunk_blocking(&mut self, timeout: Duration) -> Result<Option<Bytes>> {
        runtime::block_on(self.next_chunk(timeout))
    }

    /// Reads until the body ends, breaks or `timeout` passes, keeping what
    /// arrived.
    pub async fn read_to_end(self, timeout: Duration) -> Response {
        self.read_to_end_by(Instant::now() + timeout).await
    }

    pub fn read_to_end_blocking(self, timeout: Duration) -> Response {
        runtime::block_on(self.read_to_end(timeout))
    }

    async fn read_to_end_by(mut self, deadline: Instant) -> Response {
        let mut body = BytesMut::new();
        let ending = loop {
            if let Some(ended) = &self.ended {
                break ended.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_chunk(left).await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break BodyEnding::Complete,
                Err(_) => break self.ended.clone().unwrap_or(BodyEnding::TimedOut),
            }
        };
        Response {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            version: std::mem::take(&mut self.version),
            body: body.freeze(),
            ending,
        }
    }
}

impl Drop for StreamingResponse {
    fn drop(&mut self) {
        self.conn.abort();
    }
}
