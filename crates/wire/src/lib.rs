//! lockgate-wire: everything two lockgate parties must agree on byte for byte, and nothing
//! secret.
//!
//! * [`gatt`]: the GATT service and characteristic UUIDs.
//! * [`lock_id`]: [`LockId`], the 8-byte lock identity and its hex form.
//! * [`adv`]: the 12-byte manufacturer data a lock advertises.
//! * [`frag`]: fragmentation of frames into ATT payloads and their reassembly.
//! * [`envelope`]: the 14-byte cleartext frame header the gateway may read.
//! * [`topics`]: MQTT topic names, filters and their parser.
//!
//! The crate holds no keys and does no cryptography; the gateway, the endpoints and the
//! simulated lock all use it. Its pure parts never panic on any input and never read a clock.
//! `docs/PROTOCOL.md` specifies the same formats for other implementations.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adv;
pub mod envelope;
pub mod frag;
pub mod gatt;
pub mod lock_id;
pub mod topics;

pub use adv::{AdvError, AdvFlags, Advertisement, COMPANY_ID};
pub use envelope::{build_frame, EnvelopeError, Header, Kind, HEADER_LEN};
pub use frag::{
    fragments, FragmentError, Fragments, Reassembler, ReassemblyError, ReassemblyStats, MAX_FRAME,
};
pub use gatt::{RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID};
pub use lock_id::{LockId, LockIdError};
pub use topics::{LockTopics, Topic, TopicError, Topics};
