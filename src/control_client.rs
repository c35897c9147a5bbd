//! The CLI's end of the control socket (docs/GATEWAY.md §4): connect, send a request, read
//! its response; and the human-readable rendering of the answers (`lockgate status`,
//! `lockgate locks`).

use crate::control::{
    decode_response, encode_line, read_line, LineError, LockReport, Request, RequestEnvelope,
    Response, ResponseEnvelope, StatusReport, CONTROL_VERSION,
};
use crate::control_server::GROUP;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::timeout;

/// The socket used when neither `--socket` nor a readable configuration names one.
pub const DEFAULT_SOCKET: &str = "/run/lockgate/control.sock";

/// How long the daemon may take to answer (removing a lock's bond can take seconds).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemon cannot be asked.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error(
        "{}: cannot connect ({error}); is lockgated running? (systemctl status lockgated)",
        path.display()
    )]
    NotRunning {
        /// The socket.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The socket's permissions keep us out.
    #[error(
        "{}: permission denied: run as root or as a member of group {GROUP}",
        path.display()
    )]
    PermissionDenied {
        /// The socket.
        path: PathBuf,
    },
    /// The connection failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The daemon hung up without answering.
    #[error(
        "{}: lockgated closed the connection without answering; see journalctl -u lockgated",
        path.display()
    )]
    Closed {
        /// The socket.
        path: PathBuf,
    },
    /// The daemon did not answer in time.
    #[error(
        "{}: no answer from lockgated within {}s; see journalctl -u lockgated",
        path.display(), ANSWER_TIMEOUT.as_secs()
    )]
    Timeout {
        /// The socket.
        path: PathBuf,
    },
    /// The daemon's answer makes no sense.
    #[error(
        "{}: unexpected answer from lockgated ({reason}); are lockgate and lockgated of the \
         same release?", path.display()
    )]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// A response as received: the line itself (for `--json`) and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The response line, without its newline.
    pub line: String,
    /// The parsed response.
    pub envelope: ResponseEnvelope,
}

impl Reply {
    /// The answer.
    pub fn response(&self) -> &Response {
        &self.envelope.response
    }
}

/// A connection to `lockgated`.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl Client {
    /// Connects to the daemon's control socket at `path`.
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).await.map_err(|error| {
            let path = path.to_path_buf();
            match error.kind() {
                io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path },
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning { path, error }
                }
                _ => ClientError::Io { path, error },
            }
        })?;
        let (read, writer) = stream.into_split();
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(read),
            writer,
            next_id: 1,
        })
    }

    /// Sends `request` and reads its response. An error response is a [`Reply`] too; so is
    /// an error the daemon sends without an id (permission denied, too many clients).
    pub async fn request(&mut self, request: Request) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let envelope = RequestEnvelope {
            version: CONTROL_VERSION,
            id,
            request,
        };
        match timeout(ANSWER_TIMEOUT, self.exchange(&envelope)).await {
            Ok(reply) => reply,
            Err(_) => Err(ClientError::Timeout {
                path: self.path.clone(),
            }),
        }
    }

    async fn exchange(&mut self, envelope: &RequestEnvelope) -> Result<Reply, ClientError> {
        let line = encode_line(envelope).map_err(|e| self.io_error(e.into()))?;
        let written = self.writer.write_all(&line).await;
        written.map_err(|e| self.io_error(e))?;
        self.read_reply(envelope.id).await
    }

    /// The next event line following `reply` (the answer to a request that streams, see
    /// [`Response::starts_stream`]), waiting at most `limit`.
    pub async fn next_event(
        &mut self,
        reply: &Reply,
        limit: Duration,
    ) -> Result<Reply, ClientError> {
        let id = reply.envelope.id.unwrap_or_default();
        match timeout(limit, self.read_reply(id)).await {
            Ok(reply) => reply,
            Err(_) => Err(ClientError::Timeout {
                path: self.path.clone(),
            }),
        }
    }

    async fn read_reply(&mut self, id: u64) -> Result<Reply, ClientError> {
        let mut line = Vec::new();
        match read_line(&mut self.reader, &mut line).await {
            Ok(true) => self.check(id, line),
            Ok(false) => Err(ClientError::Closed {
                path: self.path.clone(),
            }),
            Err(LineError::Io(error)) => Err(self.io_error(error)),
            Err(e @ LineError::TooLong) => Err(self.protocol(e.to_string())),
        }
    }

    fn io_error(&self, error: io::Error) -> ClientError {
        ClientError::Io {
            path: self.path.clone(),
            error,
        }
    }

    /// Parses the answer to request `id`.
    fn check(&self, id: u64, line: Vec<u8>) -> Result<Reply, ClientError> {
        let envelope = decode_response(&line).map_err(|e| self.protocol(e.to_string()))?;
        let unsolicited_error =
            envelope.id.is_none() && matches!(envelope.response, Response::Error { .. });
        if envelope.id != Some(id) && !unsolicited_error {
            let answered = envelope.id.map_or_else(|| "none".into(), |i| i.to_string());
            let reason = format!("the answer is to request {answered}, not {id}");
            return Err(self.protocol(reason));
        }
        let line = String::from_utf8(line).map_err(|e| self.protocol(e.to_string()))?;
        Ok(Reply { line, envelope })
    }

    fn protocol(&self, reason: String) -> ClientError {
        ClientError::Protocol {
            path: self.path.clone(),
            reason,
        }
    }
}

/// `lockgate status`: one `key: value` line each.
pub fn render_status(status: &StatusReport) -> String {
    let mqtt = &status.mqtt;
    let mut rows = vec![
        ["version:".into(), status.version.clone()],
        ["gateway:".into(), status.gateway_id.clone()],
        ["uptime:".into(), duration_text(status.uptime_s)],
        [
            "mqtt:".into(),
            format!(
                "{} {}",
                if mqtt.connected {
                    "connected to"
                } else {
                    "not connected to"
                },
                mqtt.broker
            ),
        ],
    ];
    if let Some(error) = &mqtt.last_error {
        rows.push(["mqtt last error:".into(), printable(error)]);
    }
    let ble = &status.ble;
    let (spool, power) = (
        &status.spool,
        if ble.powered {
            "powered"
        } else {
            "powered off"
        },
    );
    rows.extend([
        [
            "ble:".into(),
            format!(
                "{} {power}, {} of {} links",
                ble.adapter, ble.links, ble.max_connections
            ),
        ],
        [
            "spool:".into(),
            format!(
                "{} frames, {} bytes, {} dropped",
                spool.frames, spool.bytes, spool.dropped
            ),
        ],
        ["pairing:".into(), pairing_text(status)],
    ]);
    let mut text = aligned(&rows);
    if !status.counters.is_empty() {
        text.push_str("counters:\n");
        let counters: Vec<[String; 3]> = (status.counters.iter())
            .map(|(name, value)| {
                [
                    String::new(),
                    format!("{}:", printable(name)),
                    value.to_string(),
                ]
            })
            .collect();
        text.push_str(&aligned(&counters));
    }
    text
}

/// The pairing window in `lockgate status`: `closed`, `open`, or `open, 42s left`.
fn pairing_text(status: &StatusReport) -> String {
    let left = status.pairing.as_ref().and_then(|p| p.seconds_left);
    match (status.pairing_open, left) {
        (true, Some(left)) => format!("open, {left}s left"),
        (true, None) => "open".into(),
        (false, _) => "closed".into(),
    }
}

/// `lockgate locks`: a table, one lock a line; `now` (Unix seconds) dates `last_seen`.
pub fn render_locks(locks: &[LockReport], now: u64) -> String {
    if locks.is_empty() {
        return "no paired locks\n".into();
    }
    let header = [
        "ID", "ADDRESS", "POLICY", "LINK", "RSSI", "MTU", "SEEN", "NAME",
    ];
    let dash = || "-".to_owned();
    let mut rows = vec![header.map(String::from)];
    rows.extend(locks.iter().map(|lock| {
        [
            lock.id.to_string(),
            printable(&lock.address),
            printable(&lock.link_policy),
            (if lock.connected { "up" } else { "down" }).into(),
            lock.rssi.map_or_else(dash, |r| r.to_string()),
            lock.mtu.map_or_else(dash, |m| m.to_string()),
            lock.last_seen.map_or_else(dash, |t| {
                format!("{} ago", duration_text(now.saturating_sub(t)))
            }),
            printable(&lock.name),
        ]
    }));
    aligned(&rows)
}

/// Rows as lines, columns padded to their widest cell (the last column is not padded).
fn aligned<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:width$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `3725` as `1h 2m 5s`: the largest units, leading zeros left out.
fn duration_text(seconds: u64) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (size, unit) in units {
        let count = rest / size;
        rest %= size;
        if count > 0 || !parts.is_empty() || size == 1 {
            parts.push(format!("{count}{unit}"));
        }
    }
    parts.join(" ")
}

/// `text` with control characters replaced, so a name cannot drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
#[path = "control_client_tests.rs"]
mod tests;
