//! The protocol's error codes: one byte on the wire, a stable name, and a sentence for people.
//!
//! A lock answers a refused request with one of these codes, either inside an encrypted
//! response (authenticated) or, when it cannot authenticate the request at all, in a cleartext
//! `Error` envelope (unauthenticated: a relay can forge those, so endpoints show them but never
//! base a security decision on them).

use std::fmt;

macro_rules! error_codes {
    ($($name:ident = $value:literal, $wire:literal, $text:literal;)*) => {
        /// A protocol error code (see `docs/PROTOCOL.md`, "Error codes").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum ErrorCode {
            $(
                #[doc = $text]
                $name = $value,
            )*
        }

        impl ErrorCode {
            /// Every defined code, in wire order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// Decodes a wire byte; `None` for values the protocol does not define.
            pub fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $($value => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }

            /// The stable snake_case name used in logs, JSON and the specification.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$name => $wire,)* }
            }

            /// What happened and what to do, for people.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$name => $text,)* }
            }
        }
    };
}

error_codes! {
    Malformed = 1, "malformed",
        "the lock could not parse the request; update the endpoint software";
    UnsupportedVersion = 2, "unsupported_version",
        "the lock does not speak this protocol version; update the lock or the endpoint";
    UnknownCommand = 3, "unknown_command",
        "the lock does not know this command; update the lock firmware";
    UnknownAuthorization = 4, "unknown_authorization",
        "the lock does not know this endpoint (revoked or factory reset); pair again";
    AuthenticationFailed = 5, "authentication_failed",
        "the lock could not authenticate the frame (corrupted or forged in transit); retry";
    Replayed = 6, "replayed",
        "the lock already saw this frame's counter; the frame was replayed or duplicated";
    Forbidden = 7, "forbidden",
        "this endpoint's role does not allow the command; ask an admin";
    NotYetValid = 8, "not_yet_valid",
        "this endpoint's access has not started yet; wait for its start time";
    Expired = 9, "expired",
        "this endpoint's access has expired; ask an admin for a new invite";
    RemoteNotAllowed = 10, "remote_not_allowed",
        "this endpoint may only use the lock directly, not through a gateway; ask an admin";
    ChallengeInvalid = 11, "challenge_invalid",
        "the lock challenge is unknown or already used; fetch a new one and retry";
    ChallengeExpired = 12, "challenge_expired",
        "the lock challenge expired before the command arrived; retry";
    MechanismBusy = 13, "mechanism_busy",
        "the lock is moving; wait a moment and retry";
    UnlatchNotSupported = 14, "unlatch_not_supported",
        "this lock has no latch to pull; use unlock";
    ClockNotSet = 15, "clock_not_set",
        "the lock's clock is not set, so time limits cannot be checked; an admin must set it";
    NotFound = 16, "not_found",
        "no authorization with that id on this lock; list them to check";
    LastAdmin = 17, "last_admin",
        "refusing to remove the last admin; invite another admin first";
    InvalidArgument = 18, "invalid_argument",
        "an argument is out of range (name length, role, validity window); check it";
    AuthorizationsFull = 19, "authorizations_full",
        "the lock holds the maximum number of authorizations; revoke one first";
    InvitesFull = 20, "invites_full",
        "the lock holds the maximum number of open invites; wait for one to expire or be used";
    NotInPairingMode = 21, "not_in_pairing_mode",
        "the lock is not in pairing mode: press its button, then retry within 2 minutes";
    TooManyAttempts = 22, "too_many_attempts",
        "too many failed pairing attempts: the pairing window closed; press the lock's button again";
    PairingBusy = 23, "pairing_busy",
        "the lock is busy with other pairing attempts; retry in a minute";
    InviteUnknown = 24, "invite_unknown",
        "the lock has no such invite (used, revoked or mistyped); ask an admin for a new one";
    InviteExpired = 25, "invite_expired",
        "the invite has expired; ask an admin for a new one";
    PairingFailed = 26, "pairing_failed",
        "pairing failed: the code is wrong or the exchange was tampered with; check the code";
    CounterExhausted = 27, "counter_exhausted",
        "this pairing has used up its message counters; pair again";
    PairingUnknown = 28, "pairing_unknown",
        "the lock has no pairing attempt with this id (it timed out); start pairing again";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_byte() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u8(code as u8), Some(code));
        }
        assert_eq!(ErrorCode::from_u8(0), None);
        assert_eq!(ErrorCode::from_u8(200), None);
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
