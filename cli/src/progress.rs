//! Progress of long work on stderr: a live line that rewrites itself when stderr is a terminal,
//! and nothing at all when it is not (a CI log, a pipe), so that output stays clean there.
//!
//! Two shapes: [`Counter`] for work that counts (files, bytes, units), redrawn at most every
//! [`REDRAW`]; and [`Ticker`] for one call that takes a while (a Lambda invoke, an in-process
//! scan), which shows the elapsed time until it is dropped.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a live line is redrawn at most.
pub const REDRAW: Duration = Duration::from_millis(200);

/// True when progress should be drawn: stderr is a terminal.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

fn draw(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}

fn clear() {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

/// A live count: call [`Counter::show`] as often as you like; it draws at most every
/// [`REDRAW`], and only on a terminal.
pub struct Counter {
    on: bool,
    last: Option<Instant>,
}

impl Counter {
    pub fn new() -> Self {
        Self {
            on: enabled(),
            last: None,
        }
    }

    /// Draws `line` (built only when it will be drawn).
    pub fn show(&mut self, line: impl FnOnce() -> String) {
        if !self.on {
            return;
        }
        if self.last.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last = Some(Instant::now());
        draw(&line());
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if self.on && self.last.is_some() {
            clear();
        }
    }
}

/// `label: 12s` on a terminal while it lives (a task redraws it); nothing otherwise.
pub struct Ticker {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Ticker {
    pub fn start(label: String) -> Self {
        if !enabled() {
            return Self { task: None };
        }
        let started = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                draw(&format!("{label}: {}s", started.elapsed().as_secs()));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { task: Some(task) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            clear();
        }
    }
}
