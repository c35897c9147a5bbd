//! What to tell a person when a lock refuses: every protocol [`ErrorCode`] mapped to a
//! sentence that says what happened and what to do, worded for the step that was refused
//! (pairing with a label code, pairing with an invite, or a command in a session).
//!
//! The match below has no wildcard arm: a code added to the protocol does not compile here
//! until it has its sentence.

use lockgate_e2e::ErrorCode;

/// What the endpoint was doing when the lock refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Pairing with the lock's label code.
    LabelPairing,
    /// Joining with an invite code.
    InvitePairing,
    /// A command in a paired session.
    Session,
}

/// The sentence for `code` refused at `stage`.
pub fn advice(code: ErrorCode, stage: Stage) -> &'static str {
    use ErrorCode as E;
    use Stage::{InvitePairing, LabelPairing};
    match code {
        E::Malformed => "the lock could not parse the request: update lockctl or the lock's firmware so that both speak the same protocol",
        E::UnsupportedVersion => "the lock speaks another protocol version: update lockctl or the lock's firmware",
        E::UnknownCommand => "the lock does not know this command: update the lock's firmware",
        E::UnknownAuthorization => "the lock does not know this endpoint: it was revoked, or the lock was factory reset; ask an admin for a new invite (`lockctl join`) or pair again with the label code",
        E::AuthenticationFailed => "the lock could not authenticate the request (damaged or forged on the way, or this endpoint was paired again from a copy of its key store): retry, and pair again if it persists",
        E::Replayed => "the lock had already seen this request's counter (a relay replayed it, or the key store was restored from an old copy): retry, and pair again if it persists",
        E::Forbidden => "this endpoint's role does not allow that: ask an admin of the lock",
        E::NotYetValid => "this endpoint's access has not started yet: wait until its start time",
        E::Expired => "this endpoint's access has expired: ask an admin for a new invite",
        E::RemoteNotAllowed => "this endpoint may not use the lock through a gateway: ask an admin for an invite that allows remote use",
        E::ChallengeInvalid => "the lock did not accept the command's challenge (unknown or already used): retry",
        E::ChallengeExpired => "the command reached the lock after its challenge had expired (30 s): retry; if it keeps happening, the gateway or its link to the lock is too slow",
        E::MechanismBusy => "the lock is moving: wait a moment, then retry",
        E::UnlatchNotSupported => "this lock has no latch to pull: use `lockctl unlock`",
        E::ClockNotSet => "the lock's clock is not set, so time limits cannot be checked: an admin must set it with `lockctl set-time`",
        E::NotFound => "the lock has no user with that id: `lockctl users list` shows them",
        E::LastAdmin => "refused: the lock would be left without an admin; invite another admin first (`lockctl users invite --role admin`)",
        E::InvalidArgument => "the lock refused a value as out of range (an invite lifetime over 30 days, or a weak key): check the values",
        E::AuthorizationsFull => "the lock holds 32 users already: revoke one first (`lockctl users revoke`)",
        E::InvitesFull => "the lock holds 8 open invites already: wait until one is used or expires",
        E::NotInPairingMode => "the lock is not in pairing mode: press its button, then retry within 2 minutes",
        E::TooManyAttempts => match stage {
            InvitePairing => "too many wrong tries with this invite: the lock deleted it; ask the admin for a new invite",
            _ => "too many failed attempts: the lock closed its pairing window; check the label code, press the lock's button again, and retry",
        },
        E::PairingBusy => "the lock is busy with other pairing attempts: retry in a minute",
        E::InviteUnknown => "the lock has no such invite (already used, deleted or mistyped): check the code, or ask the admin for a new invite",
        E::InviteExpired => "the invite has expired: ask the admin for a new one",
        E::PairingFailed => match stage {
            LabelPairing => "pairing failed: the label code is wrong or the exchange was tampered with; check the code, press the lock's button again, and retry",
            _ => "pairing failed: the code is wrong or the exchange was tampered with; check the code and retry",
        },
        E::CounterExhausted => "this pairing has used up its message counters: pair again",
        E::PairingUnknown => "the lock no longer knows this pairing attempt (it took longer than 30 s, or its window closed): start again",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const STAGES: [Stage; 3] = [Stage::LabelPairing, Stage::InvitePairing, Stage::Session];

    #[test]
    fn every_code_has_a_sentence_that_says_what_to_do() {
        for &code in ErrorCode::ALL {
            for stage in STAGES {
                let text = advice(code, stage);
                assert!(text.contains(':') || text.contains(';'), "{code:?}: {text}");
                assert!(!text.ends_with('.'), "{code:?}: {text}");
                assert!(text.len() > 30, "{code:?}: {text}");
            }
        }
    }

    #[test]
    fn no_two_codes_share_a_sentence() {
        let texts: BTreeSet<&str> = ErrorCode::ALL
            .iter()
            .map(|&c| advice(c, Stage::Session))
            .collect();
        assert_eq!(texts.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn pairing_refusals_are_worded_for_their_code() {
        let label = advice(ErrorCode::TooManyAttempts, Stage::LabelPairing);
        assert!(label.contains("button"), "{label}");
        let invite = advice(ErrorCode::TooManyAttempts, Stage::InvitePairing);
        assert!(invite.contains("new invite"), "{invite}");
        let window = advice(ErrorCode::NotInPairingMode, Stage::LabelPairing);
        assert!(window.contains("press its button"), "{window}");
    }
}
