//! The human report of a self-check: the reference's result, one line per mutant, one line per
//! case with the mutants that kill it, and a summary naming every blind spot.

use std::fmt::Write as _;
use std::time::Duration;

use super::{CheckStatus, Scope, SelfCheck};

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub(super) fn render(check: &SelfCheck) -> String {
    let mut out = String::new();
    let r = &check.reference;
    let total = r.passed + r.not_passed.len();
    let _ = writeln!(out, "reference: {} of {total} cases passed ({})", r.passed, seconds(r.duration));
    for (id, status) in &r.not_passed {
        let _ = writeln!(out, "  {:<8} {id}  (the reference implementation must pass every case)", status.label());
    }

    let scope = match check.scope {
        Scope::Matrix => "every selected case",
        Scope::Claimed => "the cases it claims",
    };
    let _ = writeln!(out, "\nmutants ({} run, each against {scope}; caught = every claimed case FAILed):", check.verdicts.len());
    let width = check.verdicts.iter().map(|v| v.mutant.len()).max().unwrap_or(0);
    for v in &check.verdicts {
        let state = if v.caught() { "caught" } else { "MISSED" };
        let _ = writeln!(
            out,
            "  {state:<7} {:<width$}  kills {:>2} (claims {:>2})  {:>7}  {}",
            v.mutant,
            v.failed.len(),
            v.claimed.len(),
            seconds(v.duration),
            v.description
        );
        if !v.missed.is_empty() {
            let _ = writeln!(out, "          claimed but did not FAIL: {}", v.missed.join(" "));
        }
        if !v.errors.is_empty() {
            let _ = writeln!(out, "          ERROR (no verdict): {}", v.errors.join(" "));
        }
    }

    let _ = writeln!(out, "\nmutation score per rule family (claimed mutant × case pairs that FAILed, by the rules the case cites):");
    let width = check.families.keys().map(String::len).max().unwrap_or(0);
    for (family, score) in &check.families {
        let percent = (score.killed * 100).checked_div(score.claimed).unwrap_or(100);
        let _ = writeln!(out, "  {family:<width$}  {}/{} ({percent}%)", score.killed, score.claimed);
    }

    let _ = writeln!(out, "\ncases and the mutants that kill them:");
    let width = check.kills.keys().map(String::len).max().unwrap_or(0);
    for (id, by) in &check.kills {
        let killers = if by.is_empty() { "NONE — a weak case: tighten it or add a mutant".to_string() } else { by.join(" ") };
        let _ = writeln!(out, "  {id:<width$}  {:>2}  {killers}", by.len());
    }

    let unkilled = check.unkilled();
    let missed: Vec<&str> = check.verdicts.iter().filter(|v| !v.caught()).map(|v| v.mutant.as_str()).collect();
    let fewest = check.kills.iter().map(|(id, by)| (by.len(), id)).min();
    let _ = writeln!(out);
    let cases = check.kills.len();
    if unkilled.is_empty() {
        let _ = write!(out, "{}: every case is killed by at least one mutant", cnb_artifacts_core::spelling::count(cases, "case", "cases"));
        if let Some((n, id)) = fewest {
            let _ = write!(out, " (fewest: {n}, {id})");
        }
        let _ = writeln!(out);
    } else {
        let _ = writeln!(
            out,
            "{}: {} killed by no mutant: {}",
            cnb_artifacts_core::spelling::count(cases, "case", "cases"),
            unkilled.len(),
            unkilled.join(" ")
        );
    }
    let caught = check.verdicts.len() - missed.len();
    let _ = writeln!(
        out,
        "{} mutants: {caught} caught{}",
        check.verdicts.len(),
        if missed.is_empty() { String::new() } else { format!(", MISSED: {}", missed.join(" ")) }
    );
    let verdict = match check.status() {
        CheckStatus::Proven => "the suite can fail: every case is killed, every mutant caught, the reference passes",
        CheckStatus::BlindSpots => "BLIND SPOTS: see above",
        CheckStatus::Broken => "BROKEN: a run ended in ERROR, nothing can be concluded",
    };
    let _ = writeln!(out, "self-check: {verdict} ({})", seconds(check.duration));
    out
}
