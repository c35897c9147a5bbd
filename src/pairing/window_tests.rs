use super::*;
use proptest::prelude::*;
use std::time::Duration;

fn secs(n: u64) -> Seconds {
    Seconds::new(n).unwrap()
}

fn lock(n: u8) -> LockId {
    format!("4c470000000000{n:02x}").parse().unwrap()
}

fn passkey(text: &str) -> Option<Passkey> {
    Some(text.parse().unwrap())
}

#[test]
fn a_new_window_is_closed_and_has_nothing_to_do() {
    let w = Window::new();
    let t0 = Instant::now();
    assert!(!w.is_open(t0));
    assert_eq!(w.deadline(), None);
    assert_eq!(w.state(t0, 1000), WindowState::closed());
    assert!(!w.may_bond(&lock(1), t0));
}

#[test]
fn an_opened_window_counts_down_and_expires_on_time() {
    let mut w = Window::new();
    let t0 = Instant::now();
    let opened = w.open(t0, secs(30), None, Source::Control);
    assert_eq!(
        opened,
        Change::Opened {
            seconds: 30,
            source: Source::Control
        }
    );
    assert_eq!(w.deadline(), Some(t0 + Duration::from_secs(30)));
    let later = t0 + Duration::from_millis(10_200);
    let state = w.state(later, 1000);
    assert_eq!(state.seconds_left, Some(20), "19.8 s left shows as 20");
    assert_eq!(state.closes_at, Some(1020));
    assert_eq!(w.poll(t0 + Duration::from_millis(29_999)), None);
    let closed = w.poll(t0 + Duration::from_secs(30));
    assert_eq!(
        closed,
        Some(Change::Closed {
            reason: CloseReason::Expired,
            paired: 0,
            failed: 0
        })
    );
    assert!(!w.is_open(t0 + Duration::from_secs(30)));
    assert_eq!(w.poll(t0 + Duration::from_secs(31)), None, "expires once");
}

#[test]
fn opening_an_open_window_extends_it_but_never_shortens_it() {
    let mut w = Window::new();
    let t0 = Instant::now();
    w.open(t0, secs(60), None, Source::Button);
    let t10 = t0 + Duration::from_secs(10);
    let shorter = w.open(t10, secs(5), None, Source::Control);
    assert_eq!(
        shorter,
        Change::Extended {
            seconds_left: 50,
            passkey_changed: false
        }
    );
    let longer = w.open(t10, secs(254), passkey("123456"), Source::Control);
    assert_eq!(
        longer,
        Change::Extended {
            seconds_left: 254,
            passkey_changed: true
        }
    );
    assert_eq!(w.passkey(), passkey("123456"));
    let same = w.open(t10, secs(1), passkey("123456"), Source::Control);
    assert!(matches!(
        same,
        Change::Extended {
            passkey_changed: false,
            ..
        }
    ));
    let without = w.open(t10, secs(1), None, Source::Control);
    assert!(matches!(without, Change::Extended { .. }));
    assert_eq!(
        w.passkey(),
        passkey("123456"),
        "no passkey keeps the one given"
    );
}

#[test]
fn the_button_opens_a_closed_window_and_closes_an_open_one() {
    let mut w = Window::new();
    let t0 = Instant::now();
    assert_eq!(
        w.press(t0, secs(60)),
        Change::Opened {
            seconds: 60,
            source: Source::Button
        }
    );
    assert_eq!(w.passkey(), None);
    let second = w.press(t0 + Duration::from_secs(3), secs(60));
    assert_eq!(
        second,
        Change::Closed {
            reason: CloseReason::Button,
            paired: 0,
            failed: 0
        }
    );
    assert!(!w.is_open(t0 + Duration::from_secs(3)));
}

#[test]
fn closing_a_closed_window_changes_nothing() {
    let mut w = Window::new();
    assert_eq!(w.close(CloseReason::Mqtt), None);
    w.open(Instant::now(), secs(10), None, Source::Control);
    assert!(w.close(CloseReason::Stop).is_some());
    assert_eq!(w.close(CloseReason::Stop), None);
    assert_eq!(w.passkey(), None, "the passkey goes with the window");
}

#[test]
fn locks_are_bonded_one_at_a_time_and_each_is_tried_once_per_window() {
    let mut w = Window::new();
    let t0 = Instant::now();
    w.open(t0, secs(60), passkey("000001"), Source::Control);
    assert!(w.may_bond(&lock(1), t0));
    w.started(lock(1));
    assert!(w.bonding());
    assert!(!w.may_bond(&lock(2), t0), "one bond at a time");
    assert!(!w.may_bond(&lock(1), t0));
    w.finished(lock(1), false);
    assert!(!w.bonding());
    assert!(!w.may_bond(&lock(1), t0), "a failed lock is not retried");
    assert!(w.may_bond(&lock(2), t0));
    w.started(lock(2));
    w.finished(lock(2), true);
    assert!(!w.may_bond(&lock(2), t0));
    let closed = w.close(CloseReason::Stop);
    assert_eq!(
        closed,
        Some(Change::Closed {
            reason: CloseReason::Stop,
            paired: 1,
            failed: 1
        })
    );
    w.open(t0, secs(60), None, Source::Control);
    assert!(
        w.may_bond(&lock(1), t0),
        "a new window tries every lock again"
    );
}

#[test]
fn an_expired_but_unpolled_window_bonds_nothing() {
    let mut w = Window::new();
    let t0 = Instant::now();
    w.open(t0, secs(1), None, Source::Control);
    let t1 = t0 + Duration::from_secs(1);
    assert!(!w.is_open(t1));
    assert!(!w.may_bond(&lock(1), t1));
    assert_eq!(w.state(t1, 0), WindowState::closed());
}

#[test]
fn a_bond_ending_after_the_window_closed_is_not_counted_in_the_next() {
    let mut w = Window::new();
    let t0 = Instant::now();
    w.open(t0, secs(10), None, Source::Control);
    w.started(lock(1));
    w.close(CloseReason::Mqtt);
    w.finished(lock(1), true);
    w.open(t0, secs(10), None, Source::Control);
    let closed = w.close(CloseReason::Stop);
    assert_eq!(
        closed,
        Some(Change::Closed {
            reason: CloseReason::Stop,
            paired: 0,
            failed: 0
        })
    );
}

#[derive(Clone, Debug)]
enum Op {
    Open(u64, bool),
    Press,
    Close,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..=254, any::<bool>()).prop_map(|(s, p)| Op::Open(s, p)),
        Just(Op::Press),
        Just(Op::Close),
        (0u64..300_000).prop_map(Op::Wait),
    ]
}

proptest! {
    /// Whatever happens, the window is never open longer than 254 s past the last time it
    /// was opened or extended, every close is reported exactly once, and it closes only
    /// when it was open.
    #[test]
    fn the_window_never_outlives_its_last_opening(ops in proptest::collection::vec(op(), 1..60)) {
        let mut w = Window::new();
        let t0 = Instant::now();
        let mut now = t0;
        let mut last_opened: Option<Instant> = None;
        for op in ops {
            // The manager polls before every operation (the window's contract).
            if w.poll(now).is_some() {
                prop_assert!(w.deadline().is_none());
            }
            let was_open = w.is_open(now);
            let change = match op {
                Op::Open(s, p) => Some(w.open(now, secs(s), p.then(|| "123456".parse().unwrap()), Source::Control)),
                Op::Press => Some(w.press(now, Seconds::DEFAULT)),
                Op::Close => w.close(CloseReason::Stop),
                Op::Wait(ms) => { now += Duration::from_millis(ms); w.poll(now) }
            };
            match change {
                Some(Change::Opened { .. }) => {
                    prop_assert!(!was_open);
                    last_opened = Some(now);
                }
                Some(Change::Extended { .. }) => last_opened = Some(now),
                Some(Change::Closed { .. }) => prop_assert!(w.deadline().is_none()),
                None => {}
            }
            if let (Some(deadline), Some(opened)) = (w.deadline(), last_opened) {
                prop_assert!(deadline <= opened + Duration::from_secs(254));
                prop_assert!(w.state(now, 0).seconds_left.unwrap_or(0) <= 254);
            }
        }
    }
}
