//! A stand-in for systemd's notification socket: a unix datagram socket the bench (or a test)
//! binds and names in `NOTIFY_SOCKET` for lockgated, which sends `READY=1` there (sd-notify)
//! once its configuration is loaded, its state open and its control socket listening, then
//! `STATUS=` lines, `WATCHDOG=1` when `WATCHDOG_USEC` asks for it, and `STOPPING=1`.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::net::UnixDatagram;

/// A bound notification socket, removed on drop.
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: TempDir,
}

impl NotifySocket {
    /// Binds a socket in a new temporary directory.
    pub fn bind() -> Result<NotifySocket> {
        let dir = tempfile::Builder::new()
            .prefix("lockgate-notify-")
            .tempdir()?;
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).with_context(|| path.display().to_string())?;
        Ok(NotifySocket {
            socket,
            path,
            _dir: dir,
        })
    }

    /// The environment entry that points a child at this socket.
    pub fn env(&self) -> (String, String) {
        ("NOTIFY_SOCKET".into(), self.path.display().to_string())
    }

    /// Drops every message received so far (`STOPPING=1` of an earlier run, `STATUS=` lines).
    pub fn clear(&self) {
        let mut buf = [0; 4096];
        while self.socket.try_recv(&mut buf).is_ok() {}
    }

    /// Waits up to `limit` for a message with a `READY=1` line; when it arrived.
    pub async fn ready(&self, limit: Duration) -> Result<Instant> {
        self.line("READY=1", limit).await
    }

    /// Waits up to `limit` for the next message with the line `want` (earlier messages
    /// without it are consumed); when it arrived.
    pub async fn line(&self, want: &str, limit: Duration) -> Result<Instant> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = [0; 4096];
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await;
            let Ok(received) = received else {
                bail!("no {want} on {} within {limit:?}", self.path.display());
            };
            let at = Instant::now();
            let text = String::from_utf8_lossy(&buf[..received?]).into_owned();
            if text.lines().any(|l| l == want) {
                return Ok(at);
            }
        }
    }
}
