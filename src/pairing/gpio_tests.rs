//! The GPIO task on simulated lines, on Tokio's paused clock: the test plays the manager
//! (it opens and closes the window when presses arrive) and checks the presses and the
//! LED's levels over time.

use super::*;
use std::time::Duration;
use tokio::time::sleep;

fn settings(active_low: bool) -> ButtonSettings {
    ButtonSettings {
        chip: "gpiochip0".into(),
        line: 17,
        active_low,
        bias: None,
        debounce: Duration::from_millis(50),
    }
}

/// A simulated LED line that records when it was driven.
struct TimedLed(mpsc::UnboundedSender<(Instant, bool)>);

impl LedLine for TimedLed {
    fn set(&mut self, high: bool) -> io::Result<()> {
        let _ = self.0.send((now(), high));
        Ok(())
    }
}

struct Rig {
    line: mpsc::UnboundedSender<bool>,
    presses: mpsc::Receiver<()>,
    window: watch::Sender<Option<Instant>>,
    led: mpsc::UnboundedReceiver<(Instant, bool)>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn rig(button_active_low: bool, led_active_low: bool) -> Rig {
    let idle = button_active_low;
    let (sim, line) = SimButton::new(idle);
    let button = Button::new(sim, &settings(button_active_low), now()).unwrap();
    let (led_tx, led) = mpsc::unbounded_channel();
    let led_line = Led::new(TimedLed(led_tx), led_active_low);
    let (press_tx, presses) = mpsc::channel(4);
    let (window, window_rx) = watch::channel(None);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(
        Some(button),
        Some(led_line),
        press_tx,
        window_rx,
        shutdown.clone(),
    ));
    Rig {
        line,
        presses,
        window,
        led,
        shutdown,
        task,
    }
}

/// Presses (and releases) the button with contact bounce, as a real one does.
async fn bouncy_press(line: &mpsc::UnboundedSender<bool>, active_low: bool) {
    let down = !active_low;
    for level in [down, !down, down, !down, down] {
        line.send(level).unwrap();
        sleep(Duration::from_millis(2)).await;
    }
    sleep(Duration::from_millis(200)).await;
    for level in [!down, down, !down] {
        line.send(level).unwrap();
        sleep(Duration::from_millis(3)).await;
    }
}

fn drain(led: &mut mpsc::UnboundedReceiver<(Instant, bool)>) -> Vec<(Instant, bool)> {
    std::iter::from_fn(|| led.try_recv().ok()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_bouncing_press_opens_the_led_follows_the_window_and_a_second_press_closes() {
    let mut rig = rig(true, false);
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        drain(&mut rig.led).iter().map(|l| l.1).collect::<Vec<_>>(),
        [false],
        "the LED starts dark"
    );
    bouncy_press(&rig.line, true).await;
    rig.presses.recv().await.unwrap();
    assert!(
        rig.presses.try_recv().is_err(),
        "one press, however it bounced"
    );
    let t0 = now();
    // The manager opens a 30 s window.
    rig.window.send(Some(t0 + Duration::from_secs(30))).unwrap();
    sleep(Duration::from_millis(25_100)).await;
    let levels = drain(&mut rig.led);
    assert_eq!(levels[0], (t0, true), "lit at once");
    assert_eq!(
        levels[1],
        (t0 + Duration::from_secs(20), false),
        "blinks at 10 s left"
    );
    assert_eq!(levels[2], (t0 + Duration::from_millis(20_250), true));
    assert_eq!(levels.len(), 1 + 21, "5 s of blinking: 21 changes");
    // A second press; the manager closes the window.
    bouncy_press(&rig.line, true).await;
    rig.presses.recv().await.unwrap();
    rig.window.send(None).unwrap();
    sleep(Duration::from_millis(10)).await;
    let levels = drain(&mut rig.led);
    assert_eq!(levels.last().map(|l| l.1), Some(false), "dark once closed");
    sleep(Duration::from_secs(10)).await;
    assert!(drain(&mut rig.led).is_empty(), "and it stays dark");
    rig.shutdown.cancel();
    rig.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_expiring_window_blinks_then_goes_dark() {
    let mut rig = rig(true, false);
    let t0 = now();
    rig.window.send(Some(t0 + Duration::from_secs(12))).unwrap();
    sleep(Duration::from_secs(13)).await;
    let levels: Vec<(u128, bool)> = drain(&mut rig.led)
        .into_iter()
        .map(|(at, lit)| ((at - t0).as_millis(), lit))
        .collect();
    assert_eq!(levels[..3], [(0, true), (2_000, false), (2_250, true)]);
    assert_eq!(levels.last(), Some(&(12_000, false)));
    assert_eq!(
        levels.len(),
        2 + 40,
        "lit, 40 half periods of blinking, dark"
    );
    rig.shutdown.cancel();
    rig.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn active_high_buttons_and_active_low_leds_are_inverted() {
    let mut rig = rig(false, true);
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        drain(&mut rig.led).last().map(|l| l.1),
        Some(true),
        "dark is high"
    );
    bouncy_press(&rig.line, false).await;
    rig.presses.recv().await.unwrap();
    rig.window
        .send(Some(now() + Duration::from_secs(60)))
        .unwrap();
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        drain(&mut rig.led).last().map(|l| l.1),
        Some(false),
        "lit is low"
    );
    rig.shutdown.cancel();
    rig.task.await.unwrap();
    assert_eq!(
        drain(&mut rig.led).last().map(|l| l.1),
        Some(true),
        "dark at the end"
    );
}

#[tokio::test(start_paused = true)]
async fn a_glitch_is_not_a_press() {
    let mut rig = rig(true, false);
    rig.line.send(false).unwrap();
    sleep(Duration::from_millis(20)).await;
    rig.line.send(true).unwrap();
    sleep(Duration::from_secs(1)).await;
    assert!(rig.presses.try_recv().is_err());
    rig.shutdown.cancel();
    rig.task.await.unwrap();
}
