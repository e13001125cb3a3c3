//! Incremental WHATWG "event stream" framer over raw body bytes.
//!
//! Body chunks arrive split at arbitrary byte offsets: inside a UTF-8 character,
//! between the CR and LF of a line end, inside the BOM. So nothing here decodes a
//! chunk on its own: bytes are appended to one buffer, line ends are found on bytes
//! (CR and LF are ASCII and never part of a multi-byte UTF-8 sequence), and only a
//! finished field value is decoded. The parse position and the fields seen so far
//! are kept between chunks, so a held tail is never scanned twice.
//!
//! A "frame" is what the WHATWG parser dispatches as one event: the lines up to and
//! including the blank line that ends them. Its bytes are handed out exactly as they
//! came (BOM, comments, unknown fields and line ends included), so forwarding every
//! frame reproduces the input byte for byte.

use crate::text::utf8_lossy;
use std::ops::Range;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A frame (complete, or held) grew past `max_frame_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    pub limit: usize,
}

/// One `data` line of a frame, as offsets into [`Frame::raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLine {
    /// The whole line, its line end included.
    pub line: Range<usize>,
    /// The field value: after `data:` and the one optional space.
    pub value: Range<usize>,
}

/// One complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's bytes as received, terminating blank line included. The stream's
    /// BOM, if any, is part of the first frame.
    pub raw: &'a [u8],
    /// The value of every `event` line, in order. WHATWG uses the last one; the
    /// tool check looks at all of them, since a lax client might take another.
    pub events: Vec<String>,
    /// The `data` lines joined with `\n`, decoded as UTF-8 with replacement
    /// characters (as the WHATWG decoder does), so JSON parses here exactly as it
    /// parses in a browser.
    pub data: String,
    pub data_lines: Vec<DataLine>,
}

impl Frame<'_> {
    /// The event type a WHATWG client dispatches: the last `event` value, or
    /// `message` when there is none or it is empty.
    pub fn event_type(&self) -> &str {
        match self.events.last() {
            Some(e) if !e.is_empty() => e,
            _ => "message",
        }
    }
}

/// What one line of an event stream is, after the WHATWG rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// Empty: ends the frame.
    Blank,
    /// Starts with `:`.
    Comment,
    /// `name` is everything before the first colon (the whole line if there is
    /// none); `value` follows the colon with one leading space dropped.
    Field {
        name: &'a [u8],
        value: &'a [u8],
        value_offset: usize,
    },
}

/// Classifies one line (without its line end).
pub fn classify(line: &[u8]) -> Line<'_> {
    match line.first() {
        None => Line::Blank,
        Some(b':') => Line::Comment,
        Some(_) => match line.iter().position(|&b| b == b':') {
            None => Line::Field {
                name: line,
                value: &[],
                value_offset: line.len(),
            },
            Some(colon) => {
                let after = colon.saturating_add(1);
                let rest = line.get(after..).unwrap_or_default();
                let (value, value_offset) = match rest.strip_prefix(b" ") {
                    Some(v) => (v, after.saturating_add(1)),
                    None => (rest, after),
                };
                Line::Field {
                    name: line.get(..colon).unwrap_or_default(),
                    value,
                    value_offset,
                }
            }
        },
    }
}

/// The first CR or LF.
fn find_line_break(bytes: &[u8]) -> Option<usize> {
    super::scan::find_either(bytes, b'\n', b'\r')
}

fn is_line_break(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// Where the last frame of `bytes[..hi]` ends (just after its blank line), for
/// the guard's fast path, which forwards frames without reading their lines.
///
/// `bytes` must start at a frame start that is not the start of the stream (a
/// BOM there changes what the first line is), and `bytes[..from]` must hold no
/// frame end except one that a CR at the very end of it left open. Line ends are
/// what [`Framer::next_frame`] takes them to be: a CR as the last byte of `bytes`
/// may be half of a CRLF and ends nothing until the next byte or the end of the
/// stream.
///
/// Why a backward search works: a blank line is a line end that starts a line.
/// In a maximal run of CR and LF bytes, the first line end ends the line before
/// the run (unless the run starts the frame) and every further one ends a blank
/// line; so the last frame end is the end of the last run that has a blank line.
pub fn last_frame_end(bytes: &[u8], from: usize, hi: usize, end_of_stream: bool) -> Option<usize> {
    let mut upto = hi.min(bytes.len());
    loop {
        let last = from.checked_add(super::scan::rfind_either(
            bytes.get(from..upto)?,
            b'\n',
            b'\r',
        )?)?;
        let mut start = last;
        while start > 0 && bytes.get(start - 1).copied().is_some_and(is_line_break) {
            start -= 1;
        }
        if let Some(end) =
            blank_line_end_in_run(bytes, start, last.saturating_add(1), end_of_stream)
        {
            return Some(end);
        }
        if start <= from {
            return None;
        }
        upto = start;
    }
}

/// The end of the last blank line in the run of line breaks `bytes[start..end]`.
fn blank_line_end_in_run(
    bytes: &[u8],
    start: usize,
    end: usize,
    end_of_stream: bool,
) -> Option<usize> {
    let mut ends = 0usize;
    let mut last_end = start;
    let mut at = start;
    while at < end {
        let next = match (bytes.get(at), bytes.get(at.saturating_add(1))) {
            (Some(b'\r'), Some(b'\n')) if at.saturating_add(1) < end => at.saturating_add(2),
            (Some(b'\r'), None) if !end_of_stream => break,
            _ => at.saturating_add(1),
        };
        ends = ends.saturating_add(1);
        last_end = next;
        at = next;
    }
    let blank = if start == 0 { ends >= 1 } else { ends >= 2 };
    blank.then_some(last_end)
}

/// Where the first frame of `bytes` ends, walking its lines; `None` if it does not
/// end in `bytes`. The same conditions as [`last_frame_end`] apply to `bytes`.
pub fn first_frame_end(bytes: &[u8], end_of_stream: bool) -> Option<usize> {
    let mut line_start = 0usize;
    loop {
        let at = line_start.checked_add(find_line_break(bytes.get(line_start..)?)?)?;
        let next = match (bytes.get(at), bytes.get(at.saturating_add(1))) {
            (Some(b'\r'), Some(b'\n')) => at.saturating_add(2),
            (Some(b'\r'), None) if !end_of_stream => return None,
            _ => at.saturating_add(1),
        };
        if at == line_start {
            return Some(next);
        }
        line_start = next;
    }
}

/// Splits a stream into frames as its chunks arrive.
#[derive(Debug)]
pub struct Framer {
    /// Bytes not yet handed out: the held frame, then whatever the last push added.
    buf: Vec<u8>,
    /// Start of the frame being read; everything before it was handed out.
    frame_start: usize,
    /// Start of the line being read.
    line_start: usize,
    /// Where the search for the next line end resumes.
    scan: usize,
    /// The next line processed is the stream's first (the one a BOM may start).
    first_line: bool,
    events: Vec<Vec<u8>>,
    data: Vec<u8>,
    data_lines: Vec<DataLine>,
    max_frame_bytes: usize,
}

impl Framer {
    pub fn new(max_frame_bytes: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            frame_start: 0,
            line_start: 0,
            scan: 0,
            first_line: true,
            events: Vec::new(),
            data: Vec::new(),
            data_lines: Vec::new(),
            max_frame_bytes,
        }
    }

    /// Appends the next body chunk. Call [`Framer::next_frame`] until it gives
    /// `None` before pushing again.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes of the incomplete frame held between chunks.
    pub fn held(&self) -> usize {
        self.buf.len().saturating_sub(self.frame_start)
    }

    /// The bytes not handed out yet: the frame being read and what follows it.
    pub fn unread(&self) -> &[u8] {
        self.buf.get(self.frame_start..).unwrap_or_default()
    }

    /// True if nothing of the frame being read was parsed yet, so the guard may
    /// hand its bytes out without [`Framer::next_frame`] (see [`last_frame_end`]).
    /// False until the stream's first line was read: a BOM may start it.
    pub fn at_frame_start(&self) -> bool {
        !self.first_line
            && self.line_start == self.frame_start
            && self.scan == self.frame_start
            && self.events.is_empty()
            && self.data_lines.is_empty()
    }

    /// Hands out the next `len` unread bytes unparsed. Only at a frame start
    /// ([`Framer::at_frame_start`]), and `len` must end a frame.
    pub fn skip(&mut self, len: usize) {
        let to = self.frame_start.saturating_add(len).min(self.buf.len());
        self.frame_start = to;
        self.line_start = to;
        self.scan = to;
    }

    /// [`Framer::skip`], giving the bytes skipped. When they start the buffer
    /// and are most of it, they are moved out and only the rest is copied into
    /// a new buffer: the fast path's output usually costs no copy of its own.
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        let len = len.min(self.unread().len());
        let rest_len = self.unread().len().saturating_sub(len);
        if self.frame_start > 0 || len == 0 || rest_len > len {
            let out = self.unread().get(..len).unwrap_or_default().to_vec();
            self.skip(len);
            return out;
        }
        // Room for the next chunk too, so the next push does not copy the rest again.
        let mut rest = Vec::with_capacity(self.buf.capacity());
        rest.extend_from_slice(self.buf.get(len..).unwrap_or_default());
        let mut out = std::mem::replace(&mut self.buf, rest);
        out.truncate(len);
        self.frame_start = 0;
        self.line_start = 0;
        self.scan = 0;
        out
    }

    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Forgets the bytes handed out, so only the held frame stays; call before
    /// the next push.
    pub fn release(&mut self) {
        self.compact();
    }

    /// Drops everything, e.g. once the stream was cut.
    pub fn clear(&mut self) {
        *self = Framer {
            first_line: false,
            ..Framer::new(self.max_frame_bytes)
        };
    }

    /// The next complete frame, or `None` when the rest is an incomplete frame
    /// (held for the next chunk). With `end_of_stream`, the rest is a frame too:
    /// SPEC wants the unterminated tail checked like any frame.
    ///
    /// Errors when a frame, or the held part of one, is over `max_frame_bytes`;
    /// both checks use the frame's raw length, so the outcome does not depend on
    /// how the stream was chunked.
    pub fn next_frame(&mut self, end_of_stream: bool) -> Result<Option<Frame<'_>>, FrameTooLarge> {
        loop {
            let rest = self.buf.get(self.scan..).unwrap_or_default();
            let Some(found) = find_line_break(rest) else {
                self.scan = self.buf.len();
                break;
            };
            let at = self.scan.saturating_add(found);
            let next = match (self.buf.get(at), self.buf.get(at.saturating_add(1))) {
                (Some(b'\r'), Some(b'\n')) => at.saturating_add(2),
                // A CR as the last byte so far: the LF that would make it one CRLF
                // may start the next chunk. Wait for that byte, or the end.
                (Some(b'\r'), None) if !end_of_stream => {
                    self.scan = at;
                    break;
                }
                _ => at.saturating_add(1),
            };
            let line = self.line_start..at;
            self.line_start = next;
            self.scan = next;
            if self.process_line(line, next) {
                let raw = self.frame_start..next;
                self.frame_start = next;
                return self.emit(raw).map(Some);
            }
        }
        let held = self.held();
        if end_of_stream && held > 0 {
            let end = self.buf.len();
            if self.line_start < end {
                self.process_line(self.line_start..end, end);
            }
            let raw = self.frame_start..end;
            self.frame_start = end;
            self.line_start = end;
            self.scan = end;
            return self.emit(raw).map(Some);
        }
        self.compact();
        if held > self.max_frame_bytes {
            return Err(FrameTooLarge {
                limit: self.max_frame_bytes,
            });
        }
        Ok(None)
    }

    /// Forgets the bytes already handed out, so only the held frame stays.
    fn compact(&mut self) {
        if self.frame_start > 0 {
            self.buf.drain(..self.frame_start);
            self.line_start = self.line_start.saturating_sub(self.frame_start);
            self.scan = self.scan.saturating_sub(self.frame_start);
            self.frame_start = 0;
        }
    }

    /// Applies one line (`content`, ending where its line end ends at `end`) to
    /// the frame being read. True if it was the blank line that ends the frame.
    fn process_line(&mut self, content: Range<usize>, end: usize) -> bool {
        let Framer {
            buf,
            frame_start,
            first_line,
            events,
            data,
            data_lines,
            ..
        } = self;
        let mut start = content.start;
        let mut line = buf.get(content).unwrap_or_default();
        // One leading BOM is skipped, only at the very start of the stream: it
        // is not part of the first field name. Its bytes stay in the frame.
        if std::mem::take(first_line) {
            if let Some(rest) = line.strip_prefix(BOM) {
                line = rest;
                start = start.saturating_add(BOM.len());
            }
        }
        match classify(line) {
            Line::Blank => return true,
            Line::Comment => {}
            Line::Field {
                name,
                value,
                value_offset,
            } => match name {
                b"data" => {
                    data.reserve(value.len() + 1);
                    data.extend_from_slice(value);
                    data.push(b'\n');
                    let value_start = start
                        .saturating_add(value_offset)
                        .saturating_sub(*frame_start);
                    let line_start = start.saturating_sub(*frame_start);
                    data_lines.push(DataLine {
                        line: line_start..end.saturating_sub(*frame_start),
                        value: value_start..value_start.saturating_add(value.len()),
                    });
                }
                b"event" => events.push(value.to_vec()),
                // `id`, `retry` and unknown fields do not affect a tool check.
                _ => {}
            },
        }
        false
    }

    fn emit(&mut self, raw: Range<usize>) -> Result<Frame<'_>, FrameTooLarge> {
        let mut data = std::mem::take(&mut self.data);
        let events = std::mem::take(&mut self.events);
        let data_lines = std::mem::take(&mut self.data_lines);
        if raw.len() > self.max_frame_bytes {
            return Err(FrameTooLarge {
                limit: self.max_frame_bytes,
            });
        }
        // Each data line added a trailing LF; WHATWG removes the last one.
        data.pop();
        Ok(Frame {
            raw: self.buf.get(raw).unwrap_or_default(),
            events: events.into_iter().map(utf8_lossy).collect(),
            data: utf8_lossy(data),
            data_lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// (raw, events, data) of every frame of `input` pushed in `chunks`.
    fn frames(chunks: &[&[u8]], max: usize) -> Vec<(Vec<u8>, Vec<String>, String)> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            framer.push(chunk);
            let eos = i + 1 == chunks.len();
            while let Some(f) = framer.next_frame(eos).unwrap() {
                out.push((f.raw.to_vec(), f.events.clone(), f.data.clone()));
            }
        }
        out
    }

    #[test]
    #[wasm_bindgen_test]
    fn classifies_lines_as_whatwg_says() {
        assert_eq!(classify(b""), Line::Blank);
        assert_eq!(classify(b": hi"), Line::Comment);
        assert_eq!(
            classify(b"data:  two"),
            Line::Field {
                name: b"data",
                value: b" two",
                value_offset: 6
            }
        );
        assert_eq!(
            classify(b"data"),
            Line::Field {
                name: b"data",
                value: b"",
                value_offset: 4
            }
        );
        assert_eq!(
            classify(b"a:b:c"),
            Line::Field {
                name: b"a",
                value: b"b:c",
                value_offset: 2
            }
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn joins_data_lines_and_keeps_every_event_value() {
        let f = frames(
            &[b"event: a\nevent:b\ndata: 1\ndata:2\ndata\nid: 7\nx: y\n: c\n\n"],
            100,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1, ["a", "b"]);
        assert_eq!(f[0].2, "1\n2\n");
    }

    #[test]
    #[wasm_bindgen_test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let whole: &[u8] = b"data: x\r\n\r\ndata: y\r\n\r\n";
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            let f = frames(&[a, b], 100);
            let raws: Vec<&[u8]> = f.iter().map(|x| x.0.as_slice()).collect();
            assert_eq!(
                raws,
                [&b"data: x\r\n\r\n"[..], b"data: y\r\n\r\n"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn lone_cr_ends_lines_and_a_final_cr_ends_the_stream_frame() {
        let f = frames(&[b"data: a\r\rdata: b\r", b"\r"], 100);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].0.as_slice(), f[0].2.as_str()),
            (&b"data: a\r\r"[..], "a")
        );
        assert_eq!(
            (f[1].0.as_slice(), f[1].2.as_str()),
            (&b"data: b\r\r"[..], "b")
        );
        // "\r" at the very end of the stream cannot wait for an LF.
        let f = frames(&[b"data: a\r", b"\r"], 100);
        assert_eq!(f[0].0, b"data: a\r\r");
    }

    #[test]
    #[wasm_bindgen_test]
    fn bom_is_skipped_once_and_kept_in_the_bytes() {
        let f = frames(
            &[b"\xEF\xBB", b"\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n"],
            100,
        );
        assert_eq!(f[0].0, b"\xEF\xBB\xBFdata: a\n\n");
        assert_eq!(f[0].2, "a");
        // A second BOM is part of the field name, so that line is ignored.
        assert_eq!(f[1].2, "");
        // Data-line offsets count the BOM bytes.
        let mut framer = Framer::new(100);
        framer.push(b"\xEF\xBB\xBFdata: a\n\n");
        let frame = framer.next_frame(false).unwrap().unwrap();
        assert_eq!(&frame.raw[frame.data_lines[0].value.clone()], b"a");
        assert_eq!(&frame.raw[frame.data_lines[0].line.clone()], b"data: a\n");
    }

    #[test]
    #[wasm_bindgen_test]
    fn decodes_utf8_split_across_chunks_and_replaces_invalid_bytes() {
        let f = frames(&[b"data: caf\xC3", b"\xA9 \xFF\n\n"], 100);
        assert_eq!(f[0].2, "caf\u{e9} \u{fffd}");
    }

    #[test]
    #[wasm_bindgen_test]
    fn unterminated_tail_is_a_frame_at_end_of_stream() {
        let f = frames(&[b"data: a\n\ndata: b"], 100);
        assert_eq!(f.len(), 2);
        assert_eq!((f[1].0.as_slice(), f[1].2.as_str()), (&b"data: b"[..], "b"));
        assert!(frames(&[b"data: a\n\n", b""], 100).len() == 1);
    }

    #[test]
    #[wasm_bindgen_test]
    fn data_line_offsets_point_into_the_raw_frame() {
        let mut framer = Framer::new(100);
        framer.push(b"data: a\n\nevent: m\r\ndata:bc\r\n: x\r\ndata\r\n\r\n");
        framer.next_frame(false).unwrap();
        let f = framer.next_frame(false).unwrap().unwrap();
        let parts: Vec<(&[u8], &[u8])> = f
            .data_lines
            .iter()
            .map(|d| (&f.raw[d.line.clone()], &f.raw[d.value.clone()]))
            .collect();
        assert_eq!(
            parts,
            [(&b"data:bc\r\n"[..], &b"bc"[..]), (b"data\r\n", b"")]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn refuses_frames_and_held_tails_over_the_limit_whatever_the_chunking() {
        // A complete 12-byte frame with a limit of 11, in one chunk.
        let mut framer = Framer::new(11);
        framer.push(b"data: 1234\n\n");
        assert_eq!(framer.next_frame(false), Err(FrameTooLarge { limit: 11 }));
        // The same frame byte by byte: refused once the held part is over 11.
        let mut framer = Framer::new(11);
        let mut refused_at = None;
        for (i, b) in b"data: 1234\n\n".iter().enumerate() {
            framer.push(&[*b]);
            if framer.next_frame(false).is_err() {
                refused_at = Some(i);
                break;
            }
        }
        assert_eq!(refused_at, Some(11));
        // Exactly at the limit is fine.
        let mut framer = Framer::new(12);
        framer.push(b"data: 1234\n\n");
        assert!(framer.next_frame(false).unwrap().is_some());
    }

    #[test]
    #[wasm_bindgen_test]
    fn holds_only_the_incomplete_frame() {
        let mut framer = Framer::new(100);
        framer.push(b"data: a\n\ndata: b");
        assert!(framer.next_frame(false).unwrap().is_some());
        assert!(framer.next_frame(false).unwrap().is_none());
        assert_eq!(framer.held(), 7);
        assert_eq!(framer.buf.len(), 7);
    }
}
