//! The fault injector: a proxy (`cnb_artifacts_conformance::provider::quirks::Proxy`) in front of the test
//! registry that breaks request number N in one way, once or for every request from N on, and
//! forwards everything else. It counts every request, so a clean run tells how many requests a
//! publish makes and a sweep can break each of them in turn.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnb_artifacts_conformance::provider::quirks::{Handler, Proxy, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};
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

/// What the injector counts and does, from the last [`FaultProxy::arm`] on.
#[derive(Debug, Default)]
struct Session {
    plan: Option<FaultPlan>,
    /// Requests received; the next one is number `count + 1`.
    count: u64,
    injected: u64,
    /// `METHOD target` of each request.
    log: Vec<String>,
}

struct Injector(Arc<Mutex<Session>>);

impl Injector {
    /// Counts and logs `request`; the plan when it breaks this one.
    fn admit(&self, request: &ProxyRequest) -> Option<(u64, FaultPlan)> {
        let mut session = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        session.count += 1;
        session.log.push(format!("{} {}", request.method, request.target));
        let number = session.count;
        let plan = session.plan.filter(|plan| plan.hits(number))?;
        session.injected += 1;
        Some((number, plan))
    }
}

impl Handler for Injector {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        let Some((number, plan)) = self.admit(&request) else {
            return Reply::Respond(upstream.forward(&request).await);
        };
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
                ProxyResponse::new(code, "text/plain", format!("injected fault: HTTP {code} for request {number}\n"))
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

/// A fault-injecting proxy in front of a test registry; dropping it stops it. It can be armed
/// again for another run: request numbers count from each [`FaultProxy::arm`].
pub struct FaultProxy {
    proxy: Proxy,
    session: Arc<Mutex<Session>>,
}

impl FaultProxy {
    /// A proxy in front of `registry`, armed with `plan` (none: it forwards everything).
    pub async fn start(registry: &Registry, plan: Option<FaultPlan>) -> FaultProxy {
        let session = Arc::new(Mutex::new(Session { plan, ..Session::default() }));
        let proxy = Proxy::start(&registry.url(), Injector(session.clone()), ProxyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("starting the fault proxy: {e}"));
        FaultProxy { proxy, session }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.proxy.host()
    }

    /// Starts a new run with `plan`: counts, log and injections start again from zero.
    pub fn arm(&self, plan: FaultPlan) {
        *self.session() = Session { plan: Some(plan), ..Session::default() };
    }

    /// From now on every request is forwarded unchanged (and still counted).
    pub fn disarm(&self) {
        self.session().plan = None;
    }

    /// Requests received since the last [`FaultProxy::arm`] (or the start).
    pub fn requests(&self) -> u64 {
        self.session().count
    }

    /// `METHOD target` of every request since the last arm, in order (request N is entry N-1).
    pub fn log(&self) -> Vec<String> {
        self.session().log.clone()
    }

    /// How many requests were broken since the last arm.
    pub fn injected(&self) -> u64 {
        self.session().injected
    }
}
