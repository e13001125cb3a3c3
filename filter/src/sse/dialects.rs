//! Which frames start a tool call, and the names they carry (SPEC's dialect table).
//!
//! Every frame is checked against every dialect, and the result is every name a
//! client could act on; the frame is denied if any of them is denied. Two rules
//! make that an over-approximation rather than a guess at one client:
//!
//! - Duplicate keys: JSON parsers differ on which member they keep, so each step
//!   of a path follows every member of that name ([`Json::get_all`]), and a test
//!   like `type == "content_block_start"` holds if any of the values passes.
//! - Where SPEC's table has an array (`choices[]`, `tool_calls[]`, `candidates[]`,
//!   `parts[]`), an object in its place is taken as a one-element array.
//!
//! What is *not* a tool call (SPEC): `data` that is not JSON (`[DONE]`), and JSON
//! whose tool call sits inside a string (AgentCore's Python-repr frames, a JSON
//! string holding JSON text): no client reads a tool call out of a string. The
//! generic `tool_call`/`tool_start` events are tool calls whatever their data is.
//!
//! Text that serde_json refuses but a laxer client parser would accept is handled
//! in `check_document`; see `markers::UNPARSED_TOOL_MARKERS`.

use super::markers;
use super::tool_name::ToolName;
use crate::json::Json;
use crate::policy::Allowlist;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Generic,
    AnthropicMessages,
    OpenAiChat,
    OpenAiResponses,
    Bedrock,
    Gemini,
    VercelAi,
    /// Text that failed to parse as JSON but holds quoted tool-call tokens.
    Unparsed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolCall {
    pub dialect: Dialect,
    pub name: ToolName,
    /// The call's id where the dialect has one (`content_block.id`, `tool_calls[].id`,
    /// `item.id`, `toolUseId`, `functionCall.id`, `toolCallId`, generic `data.id`).
    /// Only for counting: a call restated in a later frame (Responses `.done`,
    /// Vercel `tool-input-available`) is checked again but counted once.
    pub id: Option<String>,
}

const GENERIC_EVENTS: [&str; 2] = ["tool_call", "tool_start"];
const ANTHROPIC_BLOCK_TYPES: [&str; 3] = ["tool_use", "server_tool_use", "mcp_tool_use"];
const RESPONSES_EVENT_TYPES: [&str; 2] =
    ["response.output_item.added", "response.output_item.done"];
const VERCEL_TYPES: [&str; 3] = ["tool-input-start", "tool-input-available", "tool-call"];

/// The tool calls a frame starts, given its `event` values and its joined `data`.
/// Empty: not a tool call.
/// The first of `calls`' candidate names the allowlist refuses: the frame or
/// message is denied if any is, and this one is shown.
pub fn first_denied<'a>(calls: &'a [ToolCall], allowlist: &Allowlist) -> Option<&'a ToolName> {
    calls
        .iter()
        .map(|c| &c.name)
        .find(|n| !n.is_allowed(allowlist))
}

/// The distinct names of `calls`, in order: what a frame or message holding
/// allowed calls is charged for (SPEC "Rate limits", `tools`).
pub fn charged_names(calls: &[ToolCall]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in calls {
        let name = c.name.display();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

pub fn detect(events: &[String], data: &str) -> Vec<ToolCall> {
    let mut calls = Vec::new();
    if events.iter().any(|e| GENERIC_EVENTS.contains(&e.as_str())) {
        generic(data, &mut calls);
    }
    if data.contains('\n') {
        // The frame as WHATWG clients see it: the data lines joined.
        let joined = check_document(data, false, &mut calls);
        // Many hand-written clients parse each `data:` line as its own JSON
        // document; a tool call on one line of a multi-line frame reaches them.
        // When the joined text parsed, its lines are fragments of one document
        // (pretty-printed JSON), so a line that does not parse is no sign of a
        // hidden tool call.
        for line in data.split('\n') {
            check_document(line, joined != Parsed::Yes, &mut calls);
        }
    } else {
        check_document(data, true, &mut calls);
    }
    dedup(&mut calls);
    calls
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    Yes,
    No,
    /// No marker, so not looked at: it cannot hold a tool call.
    Skipped,
}

/// One JSON document (the whole data, or one data line of it). With
/// `suspicious_if_unparsed`, text that fails to parse but holds quoted
/// tool-call tokens is an unreadable tool call.
fn check_document(text: &str, suspicious_if_unparsed: bool, calls: &mut Vec<ToolCall>) -> Parsed {
    if !markers::may_hold_tool_call(text.as_bytes()) {
        return Parsed::Skipped;
    }
    match Json::parse(text.as_bytes()) {
        Ok(json) => {
            json_dialects(&json, calls);
            Parsed::Yes
        }
        Err(_) => {
            if suspicious_if_unparsed && markers::looks_like_tool_call(text.as_bytes()) {
                push(
                    calls,
                    Dialect::Unparsed,
                    None,
                    vec![ToolName::Unreadable(String::new())],
                );
            }
            Parsed::No
        }
    }
}

/// Drops repeats (the joined data and one of its lines may name the same call).
/// A set, not a scan: one frame can hold thousands of calls.
fn dedup(calls: &mut Vec<ToolCall>) {
    let mut seen = HashSet::with_capacity(calls.len());
    calls.retain(|c| seen.insert(c.clone()));
}

/// `event: tool_call` / `tool_start`: `data.name`; anything else is unreadable.
fn generic(data: &str, calls: &mut Vec<ToolCall>) {
    match Json::parse(data.as_bytes()) {
        Ok(obj @ Json::Object(_)) => push(
            calls,
            Dialect::Generic,
            id_of(&obj, "id"),
            ToolName::all_of(&obj, "name"),
        ),
        _ => push(
            calls,
            Dialect::Generic,
            None,
            vec![ToolName::Unreadable(String::new())],
        ),
    }
}

fn json_dialects(json: &Json, calls: &mut Vec<ToolCall>) {
    anthropic(json, calls);
    openai_chat(json, calls);
    openai_responses(json, calls);
    bedrock(json, calls);
    gemini(json, calls);
    vercel(json, calls);
}

fn push(calls: &mut Vec<ToolCall>, dialect: Dialect, id: Option<String>, names: Vec<ToolName>) {
    calls.extend(names.into_iter().map(|name| ToolCall {
        dialect,
        name,
        id: id.clone(),
    }));
}

/// The first string or number value of `key`, as text.
fn id_of(object: &Json, key: &str) -> Option<String> {
    object.get_all(key).find_map(|v| match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// True if any value of `key` is a string in `set`.
fn any_str_in(json: &Json, key: &str, set: &[&str]) -> bool {
    json.get_all(key)
        .filter_map(Json::as_str)
        .any(|s| set.contains(&s))
}

/// The items of every value of `key` that should be an array (an object counts
/// as a one-element array).
fn items<'a>(json: &'a Json, key: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    json.get_all(key).flat_map(|v| match v {
        Json::Array(items) => items.iter().collect::<Vec<_>>(),
        obj @ Json::Object(_) => vec![obj],
        _ => Vec::new(),
    })
}

fn objects<'a>(json: &'a Json, key: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    json.get_all(key).filter(|v| matches!(v, Json::Object(_)))
}

/// `data.type` `content_block_start` with a `content_block.type` of a tool use.
fn anthropic(json: &Json, calls: &mut Vec<ToolCall>) {
    if !any_str_in(json, "type", &["content_block_start"]) {
        return;
    }
    for block in objects(json, "content_block") {
        if any_str_in(block, "type", &ANTHROPIC_BLOCK_TYPES) {
            push(
                calls,
                Dialect::AnthropicMessages,
                id_of(block, "id"),
                ToolName::all_of(block, "name"),
            );
        }
    }
}

/// `choices[].delta.tool_calls[].function.name`, legacy `delta.function_call.name`.
/// Only the first fragment of a call carries a name, so a function without one
/// is a continuation, not a call; `"name": null` or `""` (sent by some
/// compatible servers on later fragments) is treated the same way: it names
/// nothing a client could run, and any fragment that does add to the name is
/// checked. Any other non-string name is unreadable.
fn openai_chat(json: &Json, calls: &mut Vec<ToolCall>) {
    for choice in items(json, "choices") {
        for delta in objects(choice, "delta") {
            let functions = items(delta, "tool_calls")
                .flat_map(|call| objects(call, "function").map(move |f| (id_of(call, "id"), f)))
                .chain(objects(delta, "function_call").map(|f| (None, f)));
            for (id, function) in functions {
                let names = function
                    .get_all("name")
                    .filter(|n| !matches!(n, Json::Null) && n.as_str() != Some(""))
                    .map(ToolName::from_json)
                    .collect();
                push(calls, Dialect::OpenAiChat, id, names);
            }
        }
    }
}

/// `response.output_item.added`/`.done` whose `item.type` ends in `_call`:
/// `item.name`, or the type less `_call` for hosted tools that have no name.
fn openai_responses(json: &Json, calls: &mut Vec<ToolCall>) {
    if !any_str_in(json, "type", &RESPONSES_EVENT_TYPES) {
        return;
    }
    for item in objects(json, "item") {
        let call_types: Vec<&str> = item
            .get_all("type")
            .filter_map(Json::as_str)
            .filter_map(|t| t.strip_suffix("_call"))
            .collect();
        if call_types.is_empty() {
            continue;
        }
        let mut names: Vec<ToolName> = item.get_all("name").map(ToolName::from_json).collect();
        if names.is_empty() {
            names = call_types
                .into_iter()
                .map(|t| ToolName::Named(t.to_owned()))
                .collect();
        }
        push(calls, Dialect::OpenAiResponses, id_of(item, "id"), names);
    }
}

/// `event.contentBlockStart.start.toolUse.name`, or the same without `event`.
fn bedrock(json: &Json, calls: &mut Vec<ToolCall>) {
    let roots = std::iter::once(json).chain(objects(json, "event"));
    for root in roots {
        for block in objects(root, "contentBlockStart") {
            for start in objects(block, "start") {
                for tool_use in objects(start, "toolUse") {
                    push(
                        calls,
                        Dialect::Bedrock,
                        id_of(tool_use, "toolUseId"),
                        ToolName::all_of(tool_use, "name"),
                    );
                }
            }
        }
    }
}

/// `candidates[].content.parts[].functionCall.name`.
fn gemini(json: &Json, calls: &mut Vec<ToolCall>) {
    for candidate in items(json, "candidates") {
        for content in objects(candidate, "content") {
            for part in items(content, "parts") {
                for call in objects(part, "functionCall") {
                    push(
                        calls,
                        Dialect::Gemini,
                        id_of(call, "id"),
                        ToolName::all_of(call, "name"),
                    );
                }
            }
        }
    }
}

/// `type` `tool-input-start`, `tool-input-available` or `tool-call`: `toolName`.
fn vercel(json: &Json, calls: &mut Vec<ToolCall>) {
    if any_str_in(json, "type", &VERCEL_TYPES) {
        push(
            calls,
            Dialect::VercelAi,
            id_of(json, "toolCallId"),
            ToolName::all_of(json, "toolName"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn names(events: &[&str], data: &str) -> Vec<(Dialect, String, bool)> {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        detect(&events, data)
            .into_iter()
            .map(|c| {
                let named = matches!(c.name, ToolName::Named(_));
                (c.dialect, c.name.display().to_owned(), named)
            })
            .collect()
    }

    fn named(dialect: Dialect, name: &str) -> (Dialect, String, bool) {
        (dialect, name.to_owned(), true)
    }

    fn unreadable(dialect: Dialect, shown: &str) -> (Dialect, String, bool) {
        (dialect, shown.to_owned(), false)
    }

    #[test]
    #[wasm_bindgen_test]
    fn generic_events_need_a_string_name() {
        use Dialect::Generic;
        assert_eq!(
            names(&["tool_call"], r#"{"name":"a"}"#),
            [named(Generic, "a")]
        );
        assert_eq!(
            names(&["tool_start"], r#"{"name":"a"}"#),
            [named(Generic, "a")]
        );
        assert_eq!(
            names(&["tool_call"], r#"{"id":1}"#),
            [unreadable(Generic, "")]
        );
        assert_eq!(
            names(&["tool_call"], r#"{"name":7}"#),
            [unreadable(Generic, "7")]
        );
        assert_eq!(names(&["tool_call"], "not json"), [unreadable(Generic, "")]);
        assert_eq!(names(&["tool_call"], ""), [unreadable(Generic, "")]);
        assert_eq!(
            names(&["tool_call"], r#""{'name': 'a'}""#),
            [unreadable(Generic, "")]
        );
        // Any event line counts, not only the one WHATWG keeps.
        assert_eq!(
            names(&["tool_call", "message"], r#"{"name":"a"}"#),
            [named(Generic, "a")]
        );
        assert!(names(&["toolcall"], r#"{"name":"a"}"#).is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn anthropic_tool_blocks() {
        use Dialect::AnthropicMessages as A;
        for t in ["tool_use", "server_tool_use", "mcp_tool_use"] {
            let d = format!(
                r#"{{"type":"content_block_start","index":1,"content_block":{{"type":"{t}","name":"n"}}}}"#
            );
            assert_eq!(names(&["content_block_start"], &d), [named(A, "n")]);
        }
        assert!(names(
            &[],
            r#"{"type":"content_block_start","content_block":{"type":"text","text":"tool_use"}}"#
        )
        .is_empty());
        assert!(names(
            &[],
            r#"{"type":"content_block_delta","content_block":{"type":"tool_use","name":"n"}}"#
        )
        .is_empty());
        assert_eq!(
            names(
                &[],
                r#"{"type":"content_block_start","content_block":{"type":"tool_use"}}"#
            ),
            [unreadable(A, "")]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn openai_chat_first_fragments_and_legacy_function_call() {
        use Dialect::OpenAiChat as C;
        let d = r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"a","arguments":""}},{"index":1,"function":{"name":"b"}}]}},{"delta":{"function_call":{"name":"c"}}}]}"#;
        assert_eq!(names(&[], d), [named(C, "a"), named(C, "b"), named(C, "c")]);
        let later = r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\""}}]}}]}"#;
        assert!(names(&[], later).is_empty());
        let null = r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":null,"arguments":"1"}}]}}]}"#;
        assert!(names(&[], null).is_empty());
        let empty =
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"","arguments":"1"}}]}}]}"#;
        assert!(names(&[], empty).is_empty());
        let odd = r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":["a"]}}]}}]}"#;
        assert_eq!(names(&[], odd), [unreadable(C, r#"["a"]"#)]);
        assert!(names(&[], r#"{"choices":[],"usage":{"x":"tool_calls"}}"#).is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn openai_responses_items() {
        use Dialect::OpenAiResponses as R;
        let f = r#"{"type":"response.output_item.added","item":{"type":"function_call","name":"get_capital"}}"#;
        assert_eq!(names(&[], f), [named(R, "get_capital")]);
        let hosted =
            r#"{"type":"response.output_item.done","item":{"type":"web_search_call","id":"ws_1"}}"#;
        assert_eq!(names(&[], hosted), [named(R, "web_search")]);
        let mcp = r#"{"type":"response.output_item.added","item":{"type":"mcp_call","server_label":"d","name":"ask_question"}}"#;
        assert_eq!(names(&[], mcp), [named(R, "ask_question")]);
        assert!(names(
            &[],
            r#"{"type":"response.output_item.added","item":{"type":"mcp_list_tools"}}"#
        )
        .is_empty());
        assert!(names(&[], r#"{"type":"response.function_call_arguments.delta","item":{"type":"function_call","name":"x"}}"#).is_empty());
        assert_eq!(
            names(
                &[],
                r#"{"type":"response.output_item.added","item":{"type":"function_call","name":null}}"#
            ),
            [unreadable(R, "null")]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn bedrock_with_and_without_event() {
        use Dialect::Bedrock as B;
        let wrapped = r#"{"event": {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t", "name": "calculator"}}, "contentBlockIndex": 1}}}"#;
        assert_eq!(names(&[], wrapped), [named(B, "calculator")]);
        let bare = r#"{"contentBlockStart":{"start":{"toolUse":{"name":"c"}}}}"#;
        assert_eq!(names(&[], bare), [named(B, "c")]);
        let delta = r#"{"event": {"contentBlockDelta": {"delta": {"toolUse": {"input": ""}}}}}"#;
        assert!(names(&[], delta).is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn gemini_function_calls() {
        let d = r#"{"candidates":[{"content":{"parts":[{"text":"x"},{"functionCall":{"name":"a","args":{}},"thoughtSignature":"s"},{"functionCall":{"name":"b"}}]}}]}"#;
        assert_eq!(
            names(&[], d),
            [named(Dialect::Gemini, "a"), named(Dialect::Gemini, "b")]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn vercel_tool_parts() {
        use Dialect::VercelAi as V;
        for t in ["tool-input-start", "tool-input-available", "tool-call"] {
            let d = format!(r#"{{"type":"{t}","toolCallId":"c1","toolName":"n"}}"#);
            assert_eq!(names(&[], &d), [named(V, "n")]);
        }
        assert!(names(
            &[],
            r#"{"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"x"}"#
        )
        .is_empty());
        assert!(names(
            &[],
            r#"{"type":"tool-output-available","toolCallId":"c1","toolName":"n"}"#
        )
        .is_empty());
        assert_eq!(names(&[], r#"{"type":"tool-call"}"#), [unreadable(V, "")]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn duplicate_keys_yield_every_candidate() {
        use Dialect::*;
        assert_eq!(
            names(&["tool_call"], r#"{"name":"ok","name":"bad"}"#),
            [named(Generic, "ok"), named(Generic, "bad")]
        );
        // The type test holds if any duplicate passes; every block is looked at.
        let d = r#"{"type":"x","type":"content_block_start","content_block":{"type":"text"},"content_block":{"type":"text","type":"tool_use","name":"bad"}}"#;
        assert_eq!(names(&[], d), [named(AnthropicMessages, "bad")]);
        let d = r#"{"type":"tool-call","toolName":"ok","toolName":"bad"}"#;
        assert_eq!(
            names(&[], d),
            [named(VercelAi, "ok"), named(VercelAi, "bad")]
        );
        let d = r#"{"choices":[{"delta":{"tool_calls":[]}}],"choices":[{"delta":{"tool_calls":[{"function":{"name":"bad"}}]}}]}"#;
        assert_eq!(names(&[], d), [named(OpenAiChat, "bad")]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn escaped_keys_and_names_are_decoded() {
        let d = r#"{"type":"content_block_start","content_block":{"type":"tool\u005fuse","n\u0061me":"get\u005fweather"}}"#;
        assert_eq!(
            names(&[], d),
            [named(Dialect::AnthropicMessages, "get_weather")]
        );
        let d =
            r#"{"\u0063andidates":[{"content":{"parts":[{"\u0066unctionCall":{"name":"x"}}]}}]}"#;
        assert_eq!(names(&[], d), [named(Dialect::Gemini, "x")]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn text_that_is_not_json_or_holds_json_in_a_string_is_not_a_tool_call() {
        assert!(names(&[], "[DONE]").is_empty());
        assert!(names(
            &[],
            r#""{'type': 'tool_use_stream', 'current_tool_use': {'name': 'calculator'}}""#
        )
        .is_empty());
        let nested = r#""{\"type\":\"tool-call\",\"toolName\":\"bad\"}""#;
        assert!(names(&[], nested).is_empty());
        assert!(names(&[], "{'type': 'tool_use', 'name': 'x'}").is_empty());
        assert!(names(&[], "calling the tool_use API").is_empty());
    }

    #[test]
    #[wasm_bindgen_test]
    fn json_that_lax_clients_accept_but_serde_refuses_is_unreadable() {
        let cases = [
            r#"{"type":"tool-call","toolName":"bad","x":NaN}"#,
            r#"{"type":"tool-call","toolName":"bad","x":1e400}"#,
            r#"{"type":"tool-call","toolName":"bad","x":"\ud800"}"#,
        ];
        for d in cases {
            assert_eq!(names(&[], d), [unreadable(Dialect::Unparsed, "")], "{d}");
        }
        let deep = format!(
            r#"{{"type":"tool-call","toolName":"bad","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(names(&[], &deep), [unreadable(Dialect::Unparsed, "")]);
    }

    #[test]
    #[wasm_bindgen_test]
    fn multi_line_data_is_read_joined_and_line_by_line() {
        use Dialect::VercelAi as V;
        // JSON across lines: one document.
        assert_eq!(
            names(&[], "{\"type\":\"tool-call\",\n\"toolName\":\"a\"}"),
            [named(V, "a")]
        );
        // One JSON document per line: what line-by-line clients act on.
        let d = "{\"type\":\"text\"}\n{\"type\":\"tool-call\",\"toolName\":\"b\"}";
        assert_eq!(names(&[], d), [named(V, "b")]);
    }
}
