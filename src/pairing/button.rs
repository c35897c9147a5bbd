//! The button and the LED without hardware: a debouncer that turns raw line levels into
//! presses, and the LED's schedule for a window (lit while open, blinking in its last 10 s,
//! off when closed). Time is passed in; [`super::gpio`] drives both from real or simulated
//! lines.

use std::time::{Duration, Instant};

/// The LED blinks during this last part of a window.
pub const BLINK_LAST: Duration = Duration::from_secs(10);
/// The LED's blink: this long on, this long off.
pub const BLINK_HALF: Duration = Duration::from_millis(250);

/// What the debounced button did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonEvent {
    /// It went down.
    Pressed,
    /// It came up.
    Released,
}

/// Debounces one button: a new level counts once the line has kept it for the debounce
/// period (every edge starts the period again), so contact bounce is never a press and no
/// press is lost to a bounce. `active_low`: pressed pulls the line low (a button to ground
/// with a pull-up), the usual wiring.
#[derive(Debug)]
pub struct Debouncer {
    active_low: bool,
    period: Duration,
    pressed: bool,
    raw: bool,
    raw_since: Instant,
}

impl Debouncer {
    /// A debouncer for a line that reads `physical_high` at `now`.
    pub fn new(active_low: bool, period: Duration, physical_high: bool, now: Instant) -> Self {
        let pressed = physical_high != active_low;
        Debouncer {
            active_low,
            period,
            pressed,
            raw: pressed,
            raw_since: now,
        }
    }

    /// The line changed to `physical_high` at `at`.
    pub fn edge(&mut self, physical_high: bool, at: Instant) {
        self.raw = physical_high != self.active_low;
        self.raw_since = at;
    }

    /// When [`poll`](Self::poll) may report something: when the last level has been kept
    /// for the debounce period, if it differs from the debounced one.
    pub fn deadline(&self) -> Option<Instant> {
        (self.raw != self.pressed).then(|| self.raw_since + self.period)
    }

    /// The debounced change at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<ButtonEvent> {
        let due = self.deadline().is_some_and(|at| now >= at);
        if !due {
            return None;
        }
        self.pressed = self.raw;
        Some(if self.pressed {
            ButtonEvent::Pressed
        } else {
            ButtonEvent::Released
        })
    }

    /// Whether the button is (debounced) down.
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }
}

/// Whether the LED is lit at `now` for a window closing at `closes_at` (`None`: closed).
pub fn led_lit(closes_at: Option<Instant>, now: Instant) -> bool {
    let Some(closes_at) = closes_at else {
        return false;
    };
    let left = closes_at.saturating_duration_since(now);
    if left.is_zero() {
        return false;
    }
    if left > BLINK_LAST {
        return true;
    }
    // Counted back from the close in half periods: lit in odd ones, so every change toggles
    // (dark first, lit in the last quarter second, dark at the close).
    blink_slot(left) % 2 == 1
}

/// When [`led_lit`] may change next.
pub fn led_next_change(closes_at: Option<Instant>, now: Instant) -> Option<Instant> {
    let closes_at = closes_at?;
    let left = closes_at.saturating_duration_since(now);
    if left.is_zero() {
        return None;
    }
    if left > BLINK_LAST {
        return Some(closes_at - BLINK_LAST);
    }
    let slot = blink_slot(left);
    Some(closes_at - BLINK_HALF * (slot - 1))
}

/// The half period of the blink `left` (0 < left <= BLINK_LAST) falls in: 1 for the last.
fn blink_slot(left: Duration) -> u32 {
    let half = BLINK_HALF.as_nanos();
    let slot = left.as_nanos().div_ceil(half);
    u32::try_from(slot).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_bouncing_press_and_release_is_one_press_and_one_release() {
        let t0 = Instant::now();
        // Active low, idle high.
        let mut d = Debouncer::new(true, 50 * MS, true, t0);
        assert!(!d.is_pressed());
        let mut events = Vec::new();
        // Press at 100 ms with bounce, release at 400 ms with bounce.
        let edges = [
            (100, false),
            (101, true),
            (103, false),
            (104, true),
            (106, false),
            (400, true),
            (401, false),
            (402, true),
        ];
        let mut t = 0;
        for (at, high) in edges {
            while t < at {
                events.extend(d.poll(t0 + t * MS).map(|e| (t, e)));
                t += 1;
            }
            d.edge(high, t0 + at * MS);
        }
        while t < 600 {
            events.extend(d.poll(t0 + t * MS).map(|e| (t, e)));
            t += 1;
        }
        assert_eq!(
            events,
            [(156, ButtonEvent::Pressed), (452, ButtonEvent::Released)]
        );
    }

    #[test]
    fn active_high_buttons_press_on_a_rising_edge() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(false, 20 * MS, false, t0);
        d.edge(true, t0);
        assert_eq!(d.deadline(), Some(t0 + 20 * MS));
        assert_eq!(d.poll(t0 + 19 * MS), None);
        assert_eq!(d.poll(t0 + 20 * MS), Some(ButtonEvent::Pressed));
        assert_eq!(d.poll(t0 + 30 * MS), None, "reported once");
    }

    #[test]
    fn a_glitch_shorter_than_the_period_is_ignored() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(true, 50 * MS, true, t0);
        d.edge(false, t0 + 10 * MS);
        d.edge(true, t0 + 30 * MS);
        assert_eq!(d.deadline(), None);
        assert_eq!(d.poll(t0 + 200 * MS), None);
    }

    #[test]
    fn a_line_held_down_at_start_is_pressed_without_an_event() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(true, 50 * MS, false, t0);
        assert!(d.is_pressed());
        assert_eq!(d.poll(t0 + 100 * MS), None);
    }

    #[test]
    fn the_led_is_off_when_closed_lit_while_open_and_blinks_in_the_last_ten_seconds() {
        let t0 = Instant::now();
        assert!(!led_lit(None, t0));
        assert_eq!(led_next_change(None, t0), None);
        let closes = t0 + Duration::from_secs(30);
        let w = Some(closes);
        assert!(led_lit(w, t0));
        assert_eq!(led_next_change(w, t0), Some(t0 + Duration::from_secs(20)));
        // Walk the schedule from change to change.
        let mut now = t0;
        let mut seen = vec![(0, led_lit(w, now))];
        while let Some(next) = led_next_change(w, now) {
            assert!(next > now, "the schedule moves forward");
            now = next;
            seen.push(((now - t0).as_millis(), led_lit(w, now)));
        }
        assert_eq!(seen[0], (0, true));
        assert_eq!(seen[1], (20_000, false), "blinking starts");
        assert_eq!(seen[2], (20_250, true));
        assert_eq!(seen[3], (20_500, false));
        assert_eq!(seen.last(), Some(&(30_000, false)), "off at the close");
        assert_eq!(seen.len(), 2 + 40, "40 half periods in 10 s");
        for pair in seen.windows(2) {
            assert_ne!(pair[0].1, pair[1].1, "every change toggles: {pair:?}");
        }
    }
}
