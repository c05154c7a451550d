//! The fault injector: a proxy (`cnb_artifacts_conformance::provider::quirks::Proxy`) in front of the test
//! registry that breaks request number N in one way, once or for every request from N on, and
//! forwards everything else; or, since a publish sends its requests concurrently and their
//! order varies, the request with a given key ([`request_key`]) whenever it arrives. It counts every request, so a clean run tells how many requests a
//! publish makes and a sweep can break each of them in turn.

use std::collections::HashMap;
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

/// Which request a request is, whatever the order requests arrive in (a publish sends its
/// requests concurrently): its method and path without the namespace (the first component after
/// `/v2/`) or upload session id, the `digest` and `mount` of its query, and `#N` for the Nth
/// such request. E.g. `PUT /v2/app/blobs/uploads?digest=sha256:…#1`.
pub fn request_key(method: &str, target: &str, seen: &mut HashMap<String, u64>) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 3 && parts[1] == "v2" {
        parts.remove(2);
    }
    if let Some(at) = parts.iter().position(|p| *p == "uploads") {
        parts.truncate(at + 1);
    }
    let kept: Vec<&str> = query.split('&').filter(|p| p.starts_with("digest=") || p.starts_with("mount=")).collect();
    let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
    let key = format!("{method} {}{query}", parts.join("/"));
    let n = seen.entry(key.clone()).or_default();
    *n += 1;
    format!("{key}#{n}")
}

/// What the injector counts and does, from the last [`FaultProxy::arm_at`] on.
#[derive(Debug, Default)]
struct Session {
    plan: Option<FaultPlan>,
    /// With a key (arming), the plan breaks the request of that key (and, from
    /// it on, every request that arrives after it) instead of request number `plan.at`.
    key: Option<String>,
    /// The keyed request arrived (for [`Schedule::From`]).
    triggered: bool,
    /// Requests received; the next one is number `count + 1`.
    count: u64,
    injected: u64,
    /// `METHOD target` of each request.
    log: Vec<String>,
    /// [`request_key`] of each request, and how many of each key were seen.
    keys: Vec<String>,
    seen: HashMap<String, u64>,
}

struct Injector(Arc<Mutex<Session>>);

impl Injector {
    /// Counts and logs `request`; the plan when it breaks this one.
    fn admit(&self, request: &ProxyRequest) -> Option<(u64, FaultPlan)> {
        let mut session = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        session.count += 1;
        session.log.push(format!("{} {}", request.method, request.target));
        let key = request_key(request.method.as_str(), &request.target, &mut session.seen);
        session.keys.push(key.clone());
        let number = session.count;
        let plan = session.plan?;
        let hit = match &session.key {
            None => plan.hits(number),
            Some(wanted) => {
                let this = *wanted == key;
                session.triggered |= this && plan.schedule == Schedule::From;
                this || session.triggered
            }
        };
        if !hit {
            return None;
        }
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
/// again for another run: request numbers count from each [`FaultProxy::arm_at`].
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

    /// Starts a new run with `plan`, breaking the request whose [`request_key`] is `key` (and,
    /// with [`Schedule::From`], every request that arrives after it) whenever it arrives:
    /// counts, log and injections start again from zero.
    pub fn arm_at(&self, plan: FaultPlan, key: &str) {
        *self.session() = Session { plan: Some(plan), key: Some(key.to_string()), ..Session::default() };
    }

    /// [`request_key`] of every request since the last arm, in arrival order.
    pub fn keys(&self) -> Vec<String> {
        self.session().keys.clone()
    }

    /// From now on every request is forwarded unchanged (and still counted).
    pub fn disarm(&self) {
        self.session().plan = None;
    }

    /// Requests received since the last [`FaultProxy::arm_at`] (or the start).
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

#[test]
fn request_keys_leave_out_the_namespace_and_the_upload_session() {
    let mut seen = HashMap::new();
    let d = format!("sha256:{}", "a".repeat(64));
    let put = format!("/v2/reset-from-3/modules/blobs/uploads/5f1c?_state=xyz&digest={d}");
    assert_eq!(request_key("PUT", &put, &mut seen), format!("PUT /v2/modules/blobs/uploads?digest={d}#1"));
    let mount = format!("/v2/clean/modules/blobs/uploads/?mount={d}&from=clean/app");
    assert_eq!(request_key("POST", &mount, &mut seen), format!("POST /v2/modules/blobs/uploads?mount={d}#1"));
    assert_eq!(request_key("GET", "/v2/ns/app/manifests/1.0-wasm", &mut seen), "GET /v2/app/manifests/1.0-wasm#1");
    assert_eq!(request_key("GET", "/v2/other/app/manifests/1.0-wasm", &mut seen), "GET /v2/app/manifests/1.0-wasm#2");
    assert_eq!(request_key("GET", "/v2/", &mut seen), "GET /v2/#1");
}
