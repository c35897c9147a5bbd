//! The button and LED lines and the task that watches and drives them. Lines sit behind two
//! small traits, [`ButtonLine`] and [`LedLine`], with the real Linux GPIO character device
//! ([`CdevButton`], [`CdevLed`], via gpiocdev) and a simulation ([`SimButton`], [`SimLed`])
//! used by tests. Levels are physical (high = 3.3 V): active-low is applied here, by
//! [`Debouncer`] and [`Led`], the same code for both.

use super::button::{led_lit, led_next_change, ButtonEvent, Debouncer};
use super::settings::{chip_path, Bias, ButtonSettings, LedSettings, PairingSettings};
use gpiocdev::line::{EdgeDetection, EdgeKind, Value};
use gpiocdev::request::Request;
use gpiocdev::tokio::AsyncRequest;
use std::future::Future;
use std::io;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The consumer name the lines are requested under (shown by `gpioinfo`).
pub const CONSUMER: &str = "lockgated";

/// A button's input line.
pub trait ButtonLine: Send {
    /// The physical level now (true: high).
    fn level(&mut self) -> io::Result<bool>;
    /// Waits for the next edge; returns the new physical level.
    fn next_edge(&mut self) -> impl Future<Output = io::Result<bool>> + Send;
}

/// An LED's output line.
pub trait LedLine: Send {
    /// Drives the line high (true) or low.
    fn set(&mut self, high: bool) -> io::Result<()>;
}

fn gpio_error(e: gpiocdev::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// The button on a GPIO character device, with edge detection on both edges.
pub struct CdevButton {
    request: AsyncRequest,
    line: u32,
}

impl CdevButton {
    /// Requests the line of `settings` as an input with its bias. Must run in a Tokio runtime.
    pub fn open(settings: &ButtonSettings) -> io::Result<Self> {
        use gpiocdev::line::Bias as LineBias;
        let bias = match settings.bias() {
            Bias::PullUp => LineBias::PullUp,
            Bias::PullDown => LineBias::PullDown,
            Bias::Disabled => LineBias::Disabled,
        };
        let request = Request::builder()
            .on_chip(chip_path(&settings.chip))
            .with_consumer(CONSUMER)
            .with_line(settings.line)
            .as_input()
            .with_bias(bias)
            .with_edge_detection(EdgeDetection::BothEdges)
            .request()
            .map_err(gpio_error)?;
        Ok(CdevButton {
            request: AsyncRequest::new(request),
            line: settings.line,
        })
    }
}

impl ButtonLine for CdevButton {
    fn level(&mut self) -> io::Result<bool> {
        let request: &Request = self.request.as_ref();
        let value = request.value(self.line).map_err(gpio_error)?;
        Ok(value == Value::Active)
    }

    async fn next_edge(&mut self) -> io::Result<bool> {
        let event = self.request.read_edge_event().await.map_err(gpio_error)?;
        Ok(event.kind == EdgeKind::Rising)
    }
}

/// The LED on a GPIO character device.
pub struct CdevLed {
    request: Request,
    line: u32,
}

impl CdevLed {
    /// Requests the line of `settings` as an output, driven to "off".
    pub fn open(settings: &LedSettings) -> io::Result<Self> {
        let off = if settings.active_low {
            Value::Active
        } else {
            Value::Inactive
        };
        let request = Request::builder()
            .on_chip(chip_path(&settings.chip))
            .with_consumer(CONSUMER)
            .with_line(settings.line)
            .as_output(off)
            .request()
            .map_err(gpio_error)?;
        Ok(CdevLed {
            request,
            line: settings.line,
        })
    }
}

impl LedLine for CdevLed {
    fn set(&mut self, high: bool) -> io::Result<()> {
        let value = if high { Value::Active } else { Value::Inactive };
        self.request.set_value(self.line, value).map_err(gpio_error)
    }
}

/// A simulated button line: tests send the physical levels it takes.
pub struct SimButton {
    level: bool,
    edges: mpsc::UnboundedReceiver<bool>,
}

impl SimButton {
    /// A line at `level`, and the sender that moves it.
    pub fn new(level: bool) -> (Self, mpsc::UnboundedSender<bool>) {
        let (tx, edges) = mpsc::unbounded_channel();
        (SimButton { level, edges }, tx)
    }
}

impl ButtonLine for SimButton {
    fn level(&mut self) -> io::Result<bool> {
        Ok(self.level)
    }

    async fn next_edge(&mut self) -> io::Result<bool> {
        match self.edges.recv().await {
            Some(level) => {
                self.level = level;
                Ok(level)
            }
            None => std::future::pending().await,
        }
    }
}

/// A simulated LED line: every level it is driven to, in order.
pub struct SimLed {
    levels: mpsc::UnboundedSender<bool>,
}

impl SimLed {
    /// A line and the receiver of its levels.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<bool>) {
        let (levels, rx) = mpsc::unbounded_channel();
        (SimLed { levels }, rx)
    }
}

impl LedLine for SimLed {
    fn set(&mut self, high: bool) -> io::Result<()> {
        let _ = self.levels.send(high);
        Ok(())
    }
}

/// An LED line with its polarity, driven only when its state changes.
pub struct Led<L> {
    line: L,
    active_low: bool,
    lit: Option<bool>,
}

impl<L: LedLine> Led<L> {
    /// `line`, lit when high unless `active_low`.
    pub fn new(line: L, active_low: bool) -> Self {
        Led {
            line,
            active_low,
            lit: None,
        }
    }

    /// Lights it or puts it out.
    pub fn show(&mut self, lit: bool) {
        if self.lit == Some(lit) {
            return;
        }
        self.lit = Some(lit);
        if let Err(e) = self.line.set(lit != self.active_low) {
            log::warn!("pairing LED: {e}");
        }
    }
}

/// A button line with its debouncer.
pub struct Button<B> {
    line: B,
    debouncer: Debouncer,
}

impl<B: ButtonLine> Button<B> {
    /// `line` as configured by `settings`, its level read now.
    pub fn new(mut line: B, settings: &ButtonSettings, now: Instant) -> io::Result<Self> {
        let level = line.level()?;
        let debouncer = Debouncer::new(settings.active_low, settings.debounce, level, now);
        Ok(Button { line, debouncer })
    }
}

/// The time on Tokio's clock (paused in tests), as a std `Instant`.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Watches `button` (sending each press to `presses`) and drives `led` from the window's
/// closing time (`None`: closed), until `shutdown`; the LED is put out at the end. A button
/// line that fails is given up (logged); the LED goes on.
pub async fn run<B: ButtonLine, L: LedLine>(
    mut button: Option<Button<B>>,
    mut led: Option<Led<L>>,
    presses: mpsc::Sender<()>,
    mut window: watch::Receiver<Option<Instant>>,
    shutdown: CancellationToken,
) {
    loop {
        let at = now();
        let closes_at = *window.borrow_and_update();
        if let Some(led) = &mut led {
            led.show(led_lit(closes_at, at));
        }
        let debounce = button.as_ref().and_then(|b| b.debouncer.deadline());
        let deadline = [debounce, led_next_change(closes_at, at)]
            .into_iter()
            .flatten()
            .min();
        let edge = async {
            match &mut button {
                Some(b) => b.line.next_edge().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = window.changed() => if changed.is_err() { break },
            level = edge => match level {
                Ok(level) => if let Some(b) = &mut button { b.debouncer.edge(level, now()) },
                Err(e) => {
                    log::error!("pairing button: {e}; the button is not watched any more");
                    button = None;
                }
            },
            () = sleep_until(deadline) => {}
        }
        if let Some(b) = &mut button {
            if b.debouncer.poll(now()) == Some(ButtonEvent::Pressed) {
                log::info!("pairing button pressed");
                if presses.send(()).await.is_err() {
                    break;
                }
            }
        }
    }
    if let Some(led) = &mut led {
        led.show(false);
    }
}

/// Opens the button and LED lines of `settings` and starts [`run`] on `tracker`, if either is
/// configured. A line that cannot be opened is logged and left out: the daemon serves on, and
/// `lockgate pair` still opens the window.
pub fn start(
    settings: &PairingSettings,
    presses: mpsc::Sender<()>,
    window: watch::Receiver<Option<Instant>>,
    shutdown: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) {
    let button = settings.button.as_ref().and_then(|b| {
        let opened = CdevButton::open(b).and_then(|line| Button::new(line, b, now()));
        match opened {
            Ok(button) => {
                log::info!("pairing button on {} line {}", b.chip, b.line);
                Some(button)
            }
            Err(e) => {
                log::error!(
                    "pairing.button: {} line {}: {e}; the button is not watched (check chip and \
                     line with gpioinfo, and that lockgated may use /dev/{})",
                    b.chip,
                    b.line,
                    b.chip
                );
                None
            }
        }
    });
    let led = settings.led.as_ref().and_then(|l| match CdevLed::open(l) {
        Ok(line) => Some(Led::new(line, l.active_low)),
        Err(e) => {
            log::error!("pairing.led: {} line {}: {e}; no LED", l.chip, l.line);
            None
        }
    });
    if button.is_some() || led.is_some() {
        tracker.spawn(run(button, led, presses, window, shutdown));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "gpio_tests.rs"]
mod tests;
