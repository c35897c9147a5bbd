//! Tests of `scheduler`.

use super::*;
use proptest::prelude::*;

fn id(n: u8) -> LockId {
    LockId::from_bytes([n; 8])
}

fn sched(max: usize, locks: &[(u8, LinkPolicy)], t0: Instant) -> Scheduler {
    let mut s = Scheduler::new(max, Duration::from_secs(30));
    for &(n, p) in locks {
        s.add_lock(id(n), p, t0);
    }
    s
}

fn connects(actions: &[Action]) -> Vec<LockId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect(id) => Some(*id),
            Action::Disconnect(_) => None,
        })
        .collect()
}

use LinkPolicy::{OnDemand, Persistent};

#[test]
fn down_frames_come_before_pending_before_persistent_links() {
    let t0 = Instant::now();
    let mut s = sched(1, &[(1, Persistent), (2, OnDemand), (3, OnDemand)], t0);
    s.advertised(&id(2), true, t0);
    s.down_frames(&id(3), 1, t0 + Duration::from_secs(1));
    assert_eq!(connects(&s.poll(t0)), vec![id(3)]);
    s.connected(&id(3), t0);
    s.down_frames(&id(3), 0, t0);
    s.disconnected(&id(3), t0);
    assert_eq!(connects(&s.poll(t0)), vec![id(2)]);
    s.connected(&id(2), t0);
    s.advertised(&id(2), false, t0);
    s.disconnected(&id(2), t0);
    assert_eq!(connects(&s.poll(t0)), vec![id(1)]);
}

#[test]
fn an_idle_on_demand_link_ends_after_the_timeout_and_a_persistent_one_does_not() {
    let t0 = Instant::now();
    let mut s = sched(4, &[(1, Persistent), (2, OnDemand)], t0);
    s.down_frames(&id(2), 1, t0);
    assert_eq!(connects(&s.poll(t0)).len(), 2);
    s.connected(&id(1), t0);
    s.connected(&id(2), t0);
    s.down_frames(&id(2), 0, t0);
    assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_secs(30)));
    assert!(s.poll(t0 + Duration::from_secs(29)).is_empty());
    assert_eq!(
        s.poll(t0 + Duration::from_secs(30)),
        vec![Action::Disconnect(id(2))]
    );
}

#[test]
fn a_waiting_lock_takes_the_slot_of_an_idle_link_once_it_has_had_its_turn() {
    let t0 = Instant::now();
    let mut s = sched(1, &[(1, OnDemand), (2, OnDemand)], t0);
    s.down_frames(&id(1), 1, t0);
    s.poll(t0);
    s.connected(&id(1), t0);
    s.down_frames(&id(1), 0, t0);
    s.down_frames(&id(2), 1, t0);
    assert!(
        s.poll(t0 + Duration::from_secs(1)).is_empty(),
        "MIN_HOLD not over"
    );
    let later = t0 + MIN_HOLD;
    assert_eq!(s.poll(later), vec![Action::Disconnect(id(1))]);
    s.disconnected(&id(1), later);
    assert_eq!(s.poll(later), vec![Action::Connect(id(2))]);
}

#[test]
fn a_persistent_link_yields_only_to_down_frames() {
    let t0 = Instant::now();
    let mut s = sched(1, &[(1, Persistent), (2, OnDemand)], t0);
    s.poll(t0);
    s.connected(&id(1), t0);
    let later = t0 + MIN_HOLD;
    s.advertised(&id(2), true, later);
    assert!(
        s.poll(later).is_empty(),
        "pending does not evict a persistent link"
    );
    s.down_frames(&id(2), 1, later);
    assert_eq!(s.poll(later), vec![Action::Disconnect(id(1))]);
}

#[test]
fn a_link_with_work_left_is_never_taken_away() {
    let t0 = Instant::now();
    let mut s = sched(1, &[(1, OnDemand), (2, OnDemand)], t0);
    s.down_frames(&id(1), 3, t0);
    s.poll(t0);
    s.connected(&id(1), t0);
    s.down_frames(&id(2), 1, t0);
    assert!(s.poll(t0 + Duration::from_secs(60)).is_empty());
}

#[test]
fn failed_connects_back_off_exponentially_with_jitter() {
    let t0 = Instant::now();
    let mut s = sched(1, &[(1, Persistent)], t0);
    assert_eq!(connects(&s.poll(t0)), vec![id(1)]);
    s.connect_failed(&id(1), t0, 0.999);
    assert!(s.poll(t0 + Duration::from_millis(900)).is_empty());
    assert_eq!(connects(&s.poll(t0 + Duration::from_secs(1))), vec![id(1)]);
    let t1 = t0 + Duration::from_secs(1);
    s.connect_failed(&id(1), t1, 0.0);
    assert_eq!(
        s.next_deadline(t1),
        Some(t1 + Duration::from_secs(1)),
        "2 s halved by jitter 0"
    );
    assert_eq!(
        s.next_deadline(t1 + Duration::from_secs(1)),
        None,
        "a retry time that has come is no longer a deadline"
    );
    s.connected(&id(1), t1);
    s.disconnected(&id(1), t1);
    assert_eq!(
        connects(&s.poll(t1)),
        vec![id(1)],
        "success resets the backoff"
    );
}

#[test]
fn more_locks_than_slots_are_all_served_in_turn() {
    let t0 = Instant::now();
    let all: Vec<(u8, LinkPolicy)> = (1..=6).map(|n| (n, OnDemand)).collect();
    let mut s = sched(4, &all, t0);
    for n in 1..=6 {
        s.down_frames(&id(n), 1, t0 + Duration::from_millis(u64::from(n)));
    }
    let mut served = std::collections::BTreeSet::new();
    let mut now = t0;
    for _ in 0..20 {
        now += Duration::from_secs(1);
        for action in s.poll(now) {
            match action {
                Action::Connect(l) => {
                    s.connected(&l, now);
                    s.down_frames(&l, 0, now);
                    served.insert(l);
                }
                Action::Disconnect(l) => s.disconnected(&l, now),
            }
        }
    }
    assert_eq!(served.len(), 6);
}

#[derive(Debug, Clone)]
enum Event {
    Down(u8, usize),
    Pending(u8, bool),
    Connected(u8),
    Failed(u8),
    Dropped(u8),
    Tick(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u8..8, 0usize..3).prop_map(|(l, n)| Event::Down(l, n)),
        (0u8..8, any::<bool>()).prop_map(|(l, p)| Event::Pending(l, p)),
        (0u8..8).prop_map(Event::Connected),
        (0u8..8).prop_map(Event::Failed),
        (0u8..8).prop_map(Event::Dropped),
        (0u64..40_000).prop_map(Event::Tick),
    ]
}

proptest! {
    /// Whatever happens, the links asked for never exceed the slots, and a lock is only
    /// asked to connect when it has no link.
    #[test]
    fn never_more_links_than_slots(max in 1usize..5, events in proptest::collection::vec(event(), 1..200)) {
        let t0 = Instant::now();
        let all: Vec<(u8, LinkPolicy)> = (0..8).map(|n| (n, if n % 3 == 0 { Persistent } else { OnDemand })).collect();
        let mut s = sched(max, &all, t0);
        let mut now = t0;
        let mut up = std::collections::BTreeSet::new();
        for e in events {
            match e {
                Event::Down(l, n) => s.down_frames(&id(l), n, now),
                Event::Pending(l, p) => s.advertised(&id(l), p, now),
                Event::Connected(l) => { if up.contains(&id(l)) { s.connected(&id(l), now) } }
                Event::Failed(l) => { if up.remove(&id(l)) { s.connect_failed(&id(l), now, 0.5) } }
                Event::Dropped(l) => { if up.remove(&id(l)) { s.disconnected(&id(l), now) } }
                Event::Tick(ms) => now += Duration::from_millis(ms),
            }
            for action in s.poll(now) {
                match action {
                    Action::Connect(l) => prop_assert!(up.insert(l), "connect of a linked lock"),
                    Action::Disconnect(l) => { up.remove(&l); s.disconnected(&l, now); }
                }
            }
            prop_assert!(s.occupied() <= max);
            prop_assert!(up.len() <= max);
        }
    }
}

#[test]
fn a_reload_to_on_demand_and_a_shorter_idle_timeout_ends_a_persistent_link() {
    let t0 = Instant::now();
    let mut s = sched(4, &[(1, Persistent)], t0);
    assert_eq!(connects(&s.poll(t0)), vec![id(1)]);
    s.connected(&id(1), t0);
    let later = t0 + Duration::from_secs(20);
    assert!(s.poll(later).is_empty(), "persistent links are never idle");
    s.set_policy(&id(1), OnDemand);
    s.set_idle_timeout(Duration::from_secs(10));
    assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_secs(10)));
    assert_eq!(s.poll(later), vec![Action::Disconnect(id(1))]);
}

#[test]
fn a_pending_lock_is_served_by_its_link_which_then_idles_out() {
    let t0 = Instant::now();
    let mut s = sched(1, &[(1, OnDemand)], t0);
    s.advertised(&id(1), true, t0);
    assert_eq!(connects(&s.poll(t0)), vec![id(1)]);
    s.connected(&id(1), t0);
    // Linked, the lock no longer advertises: its stale `pending` must not hold the link.
    assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_secs(30)));
    assert_eq!(
        s.poll(t0 + Duration::from_secs(30)),
        vec![Action::Disconnect(id(1))]
    );
    s.disconnected(&id(1), t0 + Duration::from_secs(30));
    assert!(s.poll(t0 + Duration::from_secs(31)).is_empty());
}
