//! The lock's own pairing window: opened by its button, closed by timeout, a second press,
//! a successful label pairing, or too many failed attempts.
//!
//! Attempts are charged when a `PairStart` arrives: each start lets its sender test one guess
//! (the reply holds the lock's known public key sealed under the PAKE key), so attempts that
//! are never confirmed count as failures. A successful label pairing closes the window.

use crate::error_code::ErrorCode;
use crate::lock::WindowClosed;

/// Failed label-code attempts allowed per window.
pub const MAX_FAILED_ATTEMPTS: u8 = 20;

/// The window's state.
#[derive(Debug, Clone, Default)]
pub struct PairingWindow {
    open_until: Option<u64>,
    charged: u8,
}

impl PairingWindow {
    /// Opens the window until `now + duration_ms`, with a fresh attempt budget.
    pub fn open(&mut self, now: u64, duration_ms: u64) -> u64 {
        let until = now.saturating_add(duration_ms);
        self.open_until = Some(until);
        self.charged = 0;
        until
    }

    /// Closes the window.
    pub fn close(&mut self) {
        self.open_until = None;
        self.charged = 0;
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: u64) -> bool {
        self.open_until.is_some_and(|until| now < until)
    }

    /// When the window closes by itself.
    pub fn deadline(&self) -> Option<u64> {
        self.open_until
    }

    /// Closes the window if its time is up; says so.
    pub fn expire(&mut self, now: u64) -> Option<WindowClosed> {
        match self.open_until {
            Some(until) if now >= until => {
                self.close();
                Some(WindowClosed::Timeout)
            }
            _ => None,
        }
    }

    /// Charges one attempt, or refuses if the window is closed or the budget is spent.
    pub fn charge(&mut self, now: u64) -> Result<(), ErrorCode> {
        if !self.is_open(now) {
            return Err(ErrorCode::NotInPairingMode);
        }
        if self.charged >= MAX_FAILED_ATTEMPTS {
            return Err(ErrorCode::TooManyAttempts);
        }
        self.charged += 1;
        Ok(())
    }

    /// After an attempt failed: closes the window if the budget is spent.
    pub fn after_failure(&mut self) -> Option<WindowClosed> {
        if self.open_until.is_some() && self.charged >= MAX_FAILED_ATTEMPTS {
            self.close();
            return Some(WindowClosed::TooManyAttempts);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_window_refuses_attempts() {
        let mut w = PairingWindow::default();
        assert_eq!(w.charge(0), Err(ErrorCode::NotInPairingMode));
        w.open(0, 1000);
        assert_eq!(w.charge(999), Ok(()));
        assert_eq!(w.charge(1000), Err(ErrorCode::NotInPairingMode));
    }

    #[test]
    fn the_twentieth_failure_closes_the_window() {
        let mut w = PairingWindow::default();
        w.open(0, 1000);
        for _ in 0..MAX_FAILED_ATTEMPTS {
            w.charge(1).unwrap();
        }
        assert_eq!(w.charge(1), Err(ErrorCode::TooManyAttempts));
        assert_eq!(w.after_failure(), Some(WindowClosed::TooManyAttempts));
        assert!(!w.is_open(1));
    }
}
