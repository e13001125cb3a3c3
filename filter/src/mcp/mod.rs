//! SPEC "MCP (Streamable HTTP)": `tools/call` requests are checked before anything
//! goes upstream (an MCP server runs the tool as soon as the request arrives), and
//! `tools/list` answers lose the entries the caller may not use.
//!
//! Plain functions over bytes; the glue decides when to call them (a `POST` with a
//! JSON body, a JSON answer to a `tools/list`, or, through the stream guard, each
//! `message` frame of an event stream).

mod json_spans;

pub mod quota;

use crate::json::Json;
use crate::policy::Allowlist;
use crate::sse::error_event::not_allowed_message;
use crate::sse::framer::Frame;
use crate::sse::markers::{self, contains_any};
use crate::sse::ToolName;
use json_spans::Member;
use std::ops::Range;

/// What to do with a JSON request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpRequestVerdict {
    /// No `tools/call` in it (or not JSON-RPC at all): forward it unchanged.
    Pass,
    /// `calls` `tools/call` requests, every one naming an allowed tool.
    Allowed { calls: usize },
    /// Answer 403 with `content-type: application/json` and `body`; send nothing
    /// upstream. `allowed` and `denied` count the `tools/call` requests.
    Denied {
        body: Vec<u8>,
        allowed: usize,
        denied: usize,
    },
}

/// The JSON-RPC error code SPEC gives a denied tool.
pub const TOOL_NOT_ALLOWED_CODE: i32 = -32003;

const TOOLS_CALL: &str = "tools/call";
const TOOLS_LIST: &str = "tools/list";

/// Checks every `tools/call` of a JSON-RPC request or batch.
///
/// Duplicate keys: a request is a `tools/call` if any `method` says so, and every
/// `params.name` is checked. A `tools/call` without a string name is denied (it
/// cannot be checked) unless the allowlist is `*`.
///
/// A body serde_json refuses is not JSON-RPC to SPEC, but servers parse with
/// laxer parsers (Python's takes `NaN`, JavaScript's takes lone surrogates and
/// deeper nesting), so a refused body that mentions `tools/call` (escapes
/// decoded, NULs of UTF-16 dropped) is denied with `"id":null` rather than
/// forwarded unchecked.
pub fn check_request(body: &[u8], allowlist: &Allowlist) -> McpRequestVerdict {
    let Ok(json) = Json::parse(body) else {
        if contains_any(&markers::unescaped(body), &[TOOLS_CALL]) {
            let error = error_object(b"null", "");
            let body = if starts_array(body) {
                batch(vec![error])
            } else {
                error
            };
            return McpRequestVerdict::Denied {
                body,
                allowed: 0,
                denied: 1,
            };
        }
        return McpRequestVerdict::Pass;
    };
    let spans = request_spans(body);
    let (requests, is_batch): (Vec<&Json>, bool) = match &json {
        Json::Array(items) => (items.iter().collect(), true),
        obj @ Json::Object(_) => (vec![obj], false),
        _ => return McpRequestVerdict::Pass,
    };
    let (mut allowed, mut errors) = (0usize, Vec::new());
    for (i, request) in requests.into_iter().enumerate() {
        if !request
            .get_all("method")
            .any(|m| m.as_str() == Some(TOOLS_CALL))
        {
            continue;
        }
        match call_names(request)
            .into_iter()
            .find(|n| !n.is_allowed(allowlist))
        {
            None => allowed = allowed.saturating_add(1),
            Some(denied) => {
                let id = raw_id(body, spans.as_ref().and_then(|s| s.get(i)), request);
                errors.push(error_object(&id, denied.display()));
            }
        }
    }
    if errors.is_empty() {
        return if allowed == 0 {
            McpRequestVerdict::Pass
        } else {
            McpRequestVerdict::Allowed { calls: allowed }
        };
    }
    let denied = errors.len();
    let body = if is_batch {
        batch(errors)
    } else {
        errors.into_iter().next().unwrap_or_default()
    };
    McpRequestVerdict::Denied {
        body,
        allowed,
        denied,
    }
}

/// Whether the body holds a `tools/list` request, so that the glue holds the
/// JSON answer for [`filter_tools_list`].
pub fn lists_tools(body: &[u8]) -> bool {
    match Json::parse(body) {
        Ok(Json::Array(items)) => items.iter().any(is_tools_list),
        Ok(obj @ Json::Object(_)) => is_tools_list(&obj),
        Ok(_) => false,
        Err(_) => contains_any(&markers::unescaped(body), &[TOOLS_LIST]),
    }
}

fn is_tools_list(request: &Json) -> bool {
    request
        .get_all("method")
        .any(|m| m.as_str() == Some(TOOLS_LIST))
}

/// Every name a `tools/call` request carries (all `params`, all `name`s).
fn call_names(request: &Json) -> Vec<ToolName> {
    let mut names = Vec::new();
    for params in request.get_all("params") {
        match params {
            Json::Object(_) => names.extend(ToolName::all_of(params, "name")),
            _ => names.push(ToolName::Unreadable(String::new())),
        }
    }
    if names.is_empty() {
        names.push(ToolName::Unreadable(String::new()));
    }
    names
}

fn starts_array(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// The byte range of each request: the root object, or each batch element.
fn request_spans(body: &[u8]) -> Option<Vec<Range<usize>>> {
    let root = json_spans::root(body)?;
    if body.get(root.start) == Some(&b'[') {
        json_spans::elements(body, root)
    } else {
        Some(vec![root])
    }
}

/// The request's `id` as it was written (the last one if repeated, as JSON.parse
/// and Python keep it), `null` if it has none.
fn raw_id(body: &[u8], span: Option<&Range<usize>>, request: &Json) -> Vec<u8> {
    let verbatim = span
        .and_then(|s| json_spans::members(body, s.clone()))
        .and_then(|members| members.into_iter().rfind(|m| m.key == "id"))
        .and_then(|m: Member| body.get(m.value).map(<[u8]>::to_vec));
    verbatim.unwrap_or_else(|| match request.get_all("id").last() {
        Some(id) => id.to_compact_string().into_bytes(),
        None => b"null".to_vec(),
    })
}

/// `{"jsonrpc":"2.0","id":<id>,"error":{"code":-32003,"message":"tool \"NAME\" is not allowed"}}`
fn error_object(id: &[u8], name: &str) -> Vec<u8> {
    let mut out = br#"{"jsonrpc":"2.0","id":"#.to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(
        format!(r#","error":{{"code":{TOOL_NOT_ALLOWED_CODE},"message":"#).as_bytes(),
    );
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &not_allowed_message(name));
    out.extend_from_slice(b"}}");
    out
}

fn batch(errors: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = vec![b'['];
    out.extend_from_slice(&errors.join(&b","[..]));
    out.push(b']');
    out
}

/// Removes the `result.tools` entries the caller may not use from a JSON-RPC
/// response (or a batch of them). `None`: nothing to remove (or not JSON), send
/// the body as it is. Every byte outside the removed entries is kept, the
/// separators and indentation between the remaining entries included.
///
/// An entry is kept only if it has a name and every `name` it has is allowed;
/// under `*` everything is kept.
pub fn filter_tools_list(body: &[u8], allowlist: &Allowlist) -> Option<Vec<u8>> {
    Json::parse(body).ok()?;
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    for response in request_spans(body)? {
        let Some(members) = json_spans::members(body, response) else {
            continue;
        };
        for result in members.into_iter().filter(|m| m.key == "result") {
            let Some(result_members) = json_spans::members(body, result.value) else {
                continue;
            };
            for tools in result_members.into_iter().filter(|m| m.key == "tools") {
                if let Some(filtered) = filter_array(body, tools.value.clone(), allowlist) {
                    edits.push((tools.value, filtered));
                }
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (range, replacement) in edits {
        out.extend_from_slice(body.get(at..range.start)?);
        out.extend_from_slice(&replacement);
        at = range.end;
    }
    out.extend_from_slice(body.get(at..)?);
    Some(out)
}

/// The array at `array` without its denied entries; `None` if all stay.
fn filter_array(text: &[u8], array: Range<usize>, allowlist: &Allowlist) -> Option<Vec<u8>> {
    let entries = json_spans::elements(text, array.clone())?;
    let kept: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, r)| entry_allowed(text.get((*r).clone()).unwrap_or_default(), allowlist))
        .map(|(i, _)| i)
        .collect();
    if kept.len() == entries.len() {
        return None;
    }
    if kept.is_empty() {
        return Some(b"[]".to_vec());
    }
    let first = entries.first()?;
    let last = entries.last()?;
    let mut out = text.get(array.start..first.start)?.to_vec();
    for (j, &i) in kept.iter().enumerate() {
        let entry = entries.get(i)?;
        out.extend_from_slice(text.get(entry.clone())?);
        if j.saturating_add(1) < kept.len() {
            // The separator that followed this entry in the original.
            let next = entries.get(i.saturating_add(1))?;
            out.extend_from_slice(text.get(entry.end..next.start)?);
        } else {
            out.extend_from_slice(text.get(last.end..array.end)?);
        }
    }
    Some(out)
}

fn entry_allowed(entry: &[u8], allowlist: &Allowlist) -> bool {
    let names = match Json::parse(entry) {
        Ok(obj @ Json::Object(_)) => ToolName::all_of(&obj, "name"),
        _ => vec![ToolName::Unreadable(String::new())],
    };
    names.iter().all(|n| n.is_allowed(allowlist))
}

/// [`filter_tools_list`] for one event-stream frame: a `message` event whose data
/// is a `tools/list` answer. Returns the rewritten frame: the new JSON goes where
/// the first `data` line's value was (further lines of it, if it spans lines,
/// become further `data` lines); other data lines are dropped; every other line
/// and line end stays as it was.
pub fn filter_tools_list_frame(frame: &Frame<'_>, allowlist: &Allowlist) -> Option<Vec<u8>> {
    if frame.event_type() != "message" {
        return None;
    }
    let plain = markers::unescaped(frame.data.as_bytes());
    if !(contains_any(&plain, &["\"tools\""]) && contains_any(&plain, &["\"result\""])) {
        return None;
    }
    let data = filter_tools_list(frame.data.as_bytes(), allowlist)?;
    let raw = frame.raw;
    let first = frame.data_lines.first()?;
    let line_end = match raw.get(first.value.end..first.line.end)? {
        [] => &b"\n"[..],
        end => end,
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(raw.get(..first.value.start)?);
    for (i, part) in data.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(line_end);
            out.extend_from_slice(b"data: ");
        }
        out.extend_from_slice(part);
    }
    out.extend_from_slice(raw.get(first.value.end..first.line.end)?);
    let mut at = first.line.end;
    for line in frame.data_lines.iter().skip(1) {
        out.extend_from_slice(raw.get(at..line.line.start)?);
        at = line.line.end;
    }
    out.extend_from_slice(raw.get(at..)?);
    Some(out)
}

#[cfg(test)]
mod tests;
