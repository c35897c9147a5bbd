//! lockctl: a lockgate endpoint. It holds its own static key, pairs with locks through a
//! blind gateway (SPAKE2 keyed by the lock's label code or an admin's invite), and then
//! talks to them end to end over MQTT: status, lock, unlock, unlatch, users and invites.
//!
//! The library is what the `lockctl` binary runs, for other endpoints to reuse:
//!
//! * [`config`]: settings (`lockctl.toml`, flags, environment) and the config directory.
//! * [`store`]: the key store: this endpoint's key and one record per paired lock.
//! * [`broker`]: the MQTT connection (rustls with the ring provider, or plain on purpose).
//! * [`relay`]: one lock through one gateway, with the gateway's state and receipts watched.
//! * [`pairing`]: pairing with a label code or an invite; [`client`]: the paired session.
//! * [`error`], [`advice`]: every failure said in words, with a stable name and exit code.
//! * [`report`]: what commands print; [`progress`]: the steps of long actions.
//! * [`support`]: remote support of a gateway with the one-time code its owner reads out.
//! * [`cli`]: the command line itself.
//!
//! Keys are never logged or printed. `docs/LOCKCTL.md` describes the command line.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod advice;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod ha;
pub mod pairing;
pub mod progress;
pub mod relay;
pub mod report;
pub mod store;
pub mod support;

pub use client::LockClient;
pub use config::Settings;
pub use error::Error;
pub use pairing::{pair, PairRequest};
pub use store::{KeyStore, LockRecord};

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    unix_now_ms() / 1000
}

/// Now, in Unix milliseconds.
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
