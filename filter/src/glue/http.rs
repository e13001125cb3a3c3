//! The HTTP context: one per request stream, handing each callback to `flow`.

use crate::flow::{self, BodyStep, RequestStep, ResponseBodyStep};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;

use super::host_calls::HostCalls;
use super::root::Shared;

pub struct Http {
    pub context_id: u32,
    pub shared: Rc<Shared>,
}

impl Drop for Http {
    /// The SDK drops the context when Envoy deletes it; a gRPC answer may still
    /// come to it between `on_done` and then, so the stream is kept until now.
    fn drop(&mut self) {
        if let Ok(mut root) = self.shared.root.try_borrow_mut() {
            root.on_stream_deleted(self.context_id);
        }
    }
}

impl Http {
    /// Hands a callback to the VM's root state, with this stream's host calls and id.
    fn with<R>(&self, f: impl FnOnce(&mut flow::Root, &HostCalls, u32) -> R) -> R {
        f(
            &mut self.shared.root.borrow_mut(),
            &self.shared.host,
            self.context_id,
        )
    }
}

impl Context for Http {
    fn on_done(&mut self) -> bool {
        self.with(|root, _, id| root.on_stream_done(id));
        true
    }

    fn on_grpc_call_response(&mut self, token: u32, status: u32, size: usize) {
        self.with(|root, host, id| root.on_stream_grpc_answer(host, id, token, status, size));
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        match self.with(|root, host, id| root.on_request_headers(host, id, end_of_stream)) {
            RequestStep::Continue => Action::Continue,
            RequestStep::Answered
            | RequestStep::HoldForBody
            | RequestStep::WaitForKeys { .. }
            | RequestStep::WaitForLimits { .. } => Action::Pause,
        }
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        body_action(self.with(|root, host, id| root.on_request_body(host, id, size, end_of_stream)))
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        body_action(self.with(|root, _, id| root.on_request_trailers(id)))
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.with(|root, host, id| root.on_response_headers(host, id));
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        match self.with(|root, host, id| root.on_response_body(host, id, size, end_of_stream)) {
            // Streams are never held: Pause makes Envoy buffer, the very thing to avoid.
            ResponseBodyStep::Continue | ResponseBodyStep::CutAt(_) => Action::Continue,
            // Envoy buffers the held body; an answer or a deadline resumes it.
            ResponseBodyStep::Hold => Action::Pause,
        }
    }
}

/// `Continue` from a body or trailers callback also releases held headers, so
/// anything not yet decided is held.
fn body_action(step: BodyStep) -> Action {
    match step {
        BodyStep::Continue => Action::Continue,
        BodyStep::Hold | BodyStep::Answered => Action::Pause,
    }
}
