//! The root context: loads the configuration once per VM and makes HTTP contexts.

use crate::config::Config;
use crate::metrics::Metric;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::http::Http;

/// Counter ids, defined once per VM; Envoy aggregates same-named counters across workers.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<Metric, u32>>,
}

impl Metrics {
    fn define_all(&self) {
        let mut ids = self.ids.borrow_mut();
        for m in Metric::all() {
            if let Ok(id) = hostcalls::define_metric(MetricType::Counter, &m.name()) {
                ids.insert(m, id);
            }
        }
    }

    pub fn increment(&self, metric: Metric, by: u64) {
        if let Some(id) = self.ids.borrow().get(&metric) {
            let _ = hostcalls::increment_metric(*id, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }
}

pub struct Root {
    context_id: u32,
    config: Option<Rc<Config>>,
    metrics: Rc<Metrics>,
}

impl Root {
    pub fn new(context_id: u32) -> Self {
        Root {
            context_id,
            config: None,
            metrics: Rc::new(Metrics::default()),
        }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::from_json(&bytes) {
            Ok(config) => {
                self.metrics.define_all();
                self.config = Some(Rc::new(config));
                true
            }
            Err(e) => {
                // One line naming the field path; returning false makes Envoy refuse the config.
                let _ = hostcalls::log(LogLevel::Critical, &format!("toolguard: invalid configuration: {e}"));
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let config = self.config.clone()?;
        Some(Box::new(Http::new(context_id, config, self.metrics.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        let _ = self.context_id;
        Some(ContextType::HttpContext)
    }
}
