//! `[pairing]` of the configuration: the default window length and the optional button and
//! LED lines. Without `[pairing.button]` only `lockgate pair` opens the window.

use super::{Seconds, DEFAULT_SECONDS};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[pairing]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingSettings {
    /// How long a window opened by the button, or by `lockgate pair` without `--seconds`,
    /// stays open (1 to 254).
    #[serde(default = "default_seconds")]
    pub seconds: u64,
    /// The button that opens (and closes) the window.
    pub button: Option<ButtonSettings>,
    /// The LED lit while the window is open.
    pub led: Option<LedSettings>,
}

impl Default for PairingSettings {
    fn default() -> Self {
        PairingSettings {
            seconds: default_seconds(),
            button: None,
            led: None,
        }
    }
}

/// How the button's line is biased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bias {
    /// The internal pull-up (a button to ground).
    PullUp,
    /// The internal pull-down (a button to 3.3 V).
    PullDown,
    /// No internal bias (an external resistor).
    Disabled,
}

/// `[pairing.button]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonSettings {
    /// The GPIO chip (`gpiochip0`, or a path like `/dev/gpiochip0`).
    #[serde(default = "default_chip")]
    pub chip: String,
    /// The line's offset on the chip (BCM GPIO number on a Raspberry Pi: 17).
    pub line: u32,
    /// Pressed pulls the line low (default: a button to ground).
    #[serde(default = "yes")]
    pub active_low: bool,
    /// Default: `pull_up` when active low, else `pull_down`.
    pub bias: Option<Bias>,
    /// The level must hold this long to count (default 50 ms; 1 ms to 1 s).
    #[serde(default = "default_debounce", with = "humantime_serde")]
    pub debounce: Duration,
}

impl ButtonSettings {
    /// The bias to request.
    pub fn bias(&self) -> Bias {
        self.bias.unwrap_or(if self.active_low {
            Bias::PullUp
        } else {
            Bias::PullDown
        })
    }
}

/// `[pairing.led]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedSettings {
    /// The GPIO chip (`gpiochip0`, or a path).
    #[serde(default = "default_chip")]
    pub chip: String,
    /// The line's offset on the chip (BCM GPIO number on a Raspberry Pi: 27).
    pub line: u32,
    /// The LED lights when the line is low (default: false, lit when high).
    #[serde(default)]
    pub active_low: bool,
}

/// The device path of a chip given as a name (`gpiochip0`) or a path.
pub fn chip_path(chip: &str) -> PathBuf {
    if chip.contains('/') {
        PathBuf::from(chip)
    } else {
        PathBuf::from("/dev").join(chip)
    }
}

impl PairingSettings {
    /// The default window length.
    pub fn window(&self) -> Seconds {
        Seconds::new(self.seconds).unwrap_or(Seconds::DEFAULT)
    }

    /// What is wrong, as (key, message); `None` if nothing.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if let Err(e) = Seconds::new(self.seconds) {
            return Some(("pairing.seconds", e));
        }
        let chip_ok = |chip: &str| !chip.trim().is_empty();
        if let Some(button) = &self.button {
            if !chip_ok(&button.chip) {
                return Some(("pairing.button.chip", "must name a GPIO chip".into()));
            }
            let debounce = button.debounce;
            if debounce < Duration::from_millis(1) || debounce > Duration::from_secs(1) {
                return Some((
                    "pairing.button.debounce",
                    "must be 1ms to 1s (50ms suits most push buttons)".into(),
                ));
            }
        }
        if let Some(led) = &self.led {
            if !chip_ok(&led.chip) {
                return Some(("pairing.led.chip", "must name a GPIO chip".into()));
            }
            let same_line = self
                .button
                .as_ref()
                .is_some_and(|b| chip_path(&b.chip) == chip_path(&led.chip) && b.line == led.line);
            if same_line {
                return Some((
                    "pairing.led.line",
                    "is the button's line; wire the LED to another GPIO".into(),
                ));
            }
        }
        None
    }
}

fn default_seconds() -> u64 {
    u64::from(DEFAULT_SECONDS)
}

fn default_chip() -> String {
    "gpiochip0".into()
}

fn default_debounce() -> Duration {
    Duration::from_millis(50)
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PairingSettings {
        #[derive(Deserialize)]
        struct File {
            pairing: PairingSettings,
        }
        let file: File = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        file.pairing
    }

    #[test]
    fn a_button_to_ground_is_the_default_wiring() {
        let s = parse("[pairing.button]\nline = 17\n");
        let button = s.button.unwrap();
        assert_eq!(button.chip, "gpiochip0");
        assert!(button.active_low);
        assert_eq!(button.bias(), Bias::PullUp);
        assert_eq!(button.debounce, Duration::from_millis(50));
        assert_eq!(s.seconds, 60);
        assert_eq!(chip_path(&button.chip), PathBuf::from("/dev/gpiochip0"));
        assert_eq!(chip_path("/dev/gpiochip4"), PathBuf::from("/dev/gpiochip4"));
    }

    #[test]
    fn window_lengths_outside_1_to_254_seconds_are_refused() {
        for bad in [0, 255, 1000] {
            let s = PairingSettings {
                seconds: bad,
                ..PairingSettings::default()
            };
            assert_eq!(s.problem().map(|p| p.0), Some("pairing.seconds"), "{bad}");
        }
        for good in [1, 60, 254] {
            let s = PairingSettings {
                seconds: good,
                ..PairingSettings::default()
            };
            assert_eq!(s.problem(), None);
            assert_eq!(u64::from(s.window().get()), good);
        }
    }

    #[test]
    fn a_debounce_outside_1ms_to_1s_and_an_led_on_the_button_line_are_refused() {
        let s = parse("[pairing.button]\nline = 17\ndebounce = \"5s\"\n");
        assert_eq!(s.problem().map(|p| p.0), Some("pairing.button.debounce"));
        let s = parse("[pairing.button]\nline = 17\n[pairing.led]\nline = 17\n");
        assert_eq!(s.problem().map(|p| p.0), Some("pairing.led.line"));
        let s = parse("[pairing.button]\nline = 17\n[pairing.led]\nline = 27\n");
        assert_eq!(s.problem(), None);
    }
}
