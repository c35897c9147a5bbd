//! The control protocol between `lockgated` and the `lockgate` CLI (docs/GATEWAY.md §4):
//! versioned request, response and event messages, and the line codec that carries them
//! (one JSON object per line, at most [`MAX_LINE`] bytes). No sockets here: see
//! `control_server` and `control_client`.
//!
//! One request streams: `pair` (opening or extending the pairing window) is answered with
//! the window's state and, while the window is open, followed by `pairing_event` lines with
//! the request's id, up to and including `pairing_window_closed`. A client that never sends
//! `pair` never sees one.

use crate::pairing::{PairingEvent, Passkey, Seconds, WindowState};
use lockgate_wire::LockId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use thiserror::Error;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The protocol version this build speaks (and the only one it serves).
pub const CONTROL_VERSION: u32 = 1;

/// The longest line accepted, newline excluded.
pub const MAX_LINE: usize = 64 * 1024;

/// A request line: `{"version":1,"id":7,"type":"status"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RequestEnvelope {
    /// The protocol version the client speaks.
    pub version: u32,
    /// Chosen by the client; the response echoes it.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub request: Request,
}

/// What a client asks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's state: answered with [`Response::Status`].
    Status,
    /// The paired locks: answered with [`Response::Locks`].
    Locks,
    /// Pair a lock already bonded and seen in discovery: answered with [`Response::Ok`].
    LocksAdd {
        /// The lock.
        #[serde(with = "lock_id_text")]
        lock: LockId,
    },
    /// Forget a lock, its bond and its retained topics: answered with [`Response::Ok`].
    LocksRemove {
        /// The lock.
        #[serde(with = "lock_id_text")]
        lock: LockId,
    },
    /// Open the pairing window (or give the open one more time or a passkey), or with `stop`
    /// close it: answered with [`Response::Pairing`], then, while it is open,
    /// [`Response::PairingEvent`] lines until it closes.
    Pair {
        /// How long (1 to 254 s); default `pairing.seconds` of the configuration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<Seconds>,
        /// The 6-digit passkey a lock asks for while bonding in this window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passkey: Option<Passkey>,
        /// Close the window instead.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stop: bool,
    },
    /// Start a one-time remote support code (docs/GATEWAY.md §7): answered with
    /// [`Response::SupportCode`].
    SupportStart {
        /// How long the code is valid (60 to 3600 s); default `support.code_validity`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_s: Option<u64>,
    },
    /// The state of remote support: answered with [`Response::SupportStatus`].
    SupportStatus,
    /// Cancel the code and end any support session: answered with [`Response::Ok`].
    SupportStop,
}

impl Request {
    /// Whether the answer may be followed by event lines (see [`Response::starts_stream`]).
    pub fn may_stream(&self) -> bool {
        matches!(self, Request::Pair { stop: false, .. })
    }
}

/// A response line: `{"version":1,"id":7,"type":"ok"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ResponseEnvelope {
    /// The protocol version of the daemon.
    pub version: u32,
    /// The id of the request answered; `None` (`null`) when the line was not a request.
    pub id: Option<u64>,
    /// The answer.
    #[serde(flatten)]
    pub response: Response,
}

impl ResponseEnvelope {
    /// The answer `response` to the request `id`, in this version.
    pub fn new(id: Option<u64>, response: Response) -> Self {
        ResponseEnvelope {
            version: CONTROL_VERSION,
            id,
            response,
        }
    }

    /// An error answer; `error` says what happened and what to do.
    pub fn error(id: Option<u64>, error: impl Into<String>) -> Self {
        Self::new(
            id,
            Response::Error {
                error: error.into(),
            },
        )
    }
}

/// What the daemon answers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The answer to [`Request::Status`].
    Status {
        /// The daemon's state.
        status: StatusReport,
    },
    /// The answer to [`Request::Locks`]: the paired locks, in lock id order.
    Locks {
        /// The locks.
        locks: Vec<LockReport>,
    },
    /// Done.
    Ok,
    /// Not done.
    Error {
        /// What happened and what to do.
        error: String,
    },
    /// The answer to [`Request::Pair`]: the window's state now.
    Pairing {
        /// The window.
        pairing: WindowState,
    },
    /// Something the pairing window did, sent after [`Response::Pairing`] with the `pair`
    /// request's id while the window is open.
    PairingEvent {
        /// What happened (`{"type":"lock_paired","data":{...}}`).
        event: PairingEvent,
        /// When (Unix seconds).
        time: u64,
    },
    /// The answer to [`Request::SupportStart`]: the code, for the owner only.
    SupportCode {
        /// The code, grouped (`498-520-790-474`).
        code: String,
        /// Seconds until it expires.
        expires_in_s: u64,
    },
    /// The answer to [`Request::SupportStatus`].
    SupportStatus {
        /// `{"enabled":..,"code":..,"handshake":..,"session":..,"throttle":..}`.
        support: serde_json::Value,
    },
}

impl Response {
    /// Whether this answer to a [`Request::may_stream`] request starts a stream of events.
    pub fn starts_stream(&self) -> bool {
        matches!(self, Response::Pairing { pairing } if pairing.open)
    }

    /// Whether this is the last line of a stream.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Response::PairingEvent {
                event: PairingEvent::PairingWindowClosed { .. },
                ..
            }
        )
    }
}

/// Messages the daemon will push without being asked. Reserved: version 1 never sends
/// them. A later version will let a client subscribe and then send these, without an
/// `id`, between responses; a client of version 1 never sees one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A lock was paired.
    LockAdded {
        /// The lock.
        #[serde(with = "lock_id_text")]
        lock: LockId,
    },
    /// A lock was removed.
    LockRemoved {
        /// The lock.
        #[serde(with = "lock_id_text")]
        lock: LockId,
    },
}

/// The daemon's state, as `lockgate status` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusReport {
    /// The daemon's version (`0.1.0`).
    pub version: String,
    /// `gateway.id` of the configuration.
    pub gateway_id: String,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// The broker connection.
    pub mqtt: MqttStatus,
    /// The Bluetooth adapter and links.
    pub ble: BleStatus,
    /// Up-frames not yet acknowledged by the broker.
    pub spool: SpoolStatus,
    /// The counters of the health report (docs/GATEWAY.md §1.5), by name.
    pub counters: BTreeMap<String, u64>,
    /// Whether the pairing window is open.
    pub pairing_open: bool,
    /// The pairing window (absent from daemons before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing: Option<WindowState>,
}

/// The broker connection, in a [`StatusReport`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MqttStatus {
    /// Whether the connection is up (ConnAck received).
    pub connected: bool,
    /// `host:port`.
    pub broker: String,
    /// The last connection error (never with credentials), if any.
    pub last_error: Option<String>,
}

/// The Bluetooth side, in a [`StatusReport`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BleStatus {
    /// The adapter's name (`hci0`).
    pub adapter: String,
    /// Whether the adapter is present and powered.
    pub powered: bool,
    /// Links up now.
    pub links: u32,
    /// `ble.max_connections`.
    pub max_connections: u32,
}

/// The spool, in a [`StatusReport`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SpoolStatus {
    /// Frames waiting for the broker's acknowledgement.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames dropped because the spool was full, since start.
    pub dropped: u64,
}

/// One paired lock, in [`Response::Locks`] (docs/GATEWAY.md §1.3, with `mtu`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LockReport {
    /// The lock.
    #[serde(with = "lock_id_text")]
    pub id: LockId,
    /// Its Bluetooth address (`C0:FF:EE:00:00:01`).
    pub address: String,
    /// Its name, given when paired.
    pub name: String,
    /// `on_demand` or `persistent`.
    pub link_policy: String,
    /// Whether its link is up.
    pub connected: bool,
    /// Signal strength when last heard (dBm); `None` until heard.
    pub rssi: Option<i16>,
    /// When last heard (Unix seconds); `None` until heard.
    pub last_seen: Option<u64>,
    /// The ATT MTU of the link; `None` when not connected.
    pub mtu: Option<u16>,
}

/// Serialises a [`LockId`] as its 16-hex-digit text (`#[serde(with = "lock_id_text")]`).
pub mod lock_id_text {
    use lockgate_wire::LockId;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the lowercase text form.
    pub fn serialize<S: Serializer>(id: &LockId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    /// Reads the text form (either case).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LockId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// A line that cannot be read.
#[derive(Debug, Error)]
pub enum LineError {
    /// The peer sent more than [`MAX_LINE`] bytes without a newline.
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One message as a line: compact JSON and a newline.
pub fn encode_line<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

/// Reads the next line into `line` (cleared first, newline dropped). Returns `false` at the
/// end of the stream when nothing was read; a last line without newline is still a line.
/// After [`LineError::TooLong`] the stream is mid-line: close the connection.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> Result<bool, LineError> {
    line.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(!line.is_empty());
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end, true),
            None => (available.len(), false),
        };
        if line.len() + taken > MAX_LINE {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(&available[..taken]);
        reader.consume(if done { taken + 1 } else { taken });
        if done {
            return Ok(true);
        }
    }
}

/// A line that is not a request this daemon serves; answer it with [`BadRequest::response`].
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{message}")]
pub struct BadRequest {
    /// The line's `id`, if it has one.
    pub id: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl BadRequest {
    /// The error response to send back.
    pub fn response(self) -> ResponseEnvelope {
        ResponseEnvelope::error(self.id, self.message)
    }
}

/// Reads a request line of this version.
pub fn decode_request(line: &[u8]) -> Result<RequestEnvelope, BadRequest> {
    let bad = |id, message| BadRequest { id, message };
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| bad(None, format!("not a JSON request: {e}")))?;
    let id = value.get("id").and_then(serde_json::Value::as_u64);
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(CONTROL_VERSION)) {
        return Err(bad(id, version_mismatch(version)));
    }
    serde_json::from_value(value).map_err(|e| bad(id, format!("not a valid request: {e}")))
}

/// The error text for a request of an unserved version (`None`: none given).
fn version_mismatch(found: Option<u64>) -> String {
    let found = found.map_or_else(
        || "no protocol version".to_owned(),
        |v| format!("version {v}"),
    );
    format!(
        "{found} requested, but this lockgated serves version {CONTROL_VERSION} only: \
         use the lockgate CLI of the same release"
    )
}

/// Reads a response line.
pub fn decode_response(line: &[u8]) -> Result<ResponseEnvelope, serde_json::Error> {
    serde_json::from_slice(line)
}

#[cfg(test)]
#[path = "control_tests.rs"]
pub(crate) mod tests;
