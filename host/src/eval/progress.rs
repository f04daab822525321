//! Progress on stderr: a redrawn bar when stderr is a terminal, otherwise the
//! seed's line per finished sample (`  [  3/20] HumanEval/2 — PASS | ...`).

use std::io::{IsTerminal, Write};
use std::time::Instant;

use parking_lot::Mutex;

use super::SampleResult;

pub struct Progress {
    enabled: bool,
    tty: bool,
    total: usize,
    started: Instant,
    state: Mutex<(usize, usize)>,
}

impl Progress {
    pub fn new(total: usize, enabled: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let p = Self {
            enabled,
            tty,
            total,
            started: Instant::now(),
            state: Mutex::new((0, 0)),
        };
        if enabled && tty {
            p.draw(0, 0);
        }
        p
    }

    /// One sample finished.
    pub fn record(&self, r: &SampleResult) {
        if !self.enabled {
            return;
        }
        let mut state = self.state.lock();
        state.0 += 1;
        state.1 += usize::from(r.passed);
        if self.tty {
            self.draw(state.0, state.1);
        } else {
            let latency = r
                .latency_seconds
                .map(|l| format!("{l:.4}"))
                .unwrap_or_else(|| "None".into());
            let error = r.error_class.as_str();
            let _ = writeln!(
                std::io::stderr(),
                "  [{:>3}/{}] {} — {} | latency={latency}s | error={}",
                state.0,
                self.total,
                r.task_id,
                if r.passed { "PASS" } else { "FAIL" },
                if r.passed { "None" } else { error }
            );
        }
    }

    fn draw(&self, done: usize, passed: usize) {
        const WIDTH: usize = 30;
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K[{}{}] {done}/{} passed {passed} | {:.0}s",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.enabled && self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}
