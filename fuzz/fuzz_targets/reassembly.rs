//! Fuzz target: a `Reassembler` fed arbitrary fragments with advancing fake time.
//!
//! Input format, repeated until the input ends: one byte `t` (milliseconds to advance the
//! clock: `t * 20`, so 0 to 5.1 s, around the 1 s timeout used here), one byte `n` (fragment
//! length), then up to `n` bytes of fragment. The first two input bytes choose `max_frame`
//! (little-endian, modulo 8193). Checks: no panic, every yielded frame is non-empty and at most
//! `max_frame` bytes, and `in_progress`/`next_deadline` agree.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lockgate_wire::frag::Reassembler;

fuzz_target!(|data: &[u8]| {
    let Some((max_bytes, mut rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max_frame = usize::from(u16::from_le_bytes(*max_bytes)) % 8193;
    let mut reassembler = Reassembler::new(max_frame, Duration::from_secs(1));
    let mut now = Instant::now();
    while let Some((&[step, len], tail)) = rest.split_first_chunk::<2>() {
        let (fragment, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        now += Duration::from_millis(u64::from(step) * 20);
        if step == 0xff {
            let _ = reassembler.expire(now);
        }
        if let Ok(Some(frame)) = reassembler.push(fragment, now) {
            assert!(!frame.is_empty() && frame.len() <= max_frame);
        }
        assert_eq!(
            reassembler.in_progress(),
            reassembler.next_deadline().is_some()
        );
    }
});
