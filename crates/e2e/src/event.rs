//! State events: what a lock sends, unasked, to the endpoints subscribed to it
//! (`docs/PROTOCOL.md`, "Events"). An event travels in a session frame like a response, under
//! the subscriber's own key and counters; only its first byte tells them apart.

use crate::codec::{DecodeError, Reader};
use crate::command::{byte_enum, read_status, write_status, LockStatus};

/// First byte of an event's plaintext (responses have [`crate::command::RESPONSE_FLAG`] set,
/// requests are below `0x40`).
pub const EVENT_TAG: u8 = 0x40;
/// Most events a lock queues per subscriber while no gateway collects them; older ones are
/// dropped (the sequence number shows the gap).
pub const MAX_QUEUED_EVENTS: usize = 8;

byte_enum! {
    /// What changed the lock's state.
    EventCause {
        /// Someone turned the knob or the key by hand.
        Manual = 1,
        /// An endpoint's command (any endpoint, this one included).
        Remote = 2,
        /// The lock locked itself after being unlocked for its auto-lock time.
        AutoLock = 3,
        /// The door was opened or closed.
        Door = 4,
        /// The battery level changed.
        Battery = 5,
    }
}

/// One state event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Per subscriber, counts every event the lock generated for it, sent or dropped: a gap
    /// means events were lost, and the endpoint should read the status.
    pub seq: u32,
    /// What happened.
    pub cause: EventCause,
    /// The lock's status right after it happened.
    pub status: LockStatus,
}

impl Event {
    /// Encodes the event (the plaintext of its session frame).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![EVENT_TAG];
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.push(self.cause as u8);
        write_status(&self.status, &mut out);
        out
    }

    /// Decodes an event; anything but a well-formed event is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let tag = r.u8("tag")?;
        if tag != EVENT_TAG {
            return Err(DecodeError::InvalidValue {
                field: "tag",
                value: u64::from(tag),
            });
        }
        let seq = r.u32("seq")?;
        let cause = EventCause::read(&mut r, "cause")?;
        let status = read_status(&mut r)?;
        r.finish()?;
        Ok(Event { seq, cause, status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{DoorState, MechanismState};

    fn event() -> Event {
        Event {
            seq: 7,
            cause: EventCause::Manual,
            status: LockStatus {
                state: MechanismState::Unlocked,
                door: DoorState::Closed,
                battery_percent: 80,
                pairing_window_open: false,
                clock_set: true,
                unlatch_supported: true,
                time_ms: 1_700_000_000_000,
                firmware: "fw".into(),
            },
        }
    }

    #[test]
    fn events_round_trip() {
        let e = event();
        let bytes = e.encode();
        assert_eq!(bytes[0], EVENT_TAG);
        assert_eq!(Event::decode(&bytes), Ok(e));
    }

    #[test]
    fn bad_events_are_errors_not_panics() {
        let good = event().encode();
        for n in 0..good.len() {
            assert!(Event::decode(&good[..n]).is_err(), "truncated at {n}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Event::decode(&trailing).is_err());
        let mut cause = good.clone();
        cause[5] = 9;
        assert!(Event::decode(&cause).is_err());
        let mut tag = good;
        tag[0] = 0x41;
        assert!(Event::decode(&tag).is_err());
    }
}
