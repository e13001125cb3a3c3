//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` over
//! limitador, answered as envoyproxy/ratelimit answers it.
//!
//! The mapping (limitador-server's, per descriptor rather than per request):
//! - the request `domain` is limitador's namespace;
//! - each descriptor is checked on its own, with a context whose
//!   `descriptors` list holds only that descriptor, so a limit written the way
//!   limitador-server's are (`descriptors[0]['user']` in `variables` or
//!   `conditions`) applies to any descriptor with those entries, wherever it
//!   stands in the request;
//! - hits: the descriptor's own `hits_addend` if set (0: check only, nothing
//!   counted), else the request's `hits_addend`, else 1 (proto3 cannot tell 0
//!   from unset there, and Envoy sends 0 for "not set");
//! - hits are counted even when a descriptor is over its limit, as
//!   envoyproxy/ratelimit does (limitador's own check-and-update would drop
//!   them): a model-token charge larger than what is left must still spend the
//!   budget, or a check before the next request would find it unspent;
//! - each descriptor gets a status: `OVER_LIMIT` when the hits do not fit,
//!   `current_limit`, `limit_remaining` and `duration_until_reset` from its
//!   tightest counter (what Envoy's ratelimit filter turns into
//!   `x-ratelimit-*` headers); a descriptor no limit applies to is `OK` with
//!   no `current_limit`. The overall code is `OVER_LIMIT` if any descriptor is.
//! - a Redis failure is gRPC `UNAVAILABLE`, which Envoy treats as a service
//!   error (`failure_mode_deny` decides), as limitador-server does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf;
use limitador::counter::Counter;
use limitador::limit::{Context, Namespace};
use limitador::AsyncRateLimiter;
use tonic::{Request, Response, Status};

pub(crate) struct Rls {
    pub(crate) limiter: Arc<AsyncRateLimiter>,
    pub(crate) calls: Arc<AtomicU64>,
}

/// A context in which `descriptors[0]` is this descriptor's entries.
pub(crate) fn descriptor_context<'a>(
    entries: impl IntoIterator<Item = (String, String)>,
) -> Context<'a> {
    let mut ctx = Context::default();
    ctx.list_binding(
        "descriptors".to_string(),
        vec![entries.into_iter().collect::<HashMap<_, _>>()],
    );
    ctx
}

/// The hits a descriptor is charged.
fn hits(descriptor: &RateLimitDescriptor, request_hits: u32) -> u64 {
    match &descriptor.hits_addend {
        Some(own) => own.value,
        None if request_hits == 0 => 1,
        None => u64::from(request_hits),
    }
}

#[tonic::async_trait]
impl RateLimitService for Rls {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let request = request.into_inner();
        if request.domain.is_empty() {
            return Err(Status::invalid_argument(
                "rate limit domain must not be empty",
            ));
        }
        let namespace = Namespace::from(request.domain.as_str());
        let mut statuses = Vec::with_capacity(request.descriptors.len());
        for descriptor in &request.descriptors {
            let ctx = descriptor_context(
                descriptor
                    .entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.clone())),
            );
            let hits = hits(descriptor, request.hits_addend);
            statuses.push(self.check(&namespace, &ctx, hits).await?);
        }
        let over = statuses.iter().any(|s| s.code == Code::OverLimit as i32);
        Ok(Response::new(RateLimitResponse {
            overall_code: if over { Code::OverLimit } else { Code::Ok } as i32,
            statuses,
            ..Default::default()
        }))
    }
}

impl Rls {
    async fn check(
        &self,
        namespace: &Namespace,
        ctx: &Context<'_>,
        hits: u64,
    ) -> Result<DescriptorStatus, Status> {
        let unavailable = |e: limitador::errors::LimitadorError| {
            Status::unavailable(format!("rate-limit storage failed: {e}"))
        };
        let result = if hits == 0 {
            self.limiter.is_rate_limited(namespace, ctx, 0).await
        } else {
            self.limiter
                .check_rate_limited_and_update(namespace, ctx, hits)
                .await
        }
        .map_err(unavailable)?;
        let mut counters = result.counters;
        if result.limited && hits > 0 {
            // Count what limitador refused too (see the module comment).
            self.limiter
                .update_counters(namespace, ctx, hits)
                .await
                .map_err(unavailable)?;
            for counter in &mut counters {
                let remaining = counter.remaining().unwrap_or(0).saturating_sub(hits);
                counter.set_remaining(remaining);
            }
        }
        Ok(status(result.limited, tightest(&counters)))
    }
}

/// The counter with the least left: the one a client must respect.
pub(crate) fn tightest(counters: &[Counter]) -> Option<&Counter> {
    counters
        .iter()
        .min_by_key(|c| c.remaining().unwrap_or(c.max_value()))
}

fn status(limited: bool, counter: Option<&Counter>) -> DescriptorStatus {
    let code = if limited { Code::OverLimit } else { Code::Ok } as i32;
    let Some(counter) = counter else {
        return DescriptorStatus {
            code,
            ..Default::default()
        };
    };
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let reset = counter.expires_in().unwrap_or(counter.window());
    DescriptorStatus {
        code,
        current_limit: Some(RateLimit {
            name: counter.limit().name().unwrap_or_default().to_string(),
            requests_per_unit: clamp(counter.max_value()),
            unit: unit(counter.window()) as i32,
        }),
        limit_remaining: clamp(counter.remaining().unwrap_or(counter.max_value())),
        duration_until_reset: Some(protobuf::Duration {
            seconds: i64::try_from(reset.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(reset.subsec_nanos()).unwrap_or(0),
        }),
        ..Default::default()
    }
}

/// The RLS unit of a limitador window. RLS limits are "N per unit", so only
/// windows of exactly one unit have one; others are `UNKNOWN` (Envoy then
/// leaves the window out of `x-ratelimit-limit`).
fn unit(window: Duration) -> Unit {
    match window.as_secs() {
        1 => Unit::Second,
        60 => Unit::Minute,
        3600 => Unit::Hour,
        86_400 => Unit::Day,
        604_800 => Unit::Week,
        _ => Unit::Unknown,
    }
}
