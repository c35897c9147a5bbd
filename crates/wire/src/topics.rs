//! MQTT topic names: builders, subscription filters, and the parser for incoming topics.
//!
//! Every topic lives under a base, by default `lockgate/<gateway-id>`. Values are validated
//! once: [`Topics::new`] checks the base and [`Topics::lock`] a lock level, after which every
//! builder is infallible. Bridge commands (`<cmd>`) may span several levels (`pairing/close`).
//! A level is never empty and never contains `+`, `#` or a control character (U+0000-U+001F,
//! U+007F-U+009F); the base does not start with `$`; a lock is never named `bridge`; a topic
//! is at most 65535 bytes.
//!
//! ```
//! use lockgate_wire::topics::{Topic, Topics};
//! use lockgate_wire::LockId;
//!
//! let topics = Topics::for_gateway("gw1")?;
//! let lock: LockId = "0123456789abcdef".parse()?;
//! let up = topics.for_lock(&lock).up(42);
//! assert_eq!(up, "lockgate/gw1/0123456789abcdef/up/42");
//! assert_eq!(topics.up_filter(42), "lockgate/gw1/+/up/42");
//! let parsed = topics.parse(&up)?;
//! assert_eq!(parsed, Topic::Up { lock: lock.to_string(), auth_id: 42 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::lock_id::{LockId, LOCK_ID_HEX_LEN};

mod error;
mod parse;

pub use error::{Part, TopicError};

/// Longest topic MQTT allows, in bytes of UTF-8.
pub const MAX_TOPIC_LEN: usize = 65535;

/// First level of the default base, `lockgate/<gateway-id>`.
pub const DEFAULT_BASE_PREFIX: &str = "lockgate";

/// The level under the base that holds the gateway's own topics; no lock may use it.
pub const BRIDGE: &str = "bridge";

/// Longest suffix after a lock level: `/up/4294967295`.
const LONGEST_LOCK_SUFFIX: usize = "/up/4294967295".len();

/// Longest suffix a base must leave room for: `/` + a lock id + [`LONGEST_LOCK_SUFFIX`].
const LONGEST_FIXED_SUFFIX: usize = 1 + LOCK_ID_HEX_LEN + LONGEST_LOCK_SUFFIX;

/// A received topic, decoded. [`Topics::parse`] yields it; [`Topics::build`] inverts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `<base>/bridge/state`
    BridgeState,
    /// `<base>/bridge/info`
    BridgeInfo,
    /// `<base>/bridge/locks`
    BridgeLocks,
    /// `<base>/bridge/event`
    BridgeEvent,
    /// `<base>/bridge/health`
    BridgeHealth,
    /// `<base>/bridge/request/<cmd>`
    BridgeRequest {
        /// The command, one or more levels, e.g. `pairing/close`.
        cmd: String,
    },
    /// `<base>/bridge/response/<cmd>`
    BridgeResponse {
        /// The command, one or more levels.
        cmd: String,
    },
    /// `<base>/<lock>/availability`
    Availability {
        /// The lock level.
        lock: String,
    },
    /// `<base>/<lock>/link`
    Link {
        /// The lock level.
        lock: String,
    },
    /// `<base>/<lock>/up/<auth_id>`
    Up {
        /// The lock level.
        lock: String,
        /// The auth id the frame is addressed to.
        auth_id: u32,
    },
    /// `<base>/<lock>/down`
    Down {
        /// The lock level.
        lock: String,
    },
    /// `<base>/<lock>/delivery`
    Delivery {
        /// The lock level.
        lock: String,
    },
}

impl Topic {
    /// The lock level, for per-lock topics.
    pub fn lock(&self) -> Option<&str> {
        match self {
            Self::Availability { lock }
            | Self::Link { lock }
            | Self::Up { lock, .. }
            | Self::Down { lock }
            | Self::Delivery { lock } => Some(lock),
            _ => None,
        }
    }
}

/// The topics of one gateway, under one validated base.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topics {
    base: String,
}

/// The topics of one lock under one base; made by [`Topics::lock`] or [`Topics::for_lock`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockTopics {
    /// `<base>/<lock>`
    prefix: String,
    /// Byte offset of `<lock>` in `prefix`.
    lock_start: usize,
}

impl Topics {
    /// Topics under `base`, one or more levels such as `home/lockgate/gw1`.
    pub fn new(base: &str) -> Result<Self, TopicError> {
        check_levels(Part::Base, base)?;
        if base.starts_with('$') {
            return Err(TopicError::DollarBase {
                value: base.to_owned(),
            });
        }
        if base.len() > MAX_TOPIC_LEN - LONGEST_FIXED_SUFFIX {
            return Err(TopicError::TooLong {
                part: Part::Base,
                len: base.len(),
            });
        }
        Ok(Self {
            base: base.to_owned(),
        })
    }

    /// Topics under the default base `lockgate/<gateway_id>`; the id is a single level.
    pub fn for_gateway(gateway_id: &str) -> Result<Self, TopicError> {
        check_level(Part::GatewayId, gateway_id)?;
        Self::new(&format!("{DEFAULT_BASE_PREFIX}/{gateway_id}"))
    }

    /// The base, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `<base>/bridge/state`: retained `online`/`offline`, also the last will.
    pub fn bridge_state(&self) -> String {
        self.bridge("state")
    }

    /// `<base>/bridge/info`: retained version, gateway id, pairing window state.
    pub fn bridge_info(&self) -> String {
        self.bridge("info")
    }

    /// `<base>/bridge/locks`: retained list of paired locks and their link state.
    pub fn bridge_locks(&self) -> String {
        self.bridge("locks")
    }

    /// `<base>/bridge/event`: gateway events.
    pub fn bridge_event(&self) -> String {
        self.bridge("event")
    }

    /// `<base>/bridge/health`: retained health figures.
    pub fn bridge_health(&self) -> String {
        self.bridge("health")
    }

    /// `<base>/bridge/request/<cmd>`; `cmd` may span levels (`pairing/close`).
    pub fn bridge_request(&self, cmd: &str) -> Result<String, TopicError> {
        self.bridge_command("request", cmd)
    }

    /// `<base>/bridge/response/<cmd>`; also the filter an endpoint subscribes to for replies.
    pub fn bridge_response(&self, cmd: &str) -> Result<String, TopicError> {
        self.bridge_command("response", cmd)
    }

    /// Filter `<base>/bridge/request/#`: every bridge request (the gateway subscribes).
    pub fn bridge_request_filter(&self) -> String {
        self.bridge("request/#")
    }

    /// Filter `<base>/+/down`: down frames for every lock (the gateway subscribes).
    pub fn down_filter(&self) -> String {
        format!("{}/+/down", self.base)
    }

    /// Filter `<base>/+/up/<auth_id>`: an endpoint's up frames from every lock.
    pub fn up_filter(&self, auth_id: u32) -> String {
        format!("{}/+/up/{auth_id}", self.base)
    }

    /// The topics of the lock whose level is `lock` (a single level, not `bridge`).
    pub fn lock(&self, lock: &str) -> Result<LockTopics, TopicError> {
        check_level(Part::Lock, lock)?;
        if lock == BRIDGE {
            return Err(TopicError::ReservedLock);
        }
        let len = self.base.len() + 1 + lock.len() + LONGEST_LOCK_SUFFIX;
        if len > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong {
                part: Part::Lock,
                len,
            });
        }
        Ok(self.lock_unchecked(lock))
    }

    /// The topics of the lock with id `lock`, whose level is the id's hex form.
    pub fn for_lock(&self, lock: &LockId) -> LockTopics {
        // A lock id is 16 hex digits, and `new` left room for them.
        self.lock_unchecked(&lock.to_string())
    }

    /// The topic for `topic`; fails only if a lock or command in it is invalid.
    pub fn build(&self, topic: &Topic) -> Result<String, TopicError> {
        Ok(match topic {
            Topic::BridgeState => self.bridge_state(),
            Topic::BridgeInfo => self.bridge_info(),
            Topic::BridgeLocks => self.bridge_locks(),
            Topic::BridgeEvent => self.bridge_event(),
            Topic::BridgeHealth => self.bridge_health(),
            Topic::BridgeRequest { cmd } => self.bridge_request(cmd)?,
            Topic::BridgeResponse { cmd } => self.bridge_response(cmd)?,
            Topic::Availability { lock } => self.lock(lock)?.availability(),
            Topic::Link { lock } => self.lock(lock)?.link(),
            Topic::Up { lock, auth_id } => self.lock(lock)?.up(*auth_id),
            Topic::Down { lock } => self.lock(lock)?.down(),
            Topic::Delivery { lock } => self.lock(lock)?.delivery(),
        })
    }

    /// Decodes a received topic; see `topics/parse.rs`.
    pub fn parse(&self, topic: &str) -> Result<Topic, TopicError> {
        parse::parse(&self.base, topic)
    }

    fn bridge(&self, suffix: &str) -> String {
        format!("{}/{BRIDGE}/{suffix}", self.base)
    }

    fn bridge_command(&self, direction: &str, cmd: &str) -> Result<String, TopicError> {
        check_levels(Part::Command, cmd)?;
        let topic = self.bridge(&format!("{direction}/{cmd}"));
        if topic.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong {
                part: Part::Command,
                len: topic.len(),
            });
        }
        Ok(topic)
    }

    fn lock_unchecked(&self, lock: &str) -> LockTopics {
        LockTopics {
            prefix: format!("{}/{lock}", self.base),
            lock_start: self.base.len() + 1,
        }
    }
}

impl LockTopics {
    /// The lock level.
    pub fn lock(&self) -> &str {
        self.prefix.get(self.lock_start..).unwrap_or_default()
    }

    /// `<base>/<lock>/availability`: retained `online`/`offline`.
    pub fn availability(&self) -> String {
        format!("{}/availability", self.prefix)
    }

    /// `<base>/<lock>/link`: retained rssi, connected, last seen.
    pub fn link(&self) -> String {
        format!("{}/link", self.prefix)
    }

    /// `<base>/<lock>/up/<auth_id>`: frames from the lock for one pairing or authorization.
    pub fn up(&self, auth_id: u32) -> String {
        format!("{}/up/{auth_id}", self.prefix)
    }

    /// `<base>/<lock>/down`: frames for the lock.
    pub fn down(&self) -> String {
        format!("{}/down", self.prefix)
    }

    /// `<base>/<lock>/delivery`: one receipt per down frame.
    pub fn delivery(&self) -> String {
        format!("{}/delivery", self.prefix)
    }
}

/// Checks a value of one level: non-empty, no `/`, no wildcard, no control character.
fn check_level(part: Part, value: &str) -> Result<(), TopicError> {
    if value.contains('/') {
        return Err(TopicError::Slash {
            part,
            value: value.to_owned(),
        });
    }
    check_levels(part, value)
}

/// Checks a value of one or more levels: no empty level, no wildcard, no control character.
fn check_levels(part: Part, value: &str) -> Result<(), TopicError> {
    if value.is_empty() {
        return Err(TopicError::Empty { part });
    }
    if value.contains(['+', '#']) {
        return Err(TopicError::Wildcard {
            part,
            value: value.to_owned(),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(TopicError::ControlCharacter {
            part,
            value: value.to_owned(),
        });
    }
    if value.split('/').any(str::is_empty) {
        return Err(TopicError::EmptyLevel {
            part,
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
