//! The HTTP context: one per request stream.

use crate::config::Config;
use proxy_wasm::traits::{Context, HttpContext};
use std::rc::Rc;

use super::root::Metrics;

pub struct Http {
    #[allow(dead_code)]
    context_id: u32,
    #[allow(dead_code)]
    config: Rc<Config>,
    #[allow(dead_code)]
    metrics: Rc<Metrics>,
}

impl Http {
    pub fn new(context_id: u32, config: Rc<Config>, metrics: Rc<Metrics>) -> Self {
        Http {
            context_id,
            config,
            metrics,
        }
    }
}

impl Context for Http {}

impl HttpContext for Http {}
