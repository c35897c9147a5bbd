//! lockgate: the gateway library behind the `lockgated` daemon and the `lockgate` admin CLI.
//!
//! The gateway is blind: it reads envelope headers (from `lockgate-wire`) and never holds an
//! end-to-end key. This package must never depend on `lockgate-e2e`; `tests/blindness.rs`
//! enforces that.

pub mod atomic;
pub mod backoff;
pub mod ble;
pub mod cli;
pub mod config;
pub mod control;
pub mod control_client;
pub mod control_server;
pub mod daemon;
pub mod downq;
pub mod health;
pub mod homeassistant;
pub mod logging;
pub mod manager;
pub mod mqtt;
pub mod notify;
pub mod pairing;
pub mod registry;
pub mod scheduler;
pub mod spool;
pub mod support;

/// The version of this build, as printed by `lockgated --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
