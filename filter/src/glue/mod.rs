//! The proxy-wasm layer: root and HTTP contexts that hand every decision to the
//! plain modules. Built only for the module Envoy loads (`wasm32-wasip1`).

mod host_calls;
mod http;
mod limits;
mod root;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    // A panic aborts the VM and fails every request on this worker; say so loudly.
    std::panic::set_hook(Box::new(|info| {
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("toolguard: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(root::Root::new(context_id))
    });
}}
