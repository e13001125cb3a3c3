//! The HTTP context: one per request stream, handing each callback to `flow`.

use crate::flow::{BodyStep, RequestState, RequestStep, ResponseBodyStep, ResponseState};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;

use super::host_calls::HostCalls;
use super::limits;
use super::root::{Shared, Waiter};

/// A stream's state; shared with the root while the request waits for keys.
#[derive(Default)]
pub struct Stream {
    pub request: RequestState,
    pub response: ResponseState,
}

pub struct Http {
    context_id: u32,
    shared: Rc<Shared>,
    stream: Rc<RefCell<Stream>>,
    host: HostCalls,
}

impl Http {
    pub fn new(context_id: u32, shared: Rc<Shared>) -> Self {
        let host = HostCalls::new(shared.metrics.clone());
        Http {
            context_id,
            shared,
            stream: Rc::new(RefCell::new(Stream::default())),
            host,
        }
    }
}

impl Context for Http {
    fn on_done(&mut self) -> bool {
        // Forget the stream if it was still waiting for keys or to be reset.
        let id = self.context_id;
        self.shared
            .waiting
            .borrow_mut()
            .retain(|w| w.context_id != id);
        self.shared.cut.borrow_mut().retain(|(c, _)| *c != id);
        self.shared
            .limit_waits
            .borrow_mut()
            .retain(|w| w.context_id != id);
        true
    }

    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        limits::deliver(
            &self.shared,
            self.context_id,
            &self.stream,
            token_id,
            status_code,
            response_size,
        );
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let step = {
            let mut vm = self.shared.vm.borrow_mut();
            self.stream
                .borrow_mut()
                .request
                .on_headers(&self.host, &mut vm, end_of_stream)
        };
        match step {
            RequestStep::Continue => Action::Continue,
            RequestStep::Answered | RequestStep::HoldForBody => Action::Pause,
            RequestStep::WaitForKeys {
                provider,
                deadline_ms,
            } => {
                self.shared.waiting.borrow_mut().push(Waiter {
                    context_id: self.context_id,
                    stream: self.stream.clone(),
                    provider,
                    deadline_ms,
                });
                Action::Pause
            }
            RequestStep::WaitForLimits { .. } => {
                limits::wait(&self.shared, self.context_id, &self.stream);
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let vm = self.shared.vm.borrow();
        let step =
            self.stream
                .borrow_mut()
                .request
                .on_body(&self.host, &vm, body_size, end_of_stream);
        if self.stream.borrow().request.waits_for_limits() {
            limits::wait(&self.shared, self.context_id, &self.stream);
        }
        body_action(step)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        body_action(self.stream.borrow_mut().request.on_trailers())
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let vm = self.shared.vm.borrow();
        let mut stream = self.stream.borrow_mut();
        let Stream { request, response } = &mut *stream;
        response.on_headers(&self.host, &vm.config, request);
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let step = self
            .stream
            .borrow_mut()
            .response
            .on_body(&self.host, body_size, end_of_stream);
        match step {
            // Streams are never held: Pause makes Envoy buffer, the very thing to avoid.
            ResponseBodyStep::Continue => Action::Continue,
            ResponseBodyStep::CutAt(reset_at_ms) => {
                self.shared
                    .cut
                    .borrow_mut()
                    .push((self.context_id, reset_at_ms));
                Action::Continue
            }
            // Held: a bounded MCP tools/list JSON answer, or the body behind a
            // tool-call frame being charged (until the rate-limit answer or its
            // deadline; Envoy buffers it, and the answer rewrites and resumes it).
            ResponseBodyStep::Hold => {
                if self.stream.borrow().response.waits_for_limits() {
                    limits::wait(&self.shared, self.context_id, &self.stream);
                }
                Action::Pause
            }
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
