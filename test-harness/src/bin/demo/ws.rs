//! The runtime's `/ws`: AgentCore's WebSocket contract as the chat page's
//! WebSocket mode uses it. The client's first text message is the invocation
//! (`{"prompt": "..."}`); the agent answers with one text message per event
//! of the same AgentCore/Strands stream it serves over SSE (each SSE frame's
//! `data`), paced alike, then closes with 1000. Written on the raw upgraded
//! connection (RFC 6455 framing is a few lines): the runtime needs no more
//! than text messages out and the client's first message in.

use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::runtime::{State, StreamEnd};
use crate::script::{prompt_of, script};
use test_harness::wait::lock;

/// RFC 6455 section 1.3: the key's answer is SHA-1 of the key and this GUID.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The largest client message the runtime reads (a prompt).
const MAX_MESSAGE: usize = 64 * 1024;

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.trim().as_bytes());
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.digest().bytes())
}

/// One unmasked server frame, FIN set.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n < 65536 => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads frames until a whole text message (fragments joined, control frames
/// skipped); `None` if the client closed or broke the protocol first.
async fn read_text(io: &mut (impl AsyncRead + Unpin)) -> Option<String> {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        io.read_exact(&mut head).await.ok()?;
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
        let len = match head[1] & 0x7f {
            126 => u64::from(io.read_u16().await.ok()?),
            127 => io.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let len = usize::try_from(len).ok().filter(|n| *n <= MAX_MESSAGE)?;
        // Client frames are always masked (RFC 6455 section 5.3).
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            io.read_exact(&mut mask).await.ok()?;
        }
        let mut payload = vec![0u8; len];
        io.read_exact(&mut payload).await.ok()?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        match opcode {
            CLOSE => return None,
            o if o & 0x8 != 0 => continue,
            _ => message.extend_from_slice(&payload),
        }
        if message.len() > MAX_MESSAGE {
            return None;
        }
        if fin {
            return String::from_utf8(message).ok();
        }
    }
}

/// Serves one upgraded connection, recorded as invocation `index`.
pub async fn serve(upgraded: Upgraded, state: Arc<State>, index: usize) {
    let (mut rx, mut tx) = tokio::io::split(TokioIo::new(upgraded));
    let record = |end: StreamEnd| {
        if let Some(inv) = lock(&state.invocations).get_mut(index) {
            if inv.end.is_none() {
                inv.end = Some((end, Instant::now()));
            }
        }
    };
    let Some(first) = read_text(&mut rx).await else {
        record(StreamEnd::ClientGone);
        return;
    };
    if let Some(inv) = lock(&state.invocations).get_mut(index) {
        inv.body = first.clone();
    }
    let pacing = *lock(&state.pacing);
    let mut client_gone = Box::pin(async move {
        // Anything the client sends during the answer is read and dropped;
        // the end of its stream is the end of the connection.
        let mut sink = [0u8; 4096];
        while matches!(rx.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    for (pause, sse_frame) in script(&prompt_of(&first), pacing).frames {
        let paused = tokio::select! {
            _ = tokio::time::sleep(pause) => true,
            _ = &mut client_gone => false,
        };
        let data = sse_frame
            .strip_prefix("data: ")
            .and_then(|f| f.strip_suffix("\n\n"))
            .unwrap_or(&sse_frame);
        if !paused || tx.write_all(&frame(TEXT, data.as_bytes())).await.is_err() {
            record(StreamEnd::ClientGone);
            return;
        }
        if let Some(inv) = lock(&state.invocations).get_mut(index) {
            inv.frames_sent += 1;
        }
    }
    let _ = tx.write_all(&frame(CLOSE, &1000u16.to_be_bytes())).await;
    let _ = tx.shutdown().await;
    record(StreamEnd::Completed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_use_the_shortest_length() {
        assert_eq!(frame(TEXT, b"hi"), [0x81, 2, b'h', b'i']);
        let mid = frame(TEXT, &[0; 300]);
        assert_eq!(mid[..4], [0x81, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
    }

    #[tokio::test]
    async fn a_masked_fragmented_message_with_a_ping_is_read_whole() {
        let mask = [1u8, 2, 3, 4];
        let masked = |fin_op: u8, data: &[u8]| {
            let mut f = vec![fin_op, 0x80 | data.len() as u8];
            f.extend_from_slice(&mask);
            f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            f
        };
        let mut wire = masked(0x01, b"{\"prompt\":");
        wire.extend(masked(0x89, b"p"));
        wire.extend(masked(0x80, b"\"hi\"}"));
        assert_eq!(
            read_text(&mut &wire[..]).await.as_deref(),
            Some("{\"prompt\":\"hi\"}")
        );
        assert_eq!(read_text(&mut &masked(0x88, &[3, 232])[..]).await, None);
    }
}
