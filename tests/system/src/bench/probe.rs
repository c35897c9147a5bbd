//! Probe frames, which need no pairing: a session frame under an authorization id that no
//! lock has granted. The reference lock (`lockgate-e2e`) refuses it at once with a cleartext
//! `Error` frame (`unknown_authorization`) carrying the same auth id and counter, before any
//! cryptography, so every exchange costs the lock the same small work. The gateway relays
//! both like any other frame: it reads only the 14-byte header.

use lockgate_wire::envelope::HEADER_LEN;
use lockgate_wire::{build_frame, Header, Kind};

/// The authorization id of every probe (valid for a session frame, granted by no lock).
pub const PROBE_AUTH: u32 = 0x7fff_0001;

/// Length of a lock's answer to a probe: header and a one-byte error code.
pub const ANSWER_LEN: usize = HEADER_LEN + 1;

/// A probe of `len` bytes in all (at least the header) with `counter`.
pub fn probe(counter: u64, len: usize) -> Vec<u8> {
    let header = Header {
        kind: Kind::Session,
        auth_id: PROBE_AUTH,
        counter,
    };
    build_frame(&header, &vec![0xa5; len.saturating_sub(HEADER_LEN)])
}

/// The counter of the probe that `frame` answers, if it is a lock's refusal of a probe.
pub fn answered(frame: &[u8]) -> Option<u64> {
    let (header, _) = Header::parse(frame).ok()?;
    (header.kind == Kind::Error && header.auth_id == PROBE_AUTH).then_some(header.counter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_has_the_length_asked_and_its_refusal_names_its_counter() {
        let frame = probe(42, 61);
        assert_eq!(frame.len(), 61);
        let refusal = build_frame(
            &Header {
                kind: Kind::Error,
                auth_id: PROBE_AUTH,
                counter: 42,
            },
            &[7],
        );
        assert_eq!(refusal.len(), ANSWER_LEN);
        assert_eq!(answered(&refusal), Some(42));
        assert_eq!(answered(&frame), None, "a probe is no answer");
    }
}
