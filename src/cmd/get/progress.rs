//! The progress display of `get` and `warm`: an indicatif bar (files, bytes, rate, ETA) on
//! a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress: a bar on a terminal, plain lines otherwise.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    pub(crate) started: Instant,
}

impl Progress {
    /// `command` names the command in the plain lines (`mastfs get`, `mastfs warm`).
    pub(crate) fn new(command: &str, total_bytes: u64, files: usize, fancy: bool) -> Progress {
        let bar = (fancy && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style = ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("0/{files} files"));
            bar
        });
        if bar.is_none() {
            eprintln!(
                "{command}: {files} file(s), {}",
                bytesize::ByteSize(total_bytes)
            );
        }
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    pub(crate) fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Takes back `bytes` counted for a file that is downloaded again.
    pub(super) fn rewind(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bar.position().saturating_sub(bytes));
        }
    }

    pub(crate) fn file_done(&self, done: usize, files: usize, line: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{done}/{files} files"));
                bar.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(&self, line: String) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}
