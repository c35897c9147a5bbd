//! Progress of multi-step actions (connecting, waiting for the gateway, exchanging keys, ...),
//! for people: the library reports steps through [`Progress`]; the CLI shows them on stderr,
//! rewriting one line on a terminal and printing plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// Receives the steps of an action, in order.
pub trait Progress {
    /// The action has reached `step` (a short phrase: "waiting for gateway gw1").
    fn step(&self, step: &str);
}

/// Ignores every step.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _: &str) {}
}

/// Shows steps on stderr: one rewritten line on a terminal, plain lines otherwise.
#[derive(Debug)]
pub struct Stderr {
    terminal: bool,
    shown: Mutex<bool>,
}

impl Stderr {
    /// Progress on stderr, in the style its kind (terminal or not) wants.
    pub fn new() -> Self {
        Stderr {
            terminal: std::io::stderr().is_terminal(),
            shown: Mutex::new(false),
        }
    }

    /// Clears the rewritten line (on a terminal) before a result is printed.
    pub fn finish(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if self.terminal && *shown {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
        *shown = false;
    }
}

impl Default for Stderr {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Stderr {
    fn step(&self, step: &str) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        match self.terminal {
            true => eprint!("\r\x1b[K{step}..."),
            false => eprintln!("lockctl: {step}..."),
        }
        let _ = std::io::stderr().flush();
        *shown = true;
    }
}
