//! lockgate-e2e: the end-to-end protocol between endpoints and locks.
//!
//! Pairing (SPAKE2 keyed by a label or invite code, then both static keys exchanged under the
//! PAKE key and confirmed), sessions (crypto_box with counter-derived nonces and an RFC 6479
//! replay window), the command codec, the reference lock state machine and the endpoint
//! session. Everything here is pure: callers move bytes and pass the time in.
//!
//! Used by endpoints and the simulated lock only. The gateway package `lockgate` must never
//! depend on this crate: the gateway is blind.
//!
//! The wire format is specified in `docs/PROTOCOL.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod command;
pub mod endpoint;
pub mod error_code;
pub mod event;
pub mod keys;
pub mod lock;
pub mod pairing;
pub mod replay;
pub mod session;
pub mod setup_code;

#[cfg(test)]
mod vectors;

pub use command::{Action, Grant, MechanismState, Request, Response, ResponseBody, Role};
pub use endpoint::{EndpointPairing, EndpointSession, Incoming, PairedLock, PairingStep};
pub use error_code::ErrorCode;
pub use event::{Event, EventCause};
pub use keys::{PublicKey, StaticSecret};
pub use lock::{LockConfig, LockIdentity, LockMachine, Output, Via};
pub use session::ChannelState;
pub use setup_code::{InviteCode, LabelCode, SetupCode};
