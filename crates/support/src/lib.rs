//! lockgate-support: remote support of a gateway with one-time codes.
//!
//! The owner starts a code on the gateway (`lockgate support start`) and reads it to support
//! staff, whose client (`lockctl support`) runs SPAKE2 with the gateway over MQTT. The code
//! never crosses the wire, and a recorded exchange allows no offline guessing. Both sides
//! confirm the key; then every record is encrypted and authenticated, per direction, with
//! counters that refuse replays and reordering. A session is read-mostly, time-limited and
//! can be ended by either side; some commands exist only to be refused.
//!
//! * [`code`]: the one-time codes (and the trivial-code rules shared with pairing codes);
//! * [`pake`]: SPAKE2 identities, the transcript and the key schedule;
//! * [`message`]: the binary messages; [`channel`]: the encrypted records;
//! * [`command`]: requests and the gateway's notices (JSON inside records);
//! * [`limiter`]: the persistent throttle on attempts;
//! * [`gateway`] and [`client`]: the two sides as state machines; [`topics`]: MQTT topics.
//!
//! Everything here is pure: no I/O, no clock (callers pass Unix milliseconds), randomness
//! injected. The specification, with test vectors, is `docs/SUPPORT.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channel;
pub mod client;
pub mod code;
pub mod command;
pub mod gateway;
pub mod limiter;
pub mod message;
pub mod pake;
pub mod topics;

#[cfg(test)]
mod vectors;

pub use client::{ClientError, ClientEvent, SupportClient};
pub use code::{CodeError, SupportCode};
pub use command::{CloseReason, Forbidden, Notice, Request, Response, Status};
pub use gateway::{Event, GatewaySupport, Outgoing, Output, Ticket};
pub use limiter::{Limiter, LimiterState};
pub use message::{Message, Reason, SessionId};
pub use topics::SupportTopics;
