//! A spinner on a terminal; structured log lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use autosub_engine::{Progress, Target};
use indicatif::{ProgressBar, ProgressStyle};

/// Shows the current step of the pass.
pub struct TerminalProgress {
    bar: Option<ProgressBar>,
}

impl TerminalProgress {
    /// A spinner when stderr is a terminal, log lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for TerminalProgress {
    fn step(&self, target: &Target, step: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{target}: {step}")),
            None => tracing::info!(%target, step, "pass step"),
        }
    }
}
