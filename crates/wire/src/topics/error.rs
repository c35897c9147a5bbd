//! Errors of the topic module: [`TopicError`], and [`Part`], which names the value at fault.

use std::fmt;

/// Which value an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The topic base, e.g. `lockgate/gw1`.
    Base,
    /// The gateway id in the default base.
    GatewayId,
    /// A lock level.
    Lock,
    /// A bridge command (one or more levels).
    Command,
    /// A whole received topic.
    Topic,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base => "topic base",
            Self::GatewayId => "gateway id",
            Self::Lock => "lock name",
            Self::Command => "bridge command",
            Self::Topic => "topic",
        })
    }
}

/// Why a value cannot be (part of) a lockgate topic, or a topic is not a lockgate topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The value is empty.
    #[error("the {part} is empty")]
    Empty {
        /// Which value.
        part: Part,
    },
    /// A level of the value is empty (leading, trailing or doubled `/`).
    #[error(
        "the {part} {value:?} has an empty level: remove the leading, trailing or doubled `/`"
    )]
    EmptyLevel {
        /// Which value.
        part: Part,
        /// The value.
        value: String,
    },
    /// The value contains `+` or `#`.
    #[error("the {part} {value:?} contains an MQTT wildcard (`+` or `#`), which topic names cannot contain")]
    Wildcard {
        /// Which value.
        part: Part,
        /// The value.
        value: String,
    },
    /// The value contains NUL or another control character.
    #[error("the {part} {value:?} contains a control character (such as NUL), which topics must not contain")]
    ControlCharacter {
        /// Which value.
        part: Part,
        /// The value.
        value: String,
    },
    /// A single-level value contains `/`.
    #[error("the {part} {value:?} must be a single topic level but contains `/`")]
    Slash {
        /// Which value.
        part: Part,
        /// The value.
        value: String,
    },
    /// The base starts with `$`.
    #[error(
        "the topic base {value:?} starts with `$`, which brokers reserve for their own topics"
    )]
    DollarBase {
        /// The base.
        value: String,
    },
    /// A lock level is `bridge`.
    #[error("`bridge` cannot be a lock name: that level holds the gateway's own topics")]
    ReservedLock,
    /// The topic would be, or is, longer than 65535 bytes.
    #[error(
        "the {part} is {len} bytes long, too long for an MQTT topic (at most 65535 bytes in all)"
    )]
    TooLong {
        /// Which value.
        part: Part,
        /// Its length in bytes.
        len: usize,
    },
    /// A received topic is not under this gateway's base.
    #[error("the topic {topic:?} is not under this gateway's base {base:?}")]
    OtherBase {
        /// The topic.
        topic: String,
        /// The base.
        base: String,
    },
    /// A received topic is under the base but is not a lockgate topic.
    #[error("the topic {topic:?} is not a lockgate topic")]
    Unknown {
        /// The topic.
        topic: String,
    },
    /// The auth id level is not a canonical decimal u32.
    #[error("{value:?} is not an auth id: expected a decimal number 0..=4294967295 without sign or leading zeros")]
    BadAuthId {
        /// The level.
        value: String,
    },
}
