//! `cnb-artifacts conformance proxy` (hidden): a quirks proxy
//! ([`cnb_artifacts_conformance::provider::quirks`]) in front of a registry, run until `SIGTERM`
//! or Ctrl-C, for `ci/bench` and for measuring by hand, e.g. a publish over a 50 ms round trip
//! (`--quirks wan:50ms`). Prints `listening: HOST:PORT` when ready (point image references at
//! it), each request as `METHOD /path?query` on standard error with `--log-requests`, and
//! `requests: N` when stopped. Exit codes: 0 stopped by a signal, 5 the proxy could not start.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::conformance_cmd::{quirk_profile, runtime};
use super::exit;
use cnb_artifacts_conformance::interrupt::Interrupt;
use cnb_artifacts_conformance::provider::quirks::{start_quirks_proxy_on, ProxyOptions, QuirkProfile};

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// The registry to forward to, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    pub upstream: String,
    /// The quirk profile, e.g. wan:50ms or immutable-tags (as --registry-quirks of `run`).
    #[arg(long, value_name = "PROFILE", value_parser = quirk_profile)]
    pub quirks: QuirkProfile,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Print every request as it arrives, `METHOD /path?query`, on standard error.
    #[arg(long)]
    pub log_requests: bool,
}

/// How often `--log-requests` prints what arrived.
const LOG_EVERY: Duration = Duration::from_millis(50);

/// Runs the proxy until a signal; returns the exit code.
pub fn run(args: &ProxyArgs) -> u8 {
    match runtime() {
        Ok(rt) => rt.block_on(serve(args)),
        Err(code) => code,
    }
}

async fn serve(args: &ProxyArgs) -> u8 {
    let interrupt = match Interrupt::on_signals() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: cannot wait for signals: {e}");
            return exit::RUNNER;
        }
    };
    let options = ProxyOptions { bind: args.listen, ..ProxyOptions::default() };
    let proxy = match start_quirks_proxy_on(&args.upstream, args.quirks, options).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::RUNNER;
        }
    };
    println!("listening: {} (quirks {}, upstream {})", proxy.host(), proxy.profile(), args.upstream);
    let _ = std::io::stdout().flush();
    let mut logged = 0;
    loop {
        tokio::select! {
            _ = interrupt.tripped() => break,
            _ = tokio::time::sleep(LOG_EVERY), if args.log_requests => {
                let lines = proxy.request_log(logged);
                logged += lines.len();
                for line in lines {
                    eprintln!("{line}");
                }
            }
        }
    }
    if args.log_requests {
        for line in proxy.request_log(logged) {
            eprintln!("{line}");
        }
    }
    println!("requests: {}", proxy.requests());
    exit::OK
}
