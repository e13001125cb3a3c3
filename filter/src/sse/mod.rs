//! SPEC "Response policing": SSE framing, tool-call dialects and the stream guard.
