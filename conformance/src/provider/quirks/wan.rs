//! The `wan` quirk profile: a registry far away. Every request waits half a round trip before
//! it reaches the registry and its answer half a round trip before it reaches the client, so a
//! publish pays the latency a CI runner pays to a cloud registry; with a bandwidth, each body
//! also waits its size divided by the bandwidth (per request, not shared between connections).
//! No answer is changed: the publisher must behave exactly as without the profile, only slower.
//!
//! Specs, as `--registry-quirks` and `conformance proxy --quirks` take them: `wan` (50 ms round
//! trip), `wan:50ms`, `wan:rtt=50ms`, `wan:rtt=50ms,bw=10MiB` (bytes per second: a number with
//! an optional unit `B`, `KB`, `MB`, `GB`, `KiB`, `MiB`, `GiB`). Round trips are whole `ms` or `s`.
//! Unlike the other profiles it is not in [`super::QuirkProfile::ALL`]: the suite's sweep over the
//! standard profiles does not pay its delay; a run asks for it by name.

use std::fmt;
use std::time::Duration;

use super::proxy::{ProxyRequest, ProxyResponse, Upstream};

/// The round trip of a bare `wan`.
pub const DEFAULT_RTT: Duration = Duration::from_millis(50);

/// A simulated wide-area link: its round trip and, when set, its bandwidth in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wan {
    pub rtt: Duration,
    pub bandwidth: Option<u64>,
}

impl Default for Wan {
    fn default() -> Self {
        Wan { rtt: DEFAULT_RTT, bandwidth: None }
    }
}

/// Units of a bandwidth, largest first (so [`fmt::Display`] picks the largest exact one).
const UNITS: [(&str, u64); 7] =
    [("GiB", 1 << 30), ("GB", 1_000_000_000), ("MiB", 1 << 20), ("MB", 1_000_000), ("KiB", 1 << 10), ("KB", 1000), ("B", 1)];

impl Wan {
    /// Parses a spec (module doc); `None` when `spec` is not a `wan` spec at all, `Some(Err)`
    /// with the reason when it is one but malformed.
    pub fn parse(spec: &str) -> Option<Result<Wan, String>> {
        let rest = spec.strip_prefix("wan")?;
        if rest.is_empty() {
            return Some(Ok(Wan::default()));
        }
        let params = rest.strip_prefix(':')?;
        Some(Wan::parse_params(params))
    }

    fn parse_params(params: &str) -> Result<Wan, String> {
        let mut wan = Wan::default();
        if !params.contains('=') {
            wan.rtt = duration(params)?;
            return Ok(wan);
        }
        for param in params.split(',') {
            match param.split_once('=') {
                Some(("rtt", value)) => wan.rtt = duration(value)?,
                Some(("bw", value)) => wan.bandwidth = Some(bandwidth(value)?),
                _ => return Err(format!("`{param}` is not rtt=DURATION or bw=BYTES_PER_SECOND")),
            }
        }
        Ok(wan)
    }

    /// How long `bytes` take at the bandwidth (zero without one).
    fn transfer(&self, bytes: usize) -> Duration {
        match self.bandwidth {
            Some(bw) => Duration::from_secs_f64(bytes as f64 / bw as f64),
            None => Duration::ZERO,
        }
    }

    /// Forwards `request` to `upstream` across the simulated link: half the round trip (and the
    /// request body's transfer time) there, half (and the answer's) back.
    pub async fn forward(&self, request: &ProxyRequest, upstream: &Upstream) -> ProxyResponse {
        let half = self.rtt / 2;
        tokio::time::sleep(half + self.transfer(request.body.len())).await;
        let answer = upstream.forward(request).await;
        tokio::time::sleep(half + self.transfer(answer.body.len())).await;
        answer
    }
}

/// `50ms`, `1s`, `0ms`.
fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("round trip `{text}` is not a whole number of ms or s, e.g. 50ms");
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, ""), |at| text.split_at(at));
    let n: u64 = number.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => n.checked_mul(1000).map(Duration::from_millis).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// `10MiB`, `500KB`, `1000000` (bytes per second, more than zero).
fn bandwidth(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("bandwidth `{text}` is not a number of bytes per second with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 10MiB")
    };
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, "B"), |at| text.split_at(at));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let (_, scale) = UNITS.iter().find(|(name, _)| *name == unit).ok_or_else(bad)?;
    n.checked_mul(*scale).filter(|bw| *bw > 0).ok_or_else(bad)
}

impl fmt::Display for Wan {
    /// The canonical spec, which [`Wan::parse`] reads back: `wan:50ms`, `wan:rtt=50ms,bw=10MiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rtt = self.rtt.as_millis();
        match self.bandwidth {
            None => write!(f, "wan:{rtt}ms"),
            Some(bw) => {
                let (unit, scale) = UNITS.iter().find(|(_, scale)| bw % scale == 0).copied().unwrap_or(("B", 1));
                write!(f, "wan:rtt={rtt}ms,bw={}{unit}", bw / scale)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("wan", Wan::default(), "wan:50ms")]
    #[case("wan:20ms", Wan { rtt: Duration::from_millis(20), bandwidth: None }, "wan:20ms")]
    #[case("wan:1s", Wan { rtt: Duration::from_secs(1), bandwidth: None }, "wan:1000ms")]
    #[case("wan:rtt=0ms", Wan { rtt: Duration::ZERO, bandwidth: None }, "wan:0ms")]
    #[case("wan:rtt=50ms,bw=10MiB", Wan { rtt: DEFAULT_RTT, bandwidth: Some(10 << 20) }, "wan:rtt=50ms,bw=10MiB")]
    #[case("wan:bw=1500", Wan { rtt: DEFAULT_RTT, bandwidth: Some(1500) }, "wan:rtt=50ms,bw=1500B")]
    #[case("wan:bw=2MB,rtt=5ms", Wan { rtt: Duration::from_millis(5), bandwidth: Some(2_000_000) }, "wan:rtt=5ms,bw=2MB")]
    fn specs_parse_and_print_back(#[case] spec: &str, #[case] wan: Wan, #[case] canonical: &str) {
        assert_eq!(Wan::parse(spec), Some(Ok(wan)));
        assert_eq!(wan.to_string(), canonical);
        assert_eq!(Wan::parse(canonical), Some(Ok(wan)));
    }

    #[rstest]
    #[case("wan:50")]
    #[case("wan:fast")]
    #[case("wan:rtt=5m")]
    #[case("wan:bw=0")]
    #[case("wan:bw=10Mbit")]
    #[case("wan:latency=5ms")]
    #[case("wan:")]
    fn malformed_specs_say_why(#[case] spec: &str) {
        let err = Wan::parse(spec).unwrap().unwrap_err();
        assert!(err.contains('`'), "{err}");
    }

    #[test]
    fn other_names_are_not_wan_specs() {
        assert_eq!(Wan::parse("immutable-tags"), None);
        assert_eq!(Wan::parse("wanted"), None);
    }

    #[test]
    fn bodies_take_their_size_over_the_bandwidth() {
        let wan = Wan { rtt: Duration::ZERO, bandwidth: Some(1000) };
        assert_eq!(wan.transfer(500), Duration::from_millis(500));
        assert_eq!(Wan::default().transfer(1 << 30), Duration::ZERO);
    }
}
