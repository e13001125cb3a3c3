//! A tiny blocking HTTP/1.1 client for Envoy's admin API. Blocking and
//! std-only so the start-up wait and stats reads work from any thread without
//! a runtime; Envoy's admin answers are small, and `Connection: close` lets us
//! read to EOF (decoding `chunked`, which the admin uses for larger pages).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::{Error, Result};

/// Status and body of an admin answer.
pub(crate) struct AdminResponse {
    pub(crate) status: u16,
    pub(crate) body: String,
}

pub(crate) fn request(addr: SocketAddr, method: &str, path: &str) -> Result<AdminResponse> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(format!("admin {method} http://{addr}{path}: {what}: {e}"))
    };
    let timeout = Duration::from_secs(10);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail("connect", &e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| fail("socket", &e))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| fail("write", &e))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| fail("read", &e))?;
    parse(&raw).map_err(|e| fail("bad answer", &e))
}

fn parse(raw: &[u8]) -> std::result::Result<AdminResponse, String> {
    let split = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(AdminResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nLIVE").unwrap();
        assert_eq!((plain.status, plain.body.as_str()), (200, "LIVE"));
        let chunked = parse(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nPRE_\r\n8;x=y\r\nINITIALI\r\n2\r\nZE\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (chunked.status, chunked.body.as_str()),
            (503, "PRE_INITIALIZE")
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
