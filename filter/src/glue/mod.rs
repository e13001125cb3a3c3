//! The proxy-wasm layer: root and HTTP contexts that translate each callback
//! into a `flow::Root` call; every decision is made there. Built only for the module Envoy loads (`wasm32-wasip1`).

mod host_calls;
mod http;
mod root;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    // A panic aborts the VM and fails every request on this worker; say so loudly.
    std::panic::set_hook(Box::new(|info| {
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("toolguard: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::<root::Root>::default()
    });
}}
