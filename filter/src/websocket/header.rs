//! RFC 6455 §5.2 frame headers, read incrementally: the header is at most 14
//! bytes, so a header split across body chunks is the only thing ever held for a
//! frame that is not part of a held text message.

/// The opcodes of RFC 6455 §5.2 that a frame may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: Opcode,
    /// The masking key (client-to-server frames carry one, RFC 6455 §5.3).
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// Bytes of the header on the wire (2 to 14).
    pub len: usize,
}

/// A frame no conforming endpoint sends: the connection cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// RSV1-3 set: an extension (permessage-deflate) that was never negotiated,
    /// since the filter removes `Sec-WebSocket-Extensions` from the upgrade.
    ReservedBits,
    UnknownOpcode(u8),
    /// A control frame that is fragmented or carries more than 125 bytes (§5.5).
    BadControlFrame,
    /// A 64-bit length with its most significant bit set (§5.2).
    BadLength,
    /// A continuation with no message open, or a new message inside another (§5.4).
    BadFragmentation,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::ReservedBits => {
                f.write_str("reserved bits set (no extension negotiated)")
            }
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            ProtocolError::BadControlFrame => f.write_str("fragmented or oversized control frame"),
            ProtocolError::BadLength => f.write_str("payload length with the top bit set"),
            ProtocolError::BadFragmentation => f.write_str("continuation frame out of order"),
        }
    }
}

/// How many header bytes a frame whose first two bytes are `b0`, `b1` has.
pub fn header_len(b1: u8) -> usize {
    let extended = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Reads a header from the start of `bytes`. `Ok(None)`: not all of it is there yet.
pub fn parse(bytes: &[u8]) -> Result<Option<Header>, ProtocolError> {
    let (Some(&b0), Some(&b1)) = (bytes.first(), bytes.get(1)) else {
        return Ok(None);
    };
    let len = header_len(b1);
    let Some(header) = bytes.get(..len) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(ProtocolError::ReservedBits);
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(ProtocolError::UnknownOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    let (payload_len, rest) = match b1 & 0x7F {
        126 => (be(header.get(2..4)), header.get(4..)),
        127 => (be(header.get(2..10)), header.get(10..)),
        short => (u64::from(short), header.get(2..)),
    };
    if payload_len >> 63 != 0 {
        return Err(ProtocolError::BadLength);
    }
    if opcode.is_control() && (!fin || payload_len > 125) {
        return Err(ProtocolError::BadControlFrame);
    }
    let mask = match rest {
        Some(&[a, b, c, d]) if b1 & 0x80 != 0 => Some([a, b, c, d]),
        _ => None,
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask,
        payload_len,
        len,
    }))
}

fn be(bytes: Option<&[u8]>) -> u64 {
    bytes
        .unwrap_or_default()
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Unmasks `bytes` in place; `offset` is their position in the frame's payload.
pub fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: u64) {
    let mut key = mask.iter().cycle().skip((offset % 4) as usize);
    for (b, k) in bytes.iter_mut().zip(&mut key) {
        *b ^= k;
    }
}

/// The header of a server-to-client frame (unmasked) carrying `payload_len` bytes.
pub fn encode(fin: bool, opcode_bits: u8, payload_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    out.push(if fin { 0x80 } else { 0 } | (opcode_bits & 0x0F));
    match payload_len {
        0..=125 => out.push(payload_len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
    out
}
