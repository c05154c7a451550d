//! The terminal while a run goes ([`Terminal`]): the header as soon as the registry is up, each
//! case's line as it ends, in case order, with a running count (`[12/128]`), on a terminal a
//! progress line naming the cases still running, and at the end the rest of the report
//! ([`human::rest`]) and, under GitHub Actions, an annotation per failure ([`super::github`]).
//! [`Terminal::run`] also stops the run at Ctrl-C or SIGTERM: the results so far come back,
//! unfinished cases NOT RUN, for the caller to write.
//!
//! Colour and the progress line are for people: only on a terminal, and never with `NO_COLOR`
//! set or `TERM=dumb`. Otherwise nothing printed holds an escape sequence.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::github;
use super::human::{self, Style};
use crate::interrupt::Interrupt;
use crate::outcome::{CaseResult, RunResults};
use crate::progress::{Header, Progress};
use crate::runner::{self, RunError, RunOptions};
use crate::selection::Selected;
use crate::SuiteDir;

/// Prints a run as it goes.
pub struct Terminal {
    style: Style,
    github: bool,
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    width: usize,
    running: BTreeSet<String>,
}

/// Whether people are watching `stream`: a terminal, `NO_COLOR` unset (or empty) and `TERM`
/// not `dumb`.
fn decorated(stream_is_terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    stream_is_terminal && !no_color && !dumb
}

impl Terminal {
    /// Colour when standard output is a terminal, a progress line when standard error is one,
    /// annotations when `GITHUB_ACTIONS=true`.
    pub fn detect() -> Terminal {
        let bar = decorated(std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("[{pos}/{len}] {elapsed} running: {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Terminal::new(Style { colour: decorated(std::io::stdout().is_terminal()) }, github::enabled(), bar)
    }

    fn new(style: Style, github: bool, bar: Option<ProgressBar>) -> Terminal {
        Terminal { style, github, bar, state: Mutex::new(State::default()) }
    }

    /// Runs `selected`, printing as it goes; stops at the first SIGINT or SIGTERM.
    pub async fn run(&self, suite: &SuiteDir, selected: Vec<Selected>, opts: &RunOptions) -> Result<RunResults, RunError> {
        let interrupt = Interrupt::on_signals().unwrap_or_else(|e| {
            eprintln!("warning: cannot watch for Ctrl-C and SIGTERM ({e}); an interrupted run writes no results");
            Interrupt::new()
        });
        let results = runner::run_watched(suite, selected, opts, self, &interrupt).await;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let (Some(signal), Ok(_)) = (interrupt.reason(), &results) {
            let registry = if opts.keep { "kept (--keep)" } else { "removed" };
            eprintln!(
                "interrupted ({signal}): the running implementations were killed, the registry {registry}; the results so far follow"
            );
        }
        results
    }

    /// The rest of the report after the case lines, with annotations under GitHub Actions.
    pub fn rest(&self, results: &RunResults) -> String {
        let mut out = human::rest(results, self.style);
        if self.github {
            out.push_str(&github::annotations(results));
        }
        out
    }

    fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print!("{text}")),
            None => print!("{text}"),
        }
    }

    fn running(&self, change: impl FnOnce(&mut BTreeSet<String>)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut state.running);
        if let Some(bar) = &self.bar {
            bar.set_message(state.running.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }
}

impl Progress for Terminal {
    fn header(&self, header: &Header<'_>) {
        let width = header.cases.iter().map(|id| id.len()).max().unwrap_or(0);
        self.state.lock().unwrap_or_else(|p| p.into_inner()).width = width;
        if let Some(bar) = &self.bar {
            bar.set_length(header.cases.len() as u64);
        }
        self.print(&format!("{}\n", human::header(header.provenance, header.proxy_host)));
    }

    fn started(&self, id: &str) {
        self.running(|r| {
            r.insert(id.to_string());
        });
    }

    fn ended(&self, id: &str) {
        self.running(|r| {
            r.remove(id);
        });
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn finished(&self, position: usize, total: usize, result: &CaseResult) {
        let width = self.state.lock().unwrap_or_else(|p| p.into_inner()).width;
        self.print(&format!("{}\n", counted_line(position, total, result, width, self.style)));
    }
}

/// `[ 3/12] PASS     id  rules  title`: the count padded to the width of the total.
pub fn counted_line(position: usize, total: usize, result: &CaseResult, width: usize, style: Style) -> String {
    let digits = total.to_string().len();
    format!("[{position:>digits$}/{total}] {}", human::case_line(result, width, style))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    fn result(status: Status) -> CaseResult {
        CaseResult::new(&crate::case::for_tests("rfc-example", &["R-TAG-1"], "t\u{1b}[2J"), status)
    }

    #[test]
    fn a_case_line_counts_and_colours_only_when_asked() {
        let plain = counted_line(3, 128, &result(Status::Fail), 11, Style { colour: false });
        assert!(plain.starts_with("[  3/128] FAIL     rfc-example  R-TAG-1  t"), "{plain}");
        assert!(!plain.contains('\x1b'), "no escape sequence at all, not even the title's: {plain:?}");
        let coloured = counted_line(3, 128, &result(Status::Pass), 11, Style { colour: true });
        assert!(coloured.starts_with("[  3/128] \x1b[32mPASS    \x1b[0m rfc-example"), "{coloured:?}");
        assert_eq!(coloured.matches('\x1b').count(), 2, "only the status word is painted: {coloured:?}");
    }
}
