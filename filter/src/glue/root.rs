//! The root context: loads the configuration once per VM, makes HTTP contexts,
//! and hands its tick and its call answers to `flow::Root`.

use crate::config::Config;
use crate::flow;
use crate::host::{Host, LogLevel};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::host_calls::HostCalls;
use super::http::Http;

/// Short enough that a request waiting for keys is woken promptly after a fetch
/// is due; each tick is a few comparisons when nothing is due.
const TICK: Duration = Duration::from_millis(100);

/// State the root and the HTTP contexts of one configuration share.
pub struct Shared {
    pub root: RefCell<flow::Root>,
    pub host: HostCalls,
}

#[derive(Default)]
pub struct Root {
    shared: Option<Rc<Shared>>,
    /// Set once this VM made an HTTP context. Envoy also runs the plugin on its main
    /// thread, which never serves a request.
    serving: Cell<bool>,
    host: HostCalls,
}

impl Root {
    /// Hands a callback to the root state, once a configuration made one.
    fn with(&self, f: impl FnOnce(&mut flow::Root, &HostCalls)) {
        if let Some(shared) = &self.shared {
            f(&mut shared.root.borrow_mut(), &self.host);
        }
    }
}

impl Context for Root {
    fn on_grpc_call_response(&mut self, token: u32, status: u32, size: usize) {
        self.with(|root, host| root.on_root_grpc_answer(host, token, status, size));
    }

    fn on_http_call_response(&mut self, token: u32, headers: usize, size: usize, _: usize) {
        self.with(|root, host| root.on_http_call_answer(host, token, headers, size));
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::from_json(&bytes) {
            Ok(config) => {
                self.host.define_metrics();
                self.shared = Some(Rc::new(Shared {
                    root: RefCell::new(flow::Root::new(Rc::new(config))),
                    host: self.host.clone(),
                }));
                self.set_tick_period(TICK);
                true
            }
            Err(e) => {
                // One line naming the field path; returning false makes Envoy refuse the config.
                let message = format!("toolguard: invalid configuration: {e}");
                self.host.log(LogLevel::Critical, &message);
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let serving = self.serving.get();
        self.with(|root, host| root.on_tick(host, serving));
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        self.serving.set(true);
        Some(Box::new(Http { context_id, shared }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
