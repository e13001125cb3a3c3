//! The model tokens a stream reports (SPEC "Rate limits", `tokens`), read from
//! the frames the guard has already split, with the same JSON parser.
//!
//! Per dialect: Anthropic `message_start` `message.usage.input_tokens` plus the
//! last `message_delta` `usage.output_tokens`; OpenAI Chat `usage.total_tokens`;
//! OpenAI Responses `response.completed` `response.usage.total_tokens`;
//! Bedrock/AgentCore `metadata.usage.totalTokens` (also under `event`); Gemini
//! the last `usageMetadata.totalTokenCount`. An agent stream may hold several
//! model calls (a Strands loop sends one `metadata` per cycle): each call's
//! total is added; Gemini's counts are running totals, so only its last counts.

use crate::json::Json;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsageMeter {
    /// Totals of finished model calls.
    finished: u64,
    /// The Anthropic message in progress: input, and the last output count.
    anthropic: Option<(u64, u64)>,
    gemini_last: u64,
}

fn number(value: Option<&Json>) -> Option<u64> {
    match value? {
        Json::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn path<'a>(json: &'a Json, steps: &[&str]) -> Option<&'a Json> {
    steps.iter().try_fold(json, |v, s| v.get(s))
}

impl UsageMeter {
    /// One frame's joined `data`.
    pub fn on_frame(&mut self, data: &str) {
        // Every dialect's usage member has `usage` (or `usageMetadata`) in its
        // name: other frames are not parsed.
        if !data.contains("sage") {
            return;
        }
        let Ok(json) = Json::parse(data.as_bytes()) else {
            return;
        };
        match json.get("type").and_then(Json::as_str) {
            Some("message_start") => {
                self.finish_anthropic();
                let input = number(path(&json, &["message", "usage", "input_tokens"]));
                self.anthropic = Some((input.unwrap_or(0), 0));
                return;
            }
            Some("message_delta") => {
                if let Some(out) = number(path(&json, &["usage", "output_tokens"])) {
                    let (input, _) = self.anthropic.unwrap_or_default();
                    self.anthropic = Some((input, out));
                }
                return;
            }
            Some("response.completed") => {
                let total = number(path(&json, &["response", "usage", "total_tokens"]));
                self.add(total);
                return;
            }
            _ => {}
        }
        self.add(number(path(&json, &["usage", "total_tokens"])));
        let bedrock = number(path(&json, &["metadata", "usage", "totalTokens"]))
            .or_else(|| number(path(&json, &["event", "metadata", "usage", "totalTokens"])));
        self.add(bedrock);
        if let Some(g) = number(path(&json, &["usageMetadata", "totalTokenCount"])) {
            self.gemini_last = g;
        }
    }

    fn add(&mut self, tokens: Option<u64>) {
        self.finished = self.finished.saturating_add(tokens.unwrap_or(0));
    }

    fn finish_anthropic(&mut self) {
        if let Some((input, output)) = self.anthropic.take() {
            self.add(Some(input.saturating_add(output)));
        }
    }

    /// Every token reported so far.
    pub fn tokens(&self) -> u64 {
        let (input, output) = self.anthropic.unwrap_or_default();
        self.finished
            .saturating_add(input)
            .saturating_add(output)
            .saturating_add(self.gemini_last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::framer::Framer;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn meter(stream: &[u8]) -> u64 {
        let mut framer = Framer::new(1 << 20);
        framer.push(stream);
        let mut m = UsageMeter::default();
        while let Ok(Some(frame)) = framer.next_frame(true) {
            m.on_frame(&frame.data);
        }
        m.tokens()
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../../fixtures/streams/", $name))
        };
    }

    #[test]
    #[wasm_bindgen_test]
    fn the_recorded_streams_report_their_real_usage() {
        // 377 in + 65 out.
        assert_eq!(meter(fixture!("anthropic_messages_tool_use.sse")), 442);
        // 612 in + the last message_delta's 106 out.
        assert_eq!(
            meter(fixture!("anthropic_messages_server_tool_use_fixture.sse")),
            718
        );
        assert_eq!(meter(fixture!("openai_chat_single_tool_call.sse")), 67);
        assert_eq!(meter(fixture!("openai_chat_parallel_tool_calls.sse")), 209);
        assert_eq!(meter(fixture!("openai_chat_non_strict_tool_call.sse")), 60);
        assert_eq!(
            meter(fixture!("openai_responses_function_call_gpt4o.sse")),
            271
        );
        assert_eq!(
            meter(fixture!(
                "openai_responses_function_call_with_reasoning_seqnum.sse"
            )),
            522
        );
        assert_eq!(
            meter(fixture!("openai_responses_hosted_mcp_call.sse")),
            1881
        );
        assert_eq!(
            meter(fixture!("gemini_stream_function_call_gemini2flash.sse")),
            57
        );
        assert_eq!(
            meter(fixture!(
                "gemini_stream_function_call_gemini3_thought_signature.sse"
            )),
            241
        );
        // Two Strands cycles (469 + 488); the `message.metadata` restatements
        // and the Python-repr frames are not counted again.
        assert_eq!(meter(fixture!("agentcore_strands_tool_use.sse")), 957);
    }

    #[test]
    #[wasm_bindgen_test]
    fn several_anthropic_messages_each_count_and_frames_without_usage_are_free() {
        let stream =
            b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10}}}\n\n\
data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\n\
data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}\n\n\
data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":20}}}\n\n\
data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":2}}\n\n\
data: [DONE]\n\n";
        assert_eq!(meter(stream), 37);
        assert_eq!(
            meter(b"data: {\"usage\":null}\n\ndata: not json usage\n\n"),
            0
        );
    }
}
