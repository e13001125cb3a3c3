//! What the demo's agent says for a prompt: the tool it picks ([`plan`]) and
//! the AgentCore/Strands SSE frames it streams ([`script`]), paced. Plain
//! data, no server: the runtime (`runtime.rs`) serves it over SSE and
//! WebSocket, and the test of the AgentCore recipes replays it too.

use std::time::Duration;

use serde_json::{json, Value};

/// Pauses between frames: between streamed text pieces, and while a tool
/// "runs".
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    pub token: Duration,
    pub tool: Duration,
}

impl Pacing {
    /// Slow enough to watch.
    pub const NARRATED: Pacing = Pacing {
        token: Duration::from_millis(70),
        tool: Duration::from_millis(700),
    };
    /// Fast, still frame by frame (for `--check`).
    pub const FAST: Pacing = Pacing {
        token: Duration::from_millis(10),
        tool: Duration::from_millis(120),
    };
}

/// What the agent does for a prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub tool: &'static str,
    pub input: Value,
    pub intro: &'static str,
    pub tool_result: &'static str,
    pub answer: &'static str,
}

/// The prompt picks the tool: "delete"/"remove" → `delete_filing` (admins
/// only), "report"/"summar" → `generate_report`, anything else →
/// `search_filings`.
pub fn plan(prompt: &str) -> Plan {
    let p = prompt.to_lowercase();
    if p.contains("delete") || p.contains("remove") {
        Plan {
            tool: "delete_filing",
            input: json!({"filing_id": "ACME-10-K-2023"}),
            intro: "I'll delete the ACME 2023 10-K filing for you.",
            tool_result: "deleted ACME-10-K-2023",
            answer: "Done: the ACME 2023 10-K filing has been deleted.",
        }
    } else if p.contains("report") || p.contains("summar") {
        Plan {
            tool: "generate_report",
            input: json!({"company": "ACME", "sections": ["revenue", "risks"]}),
            intro: "I'll generate a report on ACME.",
            tool_result: "report-7f3a.pdf (4 pages)",
            answer: "Your ACME report is ready: report-7f3a.pdf, 4 pages on revenue and risks.",
        }
    } else {
        Plan {
            tool: "search_filings",
            input: json!({"company": "ACME", "form": "10-K"}),
            intro: "Let me search the filings for ACME.",
            tool_result: "3 filings: 10-K 2024 (2025-02-14), 10-K 2023, 10-K 2022",
            answer: "ACME's latest annual report is its 10-K for 2024, filed on 2025-02-14; revenue grew 12% year over year.",
        }
    }
}

/// The SSE frames the agent streams for `prompt`, each with the pause before
/// it, and the index of the frame that starts the tool call.
pub struct Script {
    pub frames: Vec<(Duration, String)>,
    pub tool_frame: usize,
}

impl Script {
    /// The bytes of the frames before the tool call, as sent.
    pub fn before_tool_call(&self) -> String {
        self.frames[..self.tool_frame]
            .iter()
            .map(|(_, f)| f.as_str())
            .collect()
    }

    /// Sum of the pauses: the least time the stream takes.
    pub fn duration(&self) -> Duration {
        self.frames.iter().map(|(d, _)| *d).sum()
    }
}

fn frame(v: Value) -> String {
    format!("data: {v}\n\n")
}

/// Cuts text into pieces of about three words, as a model streams it.
fn pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    words
        .chunks(3)
        .enumerate()
        .map(|(i, c)| {
            let s = c.join(" ");
            if i == 0 {
                s
            } else {
                format!(" {s}")
            }
        })
        .collect()
}

/// The frames of one agent turn in the AgentCore/Strands format: a text
/// intro, a tool call (start, a Strands debug event, input deltas, stop), the
/// tool result after the tool "ran", then the streamed answer.
pub fn script(prompt: &str, pacing: Pacing) -> Script {
    let plan = plan(prompt);
    let tool_use_id = format!("tooluse_{}", &hex_id(prompt)[..22]);
    let t = pacing.token;
    let mut frames: Vec<(Duration, String)> = Vec::new();
    let mut push = |pause: Duration, v: Value| frames.push((pause, frame(v)));
    push(Duration::ZERO, json!({"init_event_loop": true}));
    push(t, json!({"start": true}));
    push(t, json!({"start_event_loop": true}));
    push(t, json!({"event": {"messageStart": {"role": "assistant"}}}));
    for piece in pieces(plan.intro) {
        push(
            t,
            json!({"event": {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}}),
        );
    }
    push(
        t,
        json!({"event": {"contentBlockStop": {"contentBlockIndex": 0}}}),
    );
    let tool_frame = frames.len();
    frames.push((
        t,
        frame(
            json!({"event": {"contentBlockStart": {"start": {"toolUse": {
            "toolUseId": tool_use_id, "name": plan.tool}}, "contentBlockIndex": 1}}}),
        ),
    ));
    // Strands also streams its raw Python events, as JSON strings.
    frames.push((
        t,
        frame(Value::String(format!(
            "{{'type': 'tool_use_stream', 'delta': {{'toolUse': {{'input': ''}}}}, 'current_tool_use': \
             {{'toolUseId': '{tool_use_id}', 'name': '{}', 'input': {{}}}}, \
             'agent': <strands.agent.agent.Agent object at 0x7f3c5a1e2d10>}}",
            plan.tool
        ))),
    ));
    let input = plan.input.to_string();
    let (a, b) = input.split_at(input.len() / 2);
    let mut push = |pause: Duration, v: Value| frames.push((pause, frame(v)));
    for part in [a, b] {
        push(
            t,
            json!({"event": {"contentBlockDelta": {"delta": {"toolUse": {"input": part}}, "contentBlockIndex": 1}}}),
        );
    }
    push(
        t,
        json!({"event": {"contentBlockStop": {"contentBlockIndex": 1}}}),
    );
    push(
        t,
        json!({"event": {"messageStop": {"stopReason": "tool_use"}}}),
    );
    push(
        t,
        json!({"message": {"role": "assistant", "content": [
            {"text": plan.intro},
            {"toolUse": {"toolUseId": tool_use_id, "name": plan.tool, "input": plan.input}}]}}),
    );
    push(
        pacing.tool,
        json!({"message": {"role": "user", "content": [{"toolResult": {
            "toolUseId": tool_use_id, "status": "success", "content": [{"text": plan.tool_result}]}}]}}),
    );
    push(t, json!({"start": true}));
    push(t, json!({"start_event_loop": true}));
    push(t, json!({"event": {"messageStart": {"role": "assistant"}}}));
    for piece in pieces(plan.answer) {
        push(
            t,
            json!({"event": {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}}),
        );
    }
    push(
        t,
        json!({"event": {"contentBlockStop": {"contentBlockIndex": 0}}}),
    );
    push(
        t,
        json!({"event": {"messageStop": {"stopReason": "end_turn"}}}),
    );
    push(
        t,
        json!({"event": {"metadata": {"usage": {"inputTokens": 412, "outputTokens": 57, "totalTokens": 469}, "metrics": {"latencyMs": 1234}}}}),
    );
    push(
        Duration::ZERO,
        json!({"message": {"role": "assistant", "content": [{"text": plan.answer}]}}),
    );
    Script { frames, tool_frame }
}

/// A stable id derived from the prompt (hex of a simple hash).
fn hex_id(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The prompt of an invocation body: `{"prompt": "..."}`, else the body text.
pub fn prompt_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("prompt").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_pick_tools() {
        assert_eq!(plan("Find ACME's filings").tool, "search_filings");
        assert_eq!(plan("Please DELETE the 2023 10-K").tool, "delete_filing");
        assert_eq!(plan("summarize ACME").tool, "generate_report");
        assert_eq!(prompt_of(r#"{"prompt":"hi"}"#), "hi");
        assert_eq!(prompt_of("plain"), "plain");
    }

    #[test]
    fn script_is_well_formed_sse_with_one_tool_call() {
        let s = script("delete it", Pacing::FAST);
        assert!(s
            .frames
            .iter()
            .all(|(_, f)| f.starts_with("data: ") && f.ends_with("\n\n")));
        assert!(s
            .frames
            .iter()
            .all(|(_, f)| !f[..f.len() - 2].contains('\n')));
        let tool = &s.frames[s.tool_frame].1;
        assert!(tool.contains("contentBlockStart") && tool.contains("\"delete_filing\""));
        assert!(!s.before_tool_call().contains("delete_filing"));
        assert!(s.duration() >= Pacing::FAST.tool);
    }
}
