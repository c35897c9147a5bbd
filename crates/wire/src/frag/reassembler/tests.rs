//! Tests of the reassembler's rules: one test per rule and per error variant.

use super::*;
use crate::frag::{fragments, FragmentHeader, FIRST, LAST};

fn frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn frags(frame: &[u8], mtu: u16) -> Vec<Vec<u8>> {
    fragments(frame, mtu).unwrap().collect()
}

fn header(first: bool, last: bool, seq: u8) -> u8 {
    FragmentHeader { first, last, seq }.to_byte()
}

/// Pushes every fragment at `now`, returning each outcome.
fn push_all(r: &mut Reassembler, fragments: &[Vec<u8>], now: Instant) -> Vec<PushOutcome> {
    fragments.iter().map(|f| r.push(f, now)).collect()
}

type PushOutcome = Result<Option<Vec<u8>>, ReassemblyError>;

#[test]
fn fragments_of_a_frame_reassemble_to_it() {
    let mut r = Reassembler::default();
    let f = frags(&frame(100), 23);
    let out = push_all(&mut r, &f, Instant::now());
    assert_eq!(out[..5], [Ok(None), Ok(None), Ok(None), Ok(None), Ok(None)]);
    assert_eq!(out[5], Ok(Some(frame(100))));
    assert!(!r.in_progress());
    assert_eq!(r.stats().frames, 1);
}

#[test]
fn the_reassembler_is_reusable_frame_after_frame() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    for len in [1, 600, 19, 4096, 20] {
        let out = push_all(&mut r, &frags(&frame(len), 23), now);
        assert_eq!(out.last(), Some(&Ok(Some(frame(len)))));
    }
    assert_eq!(r.stats().frames, 5);
    assert_eq!(r.stats().errors(), 0);
}

#[test]
fn empty_fragment_is_rejected() {
    let mut r = Reassembler::default();
    assert_eq!(r.push(&[], Instant::now()), Err(ReassemblyError::Empty));
    assert_eq!(r.stats().empty, 1);
}

#[test]
fn header_only_fragment_is_empty_and_drops_the_frame_in_progress() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    let f = frags(&frame(40), 23);
    assert_eq!(r.push(&f[0], now), Ok(None));
    assert_eq!(
        r.push(&[header(false, false, 1)], now),
        Err(ReassemblyError::Empty)
    );
    assert!(!r.in_progress());
    assert_eq!(
        r.push(&f[1], now),
        Ok(None),
        "rest of the broken frame is swallowed"
    );
    assert_eq!(r.push(&f[2], now), Ok(None));
}

#[test]
fn continuation_without_a_frame_in_progress_is_unexpected() {
    let mut r = Reassembler::default();
    let f = frags(&frame(40), 23);
    assert_eq!(
        r.push(&f[1], Instant::now()),
        Err(ReassemblyError::UnexpectedContinuation)
    );
    assert_eq!(
        r.push(&f[2], Instant::now()),
        Err(ReassemblyError::UnexpectedContinuation)
    );
}

#[test]
fn first_fragment_during_a_frame_interrupts_it_and_starts_a_new_one() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    let old = frags(&frame(40), 23);
    let new = frags(&frame(30), 23);
    assert_eq!(r.push(&old[0], now), Ok(None));
    assert_eq!(r.push(&new[0], now), Err(ReassemblyError::Interrupted));
    assert_eq!(r.push(&new[1], now), Ok(Some(frame(30))));
}

#[test]
fn one_fragment_frame_that_interrupts_a_frame_is_delivered_and_the_loss_counted() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    assert_eq!(r.push(&frags(&frame(40), 23)[0], now), Ok(None));
    assert_eq!(r.push(&[FIRST | LAST, 9], now), Ok(Some(vec![9])));
    assert_eq!(r.stats().interrupted, 1);
    assert_eq!(r.stats().frames, 1);
}

#[test]
fn duplicate_fragment_drops_the_frame_and_is_reported() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    let f = frags(&frame(80), 23);
    assert_eq!(r.push(&f[0], now), Ok(None));
    assert_eq!(r.push(&f[1], now), Ok(None));
    assert_eq!(
        r.push(&f[1], now),
        Err(ReassemblyError::Duplicate { seq: 1 })
    );
    assert_eq!(
        push_all(&mut r, &f[2..], now),
        [Ok(None), Ok(None), Ok(None)]
    );
    assert_eq!(r.stats().errors(), 1, "one broken frame, one error");
}

#[test]
fn gap_in_sequence_drops_the_frame_and_is_reported() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    let f = frags(&frame(80), 23);
    assert_eq!(r.push(&f[0], now), Ok(None));
    assert_eq!(
        r.push(&f[2], now),
        Err(ReassemblyError::Gap {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(push_all(&mut r, &f[3..], now), [Ok(None), Ok(None)]);
    assert_eq!(
        r.push(&f[1], now),
        Err(ReassemblyError::UnexpectedContinuation)
    );
}

#[test]
fn first_fragment_with_a_nonzero_sequence_number_is_a_gap() {
    let mut r = Reassembler::default();
    let now = Instant::now();
    let err = r.push(&[header(true, false, 5), 1], now);
    assert_eq!(
        err,
        Err(ReassemblyError::Gap {
            expected: 0,
            got: 5
        })
    );
    assert!(!r.in_progress());
    assert_eq!(
        r.push(&[header(false, true, 6), 1], now),
        Ok(None),
        "its frame is swallowed"
    );
}

#[test]
fn oversized_frame_is_dropped_once_and_its_remaining_fragments_are_swallowed() {
    let mut r = Reassembler::new(50, DEFAULT_FRAGMENT_TIMEOUT);
    let now = Instant::now();
    let f = frags(&frame(200), 23);
    let out = push_all(&mut r, &f, now);
    assert_eq!(out[..2], [Ok(None), Ok(None)]);
    assert_eq!(out[2], Err(ReassemblyError::TooLarge { max: 50 }));
    assert!(out[3..].iter().all(|o| *o == Ok(None)));
    assert_eq!(r.stats().errors(), 1);
    let out = push_all(&mut r, &frags(&frame(50), 23), now);
    assert_eq!(
        out.last(),
        Some(&Ok(Some(frame(50)))),
        "a frame of exactly max_frame passes"
    );
}

#[test]
fn oversized_first_fragment_is_too_large() {
    let mut r = Reassembler::new(10, DEFAULT_FRAGMENT_TIMEOUT);
    let now = Instant::now();
    let f = frags(&frame(40), 23);
    assert_eq!(
        r.push(&f[0], now),
        Err(ReassemblyError::TooLarge { max: 10 })
    );
    assert_eq!(push_all(&mut r, &f[1..], now), [Ok(None), Ok(None)]);
    let err = r.push(&[FIRST | LAST, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], now);
    assert_eq!(err, Err(ReassemblyError::TooLarge { max: 10 }));
}

#[test]
fn pause_longer_than_the_timeout_drops_the_frame_and_swallows_its_rest() {
    let mut r = Reassembler::new(MAX_FRAME, Duration::from_secs(5));
    let t0 = Instant::now();
    let f = frags(&frame(80), 23);
    assert_eq!(r.push(&f[0], t0), Ok(None));
    let late = t0 + Duration::from_millis(5001);
    assert_eq!(r.push(&f[1], late), Err(ReassemblyError::TimedOut));
    assert_eq!(
        push_all(&mut r, &f[2..], late),
        [Ok(None), Ok(None), Ok(None)]
    );
    assert_eq!(r.stats().timed_out, 1);
}

#[test]
fn pause_of_exactly_the_timeout_is_allowed() {
    let mut r = Reassembler::new(MAX_FRAME, Duration::from_secs(5));
    let t0 = Instant::now();
    let f = frags(&frame(30), 23);
    assert_eq!(r.push(&f[0], t0), Ok(None));
    assert_eq!(
        r.push(&f[1], t0 + Duration::from_secs(5)),
        Ok(Some(frame(30)))
    );
}

#[test]
fn first_fragment_after_a_timeout_starts_a_new_frame() {
    let mut r = Reassembler::default();
    let t0 = Instant::now();
    let late = t0 + Duration::from_secs(6);
    assert_eq!(r.push(&frags(&frame(80), 23)[0], t0), Ok(None));
    let new = frags(&frame(30), 23);
    assert_eq!(r.push(&new[0], late), Err(ReassemblyError::TimedOut));
    assert_eq!(r.push(&new[1], late), Ok(Some(frame(30))));
}

#[test]
fn expire_reports_a_timed_out_frame_once() {
    let mut r = Reassembler::default();
    let t0 = Instant::now();
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.push(&frags(&frame(80), 23)[0], t0), Ok(None));
    assert_eq!(r.next_deadline(), Some(t0 + DEFAULT_FRAGMENT_TIMEOUT));
    assert_eq!(r.expire(t0 + DEFAULT_FRAGMENT_TIMEOUT), None);
    assert!(r.in_progress());
    assert_eq!(
        r.expire(t0 + Duration::from_secs(6)),
        Some(ReassemblyError::TimedOut)
    );
    assert_eq!(r.expire(t0 + Duration::from_secs(7)), None);
    assert!(!r.in_progress());
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn swallowing_ends_after_a_pause_longer_than_the_timeout() {
    let mut r = Reassembler::default();
    let t0 = Instant::now();
    let f = frags(&frame(80), 23);
    assert_eq!(r.push(&f[0], t0), Ok(None));
    assert!(r.push(&f[2], t0).is_err());
    let later = t0 + Duration::from_secs(6);
    assert_eq!(
        r.push(&f[3], later),
        Err(ReassemblyError::UnexpectedContinuation)
    );
}

#[test]
fn time_going_backwards_neither_panics_nor_times_out() {
    let mut r = Reassembler::default();
    let t0 = Instant::now() + Duration::from_secs(60);
    let f = frags(&frame(30), 23);
    assert_eq!(r.push(&f[0], t0), Ok(None));
    assert_eq!(
        r.push(&f[1], t0 - Duration::from_secs(30)),
        Ok(Some(frame(30)))
    );
}

#[test]
fn huge_timeout_has_no_deadline_and_never_panics() {
    let mut r = Reassembler::new(MAX_FRAME, Duration::MAX);
    assert_eq!(r.push(&frags(&frame(30), 23)[0], Instant::now()), Ok(None));
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.expire(Instant::now()), None);
}

#[test]
fn reset_forgets_the_frame_in_progress_silently() {
    let mut r = Reassembler::default();
    let f = frags(&frame(30), 23);
    assert_eq!(r.push(&f[0], Instant::now()), Ok(None));
    r.reset();
    assert!(!r.in_progress());
    assert_eq!(
        r.push(&f[1], Instant::now()),
        Err(ReassemblyError::UnexpectedContinuation)
    );
    assert_eq!(r.stats().errors(), 1);
}

#[test]
fn buffer_capacity_never_exceeds_max_frame() {
    for max in [0, 1, 20, 1000, 1500, MAX_FRAME] {
        let mut r = Reassembler::new(max, DEFAULT_FRAGMENT_TIMEOUT);
        let _ = push_all(&mut r, &frags(&frame(MAX_FRAME), 23), Instant::now());
        let capacity = r.buf.capacity();
        assert!(capacity <= max, "max {max}: capacity {capacity}");
    }
}

#[test]
fn error_reasons_are_distinct() {
    let errors = [
        ReassemblyError::Empty,
        ReassemblyError::UnexpectedContinuation,
        ReassemblyError::Interrupted,
        ReassemblyError::Duplicate { seq: 0 },
        ReassemblyError::Gap {
            expected: 0,
            got: 1,
        },
        ReassemblyError::TooLarge { max: 0 },
        ReassemblyError::TimedOut,
    ];
    let mut reasons: Vec<_> = errors.iter().map(ReassemblyError::reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), errors.len());
}
