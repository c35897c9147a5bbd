//! The plaintexts inside support records (docs/SUPPORT.md §6): the client's requests and
//! the gateway's welcome, responses and closing notice, as JSON objects.
//!
//! Requests are `{"cmd":"<name>", ...fields}`. The allowed ones are read-mostly (health,
//! links, logs, redacted config) plus three link repairs (reconnect a lock, rescan, reset the
//! adapter) and `quit`. A few commands are defined only to be refused, visibly and always:
//! whatever opens the pairing window, adds or removes a lock, changes the configuration, or
//! touches end-to-end traffic. Readers ignore unknown fields.

use lockgate_wire::LockId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use thiserror::Error;

/// Log lines sent when a `logs` request does not say.
pub const DEFAULT_LOG_LINES: u32 = 100;
/// Most log lines one `logs` request may ask for.
pub const MAX_LOG_LINES: u32 = 500;

/// Commands a support session may run, in the order the welcome lists them.
pub const ALLOWED: [&str; 8] = [
    "health",
    "links",
    "logs",
    "config",
    "reconnect",
    "rescan",
    "reset-adapter",
    "quit",
];

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The health report (docs/GATEWAY.md §1.5).
    Health,
    /// The paired locks and their links: connected, RSSI, last seen, MTU.
    Links,
    /// The most recent log lines (info and above), oldest first.
    Logs {
        /// How many, 1 to [`MAX_LOG_LINES`].
        lines: u32,
    },
    /// The configuration with secrets redacted.
    Config,
    /// Drop and re-establish one lock's link.
    Reconnect {
        /// The lock.
        lock: LockId,
    },
    /// Restart discovery.
    Rescan,
    /// Power-cycle the Bluetooth adapter.
    ResetAdapter,
    /// End the session.
    Quit,
    /// A command no support session may run; always refused.
    Forbidden(Forbidden),
}

/// Commands defined only to be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// Open the pairing window (only physical presence may).
    PairingOpen,
    /// Add a lock.
    LockAdd,
    /// Remove a lock.
    LockRemove,
    /// Change the configuration.
    ConfigSet,
    /// Send a frame to a lock (`<lock>/down`).
    FrameSend,
    /// Read frames from a lock (`<lock>/up`).
    FrameRead,
}

impl Forbidden {
    /// Every forbidden command.
    pub const ALL: [Forbidden; 6] = [
        Forbidden::PairingOpen,
        Forbidden::LockAdd,
        Forbidden::LockRemove,
        Forbidden::ConfigSet,
        Forbidden::FrameSend,
        Forbidden::FrameRead,
    ];

    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Forbidden::PairingOpen => "pairing-open",
            Forbidden::LockAdd => "lock-add",
            Forbidden::LockRemove => "lock-remove",
            Forbidden::ConfigSet => "config-set",
            Forbidden::FrameSend => "frame-send",
            Forbidden::FrameRead => "frame-read",
        }
    }

    /// Why a support session may not do it: the `error` of the refusal.
    pub fn why(self) -> &'static str {
        match self {
            Forbidden::PairingOpen => {
                "refused: a support session cannot open the pairing window; only someone at the gateway can"
            }
            Forbidden::LockAdd | Forbidden::LockRemove => {
                "refused: a support session cannot add or remove locks"
            }
            Forbidden::ConfigSet => "refused: a support session cannot change the configuration",
            Forbidden::FrameSend | Forbidden::FrameRead => {
                "refused: a support session cannot touch end-to-end traffic"
            }
        }
    }
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// Not a JSON object with a string `cmd`.
    #[error("a request is a JSON object with a \"cmd\": {0}")]
    Malformed(String),
    /// A command this gateway does not know.
    #[error("unknown command {0:?}; known: health, links, logs, config, reconnect, rescan, reset-adapter, quit")]
    Unknown(String),
    /// A field is missing or out of range.
    #[error("{0}")]
    BadField(String),
}

impl Request {
    /// The command's name, as logged in the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Health => "health",
            Request::Links => "links",
            Request::Logs { .. } => "logs",
            Request::Config => "config",
            Request::Reconnect { .. } => "reconnect",
            Request::Rescan => "rescan",
            Request::ResetAdapter => "reset-adapter",
            Request::Quit => "quit",
            Request::Forbidden(f) => f.name(),
        }
    }

    /// The JSON plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let value = match self {
            Request::Logs { lines } => json!({"cmd": "logs", "lines": lines}),
            Request::Reconnect { lock } => json!({"cmd": "reconnect", "lock": lock.to_string()}),
            other => json!({"cmd": other.name()}),
        };
        value.to_string().into_bytes()
    }

    /// Reads a JSON plaintext. Forbidden commands are recognised by name alone.
    pub fn decode(bytes: &[u8]) -> Result<Self, RequestError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RequestError::Malformed(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(RequestError::Malformed("not an object".into()));
        };
        let Some(Value::String(cmd)) = fields.get("cmd") else {
            return Err(RequestError::Malformed("no \"cmd\" string".into()));
        };
        if let Some(f) = Forbidden::ALL.into_iter().find(|f| f.name() == cmd) {
            return Ok(Request::Forbidden(f));
        }
        Ok(match cmd.as_str() {
            "health" => Request::Health,
            "links" => Request::Links,
            "logs" => Request::Logs {
                lines: log_lines(&fields)?,
            },
            "config" => Request::Config,
            "reconnect" => Request::Reconnect {
                lock: lock_field(&fields)?,
            },
            "rescan" => Request::Rescan,
            "reset-adapter" => Request::ResetAdapter,
            "quit" => Request::Quit,
            other => return Err(RequestError::Unknown(other.to_owned())),
        })
    }
}

fn log_lines(fields: &Map<String, Value>) -> Result<u32, RequestError> {
    match fields.get("lines") {
        None => Ok(DEFAULT_LOG_LINES),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_LOG_LINES)).contains(n))
            .map(|n| n as u32)
            .ok_or_else(|| {
                RequestError::BadField(format!("\"lines\" must be 1 to {MAX_LOG_LINES}"))
            }),
    }
}

fn lock_field(fields: &Map<String, Value>) -> Result<LockId, RequestError> {
    let text = fields
        .get("lock")
        .and_then(Value::as_str)
        .ok_or_else(|| RequestError::BadField("reconnect needs \"lock\": a lock id".into()))?;
    text.parse()
        .map_err(|e| RequestError::BadField(format!("{text:?} is not a lock id: {e}")))
}

/// How a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Done; `data` holds the answer.
    Ok,
    /// It failed; `error` says why and what to do.
    Error,
    /// A support session may not do this; `error` says so.
    Refused,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The client sent `quit`.
    Quit,
    /// The owner ran `lockgate support stop` (or the gateway is shutting down).
    Stopped,
    /// The session's time ran out.
    Expired,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The counter of the record that carried the request.
    pub in_reply_to: u64,
    /// How it went.
    pub status: Status,
    /// The answer, when `status` is `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// What went wrong, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// The answer to request `in_reply_to`: `Ok(data)` or `Err(error)`.
    pub fn new(in_reply_to: u64, result: Result<Value, String>) -> Self {
        let (status, data, error) = match result {
            Ok(data) => (Status::Ok, Some(data), None),
            Err(error) => (Status::Error, None, Some(error)),
        };
        Response {
            in_reply_to,
            status,
            data,
            error,
        }
    }

    /// The refusal of a forbidden request.
    pub fn refused(in_reply_to: u64, forbidden: Forbidden) -> Self {
        Response {
            in_reply_to,
            status: Status::Refused,
            data: None,
            error: Some(forbidden.why().to_owned()),
        }
    }
}

/// What the gateway sends inside records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The first record of a session.
    Welcome {
        /// The gateway's id.
        gateway: String,
        /// Seconds until the session ends by itself.
        expires_in_s: u64,
        /// The commands this session may run.
        commands: Vec<String>,
    },
    /// The answer to a request.
    Response(Response),
    /// The last record of a session.
    Closed {
        /// Why it ended.
        reason: CloseReason,
    },
}

impl Notice {
    /// The JSON plaintext.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising these types to JSON cannot fail (string keys, no foreign types).
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a JSON plaintext.
    pub fn decode(bytes: &[u8]) -> Result<Self, RequestError> {
        serde_json::from_slice(bytes).map_err(|e| RequestError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
