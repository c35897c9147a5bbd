//! Tests of the fragmenter, and proptests of fragmenter and reassembler together: round
//! trips at every MTU, robustness on arbitrary input, recovery after garbage.

use super::*;
use proptest::prelude::*;
use std::time::Instant;

fn frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn frags(frame: &[u8], mtu: u16) -> Vec<Vec<u8>> {
    fragments(frame, mtu).unwrap().collect()
}

/// Pushes every fragment at `now`, returning each outcome.
fn push_all(r: &mut Reassembler, fragments: &[Vec<u8>], now: Instant) -> Vec<PushOutcome> {
    fragments.iter().map(|f| r.push(f, now)).collect()
}

type PushOutcome = Result<Option<Vec<u8>>, ReassemblyError>;

// ---- fragmenting ----

#[test]
fn one_fragment_frame_has_first_and_last_and_sequence_zero() {
    assert_eq!(frags(&[0xaa], 23), vec![vec![FIRST | LAST, 0xaa]]);
    assert_eq!(
        frags(&frame(19), 23),
        vec![[&[0xc0], frame(19).as_slice()].concat()]
    );
}

#[test]
fn every_fragment_but_the_last_carries_mtu_minus_four_bytes() {
    let f = frags(&frame(100), 23);
    assert_eq!(f.len(), 6);
    assert!(f[..5].iter().all(|fragment| fragment.len() == 20));
    assert_eq!(f[5].len(), 1 + 5);
    assert_eq!(
        f.iter().map(|x| x[0]).collect::<Vec<_>>(),
        [0x80, 0x01, 0x02, 0x03, 0x04, 0x45]
    );
}

#[test]
fn no_fragment_exceeds_the_att_payload() {
    for mtu in [MIN_MTU, 27, 185, 247, MAX_MTU] {
        let payload = usize::from(mtu) - ATT_OVERHEAD;
        assert!(frags(&frame(MAX_FRAME), mtu)
            .iter()
            .all(|f| f.len() <= payload && f.len() >= 2));
    }
}

#[test]
fn sequence_numbers_wrap_modulo_64_without_setting_first() {
    let f = frags(&frame(19 * 70), 23);
    assert_eq!(f.len(), 70);
    assert_eq!(f[63][0], 63);
    assert_eq!(f[64][0], 0);
    assert_eq!(f[65][0], 1);
    assert_eq!(f[69][0], LAST | 5);
}

#[test]
fn fragments_reports_its_exact_length() {
    let data = frame(39);
    let mut it = fragments(&data, 23).unwrap();
    assert_eq!(it.len(), 3);
    it.next();
    assert_eq!(it.len(), 2);
    assert_eq!(it.by_ref().count(), 2);
    assert_eq!(it.next(), None);
}

#[test]
fn mtu_outside_23_to_517_is_rejected() {
    assert_eq!(
        fragments(&[1], 22).err(),
        Some(FragmentError::MtuOutOfRange { mtu: 22 })
    );
    assert_eq!(
        fragments(&[1], 518).err(),
        Some(FragmentError::MtuOutOfRange { mtu: 518 })
    );
    assert_eq!(
        fragment_data_len(0),
        Err(FragmentError::MtuOutOfRange { mtu: 0 })
    );
    assert_eq!(fragment_data_len(23), Ok(19));
    assert_eq!(fragment_data_len(517), Ok(513));
}

#[test]
fn empty_frame_is_rejected() {
    assert_eq!(fragments(&[], 23).err(), Some(FragmentError::EmptyFrame));
}

#[test]
fn frame_longer_than_max_frame_is_rejected() {
    let err = fragments(&frame(MAX_FRAME + 1), 23).err();
    assert_eq!(
        err,
        Some(FragmentError::FrameTooLarge {
            len: MAX_FRAME + 1,
            max: MAX_FRAME
        })
    );
    assert!(fragments(&frame(MAX_FRAME), 23).is_ok());
}

#[test]
fn header_byte_round_trips_for_every_value() {
    for byte in 0..=u8::MAX {
        assert_eq!(FragmentHeader::from_byte(byte).to_byte(), byte);
    }
}

// ---- properties ----

fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..=MAX_FRAME)
}

proptest! {
    #[test]
    fn any_frame_at_any_mtu_round_trips(frame in frame_strategy(), mtu in MIN_MTU..=MAX_MTU) {
        let fragments = frags(&frame, mtu);
        let mut r = Reassembler::default();
        let now = Instant::now();
        let (last, init) = fragments.split_last().unwrap();
        for fragment in init {
            prop_assert!(fragment.len() == usize::from(mtu) - ATT_OVERHEAD);
            prop_assert_eq!(r.push(fragment, now), Ok(None));
        }
        prop_assert_eq!(r.push(last, now), Ok(Some(frame)));
    }

    #[test]
    fn arbitrary_fragments_never_panic_and_never_yield_oversized_frames(
        max_frame in 0usize..200,
        pushes in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..40), 0u64..3000),
            0..200,
        ),
    ) {
        let mut r = Reassembler::new(max_frame, Duration::from_secs(1));
        let mut now = Instant::now();
        for (fragment, step_ms) in pushes {
            now += Duration::from_millis(step_ms);
            if let Ok(Some(frame)) = r.push(&fragment, now) {
                prop_assert!(!frame.is_empty() && frame.len() <= max_frame);
            }
            let _ = r.expire(now);
        }
    }

    #[test]
    fn garbage_before_a_valid_sequence_does_not_prevent_recovery(
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..50),
        frame in proptest::collection::vec(any::<u8>(), 1..2000),
        mtu in MIN_MTU..=MAX_MTU,
    ) {
        let mut r = Reassembler::default();
        let now = Instant::now();
        for fragment in &garbage {
            let _ = r.push(fragment, now);
        }
        let fragments = frags(&frame, mtu);
        let outcomes = push_all(&mut r, &fragments, now);
        prop_assert_eq!(outcomes.last(), Some(&Ok(Some(frame))));
    }
}
