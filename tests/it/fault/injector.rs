//! The fault injector: a proxy (`cnb_artifacts::registry::quirks::Proxy`) in front of the test
//! registry that breaks request number N in one way, once or for every request from N on, and
//! forwards everything else. It counts every request, so a clean run tells how many requests a
//! publish makes and a sweep can break each of them in turn.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnb_artifacts::registry::quirks::{Handler, Proxy, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};
use serde_json::json;

use crate::support::Registry;

/// How a request is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is reset before the request reaches the registry.
    Reset,
    /// The registry processes the request, then the connection is reset: the answer is lost.
    LostResponse,
    /// The proxy answers this status itself (with `Retry-After: 0`; a 429 carries the OCI
    /// `TOOMANYREQUESTS` error body).
    Status(u16),
    /// The registry's answer is cut off halfway through its body.
    Truncate,
    /// The answer is held back this long, then sent.
    Stall(Duration),
}

/// Which requests a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Only request N.
    Once,
    /// Request N and every later one.
    From,
}

/// One fault plan: `fault` at request `at` (1-based), on `schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    pub fault: Fault,
    pub schedule: Schedule,
    pub at: u64,
}

impl FaultPlan {
    /// A short name for namespaces and messages, e.g. `status500-from-12`.
    pub fn slug(&self) -> String {
        let fault = match self.fault {
            Fault::Reset => "reset".to_string(),
            Fault::LostResponse => "lost".to_string(),
            Fault::Status(code) => format!("status{code}"),
            Fault::Truncate => "truncate".to_string(),
            Fault::Stall(d) => format!("stall{}ms", d.as_millis()),
        };
        let schedule = match self.schedule {
            Schedule::Once => "once",
            Schedule::From => "from",
        };
        format!("{fault}-{schedule}-{}", self.at)
    }

    fn hits(&self, number: u64) -> bool {
        match self.schedule {
            Schedule::Once => number == self.at,
            Schedule::From => number >= self.at,
        }
    }
}

struct Injector {
    plan: Option<FaultPlan>,
    armed: Arc<AtomicBool>,
    injected: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Handler for Injector {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("{} {}", request.method, request.target));
        }
        let plan = match self.plan {
            Some(plan) if self.armed.load(Ordering::SeqCst) && plan.hits(request.number) => plan,
            _ => return Reply::Respond(upstream.forward(&request).await),
        };
        self.injected.fetch_add(1, Ordering::SeqCst);
        match plan.fault {
            Fault::Reset => Reply::Reset,
            Fault::LostResponse => {
                upstream.forward(&request).await;
                Reply::Reset
            }
            Fault::Status(429) => Reply::Respond(
                ProxyResponse::oci_error(429, "TOOMANYREQUESTS", "too many requests", json!(null)).with_header("Retry-After", "0"),
            ),
            Fault::Status(code) => Reply::Respond(
                ProxyResponse::new(code, "text/plain", format!("injected fault: HTTP {code} for request {}\n", request.number))
                    .with_header("Retry-After", "0"),
            ),
            Fault::Truncate => Reply::Truncate(upstream.forward(&request).await),
            Fault::Stall(pause) => {
                tokio::time::sleep(pause).await;
                Reply::Respond(upstream.forward(&request).await)
            }
        }
    }
}

/// A fault-injecting proxy in front of a test registry; dropping it stops it.
pub struct FaultProxy {
    proxy: Proxy,
    armed: Arc<AtomicBool>,
    injected: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// A proxy in front of `registry` that applies `plan` (none: forwards everything).
    pub async fn start(registry: &Registry, plan: Option<FaultPlan>) -> FaultProxy {
        let armed = Arc::new(AtomicBool::new(true));
        let injected = Arc::new(AtomicU64::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let injector = Injector { plan, armed: armed.clone(), injected: injected.clone(), log: log.clone() };
        let proxy = Proxy::start(&registry.url(), injector, ProxyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("starting the fault proxy: {e}"));
        FaultProxy { proxy, armed, injected, log }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.proxy.host()
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.proxy.requests()
    }

    /// `METHOD target` of every request so far, in arrival order (request N is entry N-1).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// How many requests were broken so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// From now on every request is forwarded unchanged.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }
}
