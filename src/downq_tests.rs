use super::*;
use lockgate_wire::envelope::{build_frame, Kind};
use lockgate_wire::frag::MAX_FRAME;
use proptest::prelude::*;

const TTL: Duration = Duration::from_secs(10);

fn lock(n: u8) -> LockId {
    LockId::from_bytes([n; 8])
}

fn session_frame(counter: u64) -> (Header, Vec<u8>) {
    let header = Header {
        kind: Kind::Session,
        auth_id: 3,
        counter,
    };
    (header, build_frame(&header, b"sealed body"))
}

#[test]
fn a_valid_frame_passes_the_check_with_its_header() {
    let (header, frame) = session_frame(7);
    assert_eq!(check(&frame), Ok(header));
}

#[test]
fn a_frame_shorter_than_a_header_is_rejected_as_malformed_without_ids() {
    let receipt = check(&[1, 2, 3]).unwrap_err();
    assert_eq!(receipt.status, Status::Rejected);
    assert_eq!(receipt.reason, Some(Reason::Malformed));
    assert_eq!((receipt.auth_id, receipt.counter), (None, None));
}

#[test]
fn an_oversize_frame_is_rejected_as_too_large_and_still_named_by_its_header() {
    let (_, mut frame) = session_frame(9);
    frame.resize(MAX_FRAME + 1, 0);
    let receipt = check(&frame).unwrap_err();
    assert_eq!(receipt.reason, Some(Reason::TooLarge));
    assert_eq!((receipt.auth_id, receipt.counter), (Some(3), Some(9)));
}

#[test]
fn version_kind_and_auth_id_errors_have_their_own_reasons() {
    let (_, frame) = session_frame(1);
    let mut version = frame.clone();
    version[0] = 2;
    assert_eq!(
        check(&version).unwrap_err().reason,
        Some(Reason::UnsupportedVersion)
    );
    let mut kind = frame.clone();
    kind[1] = 9;
    assert_eq!(check(&kind).unwrap_err().reason, Some(Reason::UnknownKind));
    let pairing_with_auth_id = build_frame(
        &Header {
            kind: Kind::Session,
            auth_id: 0x8000_0001,
            counter: 1,
        },
        b"x",
    );
    assert_eq!(
        check(&pairing_with_auth_id).unwrap_err().reason,
        Some(Reason::Malformed)
    );
}

#[test]
fn receipts_serialize_as_documented() {
    let written = Receipt {
        status: Status::Written,
        auth_id: Some(1),
        counter: Some(7),
        reason: None,
    };
    assert_eq!(
        String::from_utf8(written.to_json()).unwrap(),
        r#"{"status":"written","auth_id":1,"counter":7}"#
    );
    let rejected = Receipt::rejected(None, Reason::Malformed);
    assert_eq!(
        String::from_utf8(rejected.to_json()).unwrap(),
        r#"{"status":"rejected","auth_id":null,"counter":null,"reason":"malformed"}"#
    );
    let expired = Receipt {
        status: Status::Expired,
        auth_id: Some(1),
        counter: Some(7),
        reason: Some(Reason::NotConnected),
    };
    assert!(String::from_utf8(expired.to_json())
        .unwrap()
        .ends_with(r#""reason":"not_connected"}"#));
}

#[test]
fn frames_wait_in_arrival_order_per_lock() {
    let now = Instant::now();
    let mut q = DownQueues::default();
    for counter in 1..=3 {
        let (h, f) = session_frame(counter);
        q.push(lock(1), &h, f, now, TTL).unwrap();
    }
    let (h, f) = session_frame(9);
    q.push(lock(2), &h, f, now, TTL).unwrap();
    assert_eq!((q.len(&lock(1)), q.len(&lock(2))), (3, 1));
    let counters: Vec<u64> = q.take(&lock(1)).iter().map(|f| f.counter).collect();
    assert_eq!(counters, [1, 2, 3]);
    assert_eq!(q.len(&lock(1)), 0);
    assert!(!q.is_empty());
}

#[test]
fn a_full_queue_rejects_the_next_frame() {
    let now = Instant::now();
    let mut q = DownQueues::default();
    for counter in 0..MAX_QUEUED_PER_LOCK as u64 {
        let (h, f) = session_frame(counter);
        q.push(lock(1), &h, f, now, TTL).unwrap();
    }
    let (h, f) = session_frame(99);
    let receipt = q.push(lock(1), &h, f, now, TTL).unwrap_err();
    assert_eq!(receipt.reason, Some(Reason::QueueFull));
    assert_eq!(receipt.counter, Some(99));
}

#[test]
fn frames_expire_exactly_at_their_ttl_and_not_before() {
    let t0 = Instant::now();
    let mut q = DownQueues::default();
    let (h, f) = session_frame(1);
    q.push(lock(1), &h, f, t0, TTL).unwrap();
    let (h, f) = session_frame(2);
    q.push(lock(1), &h, f, t0 + Duration::from_secs(5), TTL)
        .unwrap();
    assert_eq!(q.next_expiry(), Some(t0 + TTL));
    assert!(q.expire(t0 + TTL - Duration::from_millis(1)).is_empty());
    let expired = q.expire(t0 + TTL);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].1.counter, 1);
    assert_eq!(q.next_expiry(), Some(t0 + Duration::from_secs(15)));
    assert_eq!(q.expire(t0 + Duration::from_secs(15)).len(), 1);
    assert!(q.is_empty());
    assert_eq!(q.next_expiry(), None);
}

#[test]
fn a_requeued_frame_goes_back_to_the_front_with_its_own_expiry() {
    let t0 = Instant::now();
    let mut q = DownQueues::default();
    let (h, f) = session_frame(2);
    q.push(lock(1), &h, f, t0, TTL).unwrap();
    let (h1, f1) = session_frame(1);
    let first = DownFrame {
        seq: 0,
        auth_id: h1.auth_id,
        counter: 1,
        frame: f1,
        expires: t0 + Duration::from_secs(1),
    };
    q.requeue(lock(1), first);
    assert_eq!(q.next_expiry(), Some(t0 + Duration::from_secs(1)));
    let counters: Vec<u64> = q.take(&lock(1)).iter().map(|f| f.counter).collect();
    assert_eq!(counters, [1, 2]);
}

#[test]
fn frames_handed_back_one_by_one_return_in_arrival_order() {
    let now = Instant::now();
    let mut q = DownQueues::default();
    for counter in 1..=4 {
        let (h, f) = session_frame(counter);
        q.push(lock(1), &h, f, now, TTL).unwrap();
    }
    let mut handed = q.take(&lock(1));
    let (h, f) = session_frame(5);
    q.push(lock(1), &h, f, now, TTL).unwrap();
    // The link failed on the first and found itself down for the rest, in order.
    while let Some(frame) = handed.pop_front() {
        q.requeue(lock(1), frame);
    }
    let counters: Vec<u64> = q.take(&lock(1)).iter().map(|f| f.counter).collect();
    assert_eq!(counters, [1, 2, 3, 4, 5]);
}

#[test]
fn drain_all_empties_every_queue() {
    let now = Instant::now();
    let mut q = DownQueues::default();
    for n in 1..=3 {
        let (h, f) = session_frame(u64::from(n));
        q.push(lock(n), &h, f, now, TTL).unwrap();
    }
    assert_eq!(q.drain_all().len(), 3);
    assert!(q.is_empty());
}

proptest! {
    #[test]
    fn check_never_panics_and_accepts_only_what_the_header_parser_accepts(
        bytes in proptest::collection::vec(any::<u8>(), 0..64)
    ) {
        let accepted = check(&bytes).is_ok();
        prop_assert_eq!(accepted, Header::parse(&bytes).is_ok());
    }

    #[test]
    fn no_frame_outlives_its_ttl(
        arrivals in proptest::collection::vec((0u8..4, 0u64..30_000), 1..40),
        probe in 0u64..60_000,
    ) {
        let t0 = Instant::now();
        let mut q = DownQueues::default();
        for (i, (n, at)) in arrivals.iter().enumerate() {
            let (h, f) = session_frame(i as u64);
            let _ = q.push(lock(*n), &h, f, t0 + Duration::from_millis(*at), TTL);
        }
        let now = t0 + Duration::from_millis(probe);
        for (_, f) in q.expire(now) {
            prop_assert!(f.expires <= now);
        }
        for n in 0..4 {
            for f in q.take(&lock(n)) {
                prop_assert!(f.expires > now);
            }
        }
    }
}
