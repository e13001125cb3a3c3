//! A bare HTTP/1.1 stream opener over a tokio socket, for holding a thousand
//! streams open (the memory scenario) and timing the first frame (the first
//! byte scenario) without a client library's buffering in between.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use test_harness::{Error, Result};

/// A stream whose response head and first SSE frame arrived.
pub struct OpenStream {
    pub socket: TcpStream,
    /// From writing the request to having the whole first frame.
    pub first_frame_after: Duration,
}

/// Sends `GET path` and reads until the response head (which must be 200) and
/// one complete SSE frame (a blank line) have arrived.
pub async fn open(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<OpenStream> {
    tokio::time::timeout(timeout, open_inner(addr, path, bearer))
        .await
        .map_err(|_| {
            Error::new(format!(
                "GET {path} via {addr}: no first frame within {timeout:?}"
            ))
        })?
}

async fn open_inner(addr: SocketAddr, path: &str, bearer: Option<&str>) -> Result<OpenStream> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(format!("GET {path} via {addr}: {what}: {e}"))
    };
    let mut socket = TcpStream::connect(addr)
        .await
        .map_err(|e| fail("connect", &e))?;
    socket.set_nodelay(true).map_err(|e| fail("socket", &e))?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}\r\n");
    let started = Instant::now();
    socket
        .write_all(request.as_bytes())
        .await
        .map_err(|e| fail("write", &e))?;
    let mut got = Vec::with_capacity(4096);
    let mut buf = [0u8; 8192];
    let mut body_start = None;
    loop {
        let n = socket.read(&mut buf).await.map_err(|e| fail("read", &e))?;
        if n == 0 {
            return Err(fail(
                "closed before the first frame",
                &String::from_utf8_lossy(&got),
            ));
        }
        got.extend_from_slice(buf.get(..n).unwrap_or_default());
        if body_start.is_none() {
            if let Some(end) = find(&got, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(got.get(..end).unwrap_or_default());
                if !head.starts_with("HTTP/1.1 200") {
                    return Err(fail("not 200", &head));
                }
                body_start = Some(end + 4);
            }
        }
        // The body is chunked; a frame's blank line sits inside one chunk
        // because the filter forwards whole frames and the upstream writes
        // each frame at once.
        if let Some(start) = body_start {
            let body = got.get(start..).unwrap_or_default();
            if find(body, b"\n\n").is_some() {
                return Ok(OpenStream {
                    socket,
                    first_frame_after: started.elapsed(),
                });
            }
        }
    }
}

/// Reads and discards whatever arrives until the peer closes or the socket
/// is dropped (the task is aborted), so a trickling stream never backs up
/// into Envoy's buffers.
pub async fn drain(mut socket: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
