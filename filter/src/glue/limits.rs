//! Rate-limit answers and deadlines, handed to the stream they belong to.
//!
//! A call sent from an HTTP context is answered on that context; one the root
//! sent for a stream (after a key wait or a deadline) is answered on the root,
//! which routes it by token. Deadlines are the root tick's backstop: Envoy's
//! own gRPC timeout normally ends a slow call first.

use super::host_calls::HostCalls;
use super::http::Stream;
use super::root::{Shared, Waiter};
use crate::flow::{RequestStep, ResponseBodyStep};
use proxy_wasm::hostcalls;
use proxy_wasm::types::BufferType;
use std::cell::RefCell;
use std::rc::Rc;

/// A `RateLimitResponse` is a few hundred bytes; anything past this is garbage.
const MAX_ANSWER_BYTES: usize = 65536;

/// A stream that waits for the rate-limit service, on either side.
pub struct LimitWaiter {
    pub context_id: u32,
    pub stream: Rc<RefCell<Stream>>,
}

/// The gRPC answer `token` for the stream whose context is current.
pub fn deliver(
    shared: &Shared,
    context_id: u32,
    stream: &Rc<RefCell<Stream>>,
    token: u32,
    status: u32,
    size: usize,
) {
    let body = if status == 0 && size > 0 {
        hostcalls::get_buffer(
            BufferType::GrpcReceiveBuffer,
            0,
            size.min(MAX_ANSWER_BYTES + 1),
        )
        .ok()
        .flatten()
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    let host = HostCalls::new(shared.metrics.clone());
    let request_step = {
        let vm = shared.vm.borrow();
        stream
            .borrow_mut()
            .request
            .on_grpc_answer(&host, &vm, token, status, &body)
    };
    if let Some(step) = request_step {
        apply_request_step(shared, context_id, stream, step, &host);
        return;
    }
    let response_step = stream
        .borrow_mut()
        .response
        .on_grpc_answer(&host, token, status, &body);
    if let Some(step) = response_step {
        apply_response_step(shared, context_id, stream, step, &host);
    }
    // Otherwise: a token charge nobody waits for, or a stream already decided.
}

/// What the glue does after a request step taken outside the headers callback.
pub fn apply_request_step(
    shared: &Shared,
    context_id: u32,
    stream: &Rc<RefCell<Stream>>,
    step: RequestStep,
    host: &HostCalls,
) {
    route_dispatched(shared, context_id, stream, host);
    match step {
        RequestStep::Continue => {
            let _ = hostcalls::resume_http_request();
        }
        RequestStep::Answered | RequestStep::HoldForBody => {}
        RequestStep::WaitForKeys {
            provider,
            deadline_ms,
        } => shared.waiting.borrow_mut().push(Waiter {
            context_id,
            stream: stream.clone(),
            provider,
            deadline_ms,
        }),
        RequestStep::WaitForLimits { .. } => wait(shared, context_id, stream),
    }
}

pub fn apply_response_step(
    shared: &Shared,
    context_id: u32,
    stream: &Rc<RefCell<Stream>>,
    step: ResponseBodyStep,
    host: &HostCalls,
) {
    route_dispatched(shared, context_id, stream, host);
    match step {
        ResponseBodyStep::CutAt(at_ms) => shared.cut.borrow_mut().push((context_id, at_ms)),
        ResponseBodyStep::Hold => wait(shared, context_id, stream),
        ResponseBodyStep::Continue => {}
    }
}

/// Registers the stream for the deadline backstop (once).
pub fn wait(shared: &Shared, context_id: u32, stream: &Rc<RefCell<Stream>>) {
    let mut waits = shared.limit_waits.borrow_mut();
    if !waits.iter().any(|w| w.context_id == context_id) {
        waits.push(LimitWaiter {
            context_id,
            stream: stream.clone(),
        });
    }
}

/// Calls sent while the root was the active context are answered to the root.
fn route_dispatched(
    shared: &Shared,
    context_id: u32,
    stream: &Rc<RefCell<Stream>>,
    host: &HostCalls,
) {
    if !shared.root_active.get() {
        return;
    }
    let mut routes = shared.grpc_routes.borrow_mut();
    for token in host.dispatched.borrow_mut().drain(..) {
        routes.insert(
            token,
            LimitWaiter {
                context_id,
                stream: stream.clone(),
            },
        );
    }
}

/// The root's tick: streams whose call is past its deadline go on without it.
pub fn enforce_deadlines(shared: &Shared) {
    let waits = std::mem::take(&mut *shared.limit_waits.borrow_mut());
    let mut still = Vec::new();
    for w in waits {
        if hostcalls::set_effective_context(w.context_id).is_err() {
            continue; // the stream is gone
        }
        let host = HostCalls::new(shared.metrics.clone());
        let request_step = {
            let vm = shared.vm.borrow();
            w.stream.borrow_mut().request.on_limits_deadline(&host, &vm)
        };
        if let Some(step) = request_step {
            apply_request_step(shared, w.context_id, &w.stream, step, &host);
        }
        let response_step = w.stream.borrow_mut().response.on_limits_deadline(&host);
        if let Some(step) = response_step {
            apply_response_step(shared, w.context_id, &w.stream, step, &host);
        }
        let waiting = {
            let s = w.stream.borrow();
            s.request.waits_for_limits() || s.response.waits_for_limits()
        };
        if waiting {
            still.push(w);
        }
    }
    let mut waits = shared.limit_waits.borrow_mut();
    for w in still {
        if !waits.iter().any(|o| o.context_id == w.context_id) {
            waits.push(w);
        }
    }
}
