//! The daemon's end of the control socket (docs/GATEWAY.md §4): binds the socket (replacing a
//! stale one, refusing to run beside a live daemon), checks each peer's credentials, reads
//! newline-delimited requests and passes them to the daemon's handler, answering each in
//! order. What the answers contain is the handler's business.

use crate::control::{
    decode_request, encode_line, read_line, LineError, Request, Response, ResponseEnvelope,
    MAX_LINE,
};
use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The group whose members may use the socket.
pub const GROUP: &str = "lockgate";

/// Clients served at once; a further one gets an error and is disconnected.
pub const MAX_CLIENTS: usize = 16;

/// A client that sends nothing for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A client that does not take an answer within this long is disconnected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait after a failed accept (out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The answer when the handler is gone or dropped the request.
const SHUTTING_DOWN: &str = "daemon is shutting down";

/// Where requests go: each comes with the sender its response is to be put into. Dropping
/// that sender answers "daemon is shutting down".
pub type Handler = mpsc::Sender<(Request, oneshot::Sender<Response>)>;

/// The control socket cannot be set up.
#[derive(Debug, Error)]
pub enum ControlError {
    /// A daemon answers on the socket.
    #[error(
        "{}: another lockgated is running (it answers on this socket): stop it first \
         (systemctl stop lockgated)", path.display()
    )]
    InUse {
        /// The socket.
        path: PathBuf,
    },
    /// Something other than a socket is in the way.
    #[error(
        "{}: exists and is not a socket: remove it or set control_socket to another path",
        path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{}: {action}: {error}", path.display())]
    Io {
        /// The socket.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        error: io::Error,
    },
}

/// Listens on `path`: creates its directory if missing, replaces a stale socket file, sets
/// mode 0660 and, if `group` names an existing group, gives the socket to that group
/// (normally [`GROUP`]). Must be called within a Tokio runtime.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, ControlError> {
    let failed = |action| {
        move |error| ControlError::Io {
            path: path.to_path_buf(),
            action,
            error,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(failed("cannot create its directory"))?;
    }
    remove_stale(path)?;
    let listener = UnixListener::bind(path).map_err(failed("cannot listen"))?;
    fs::set_permissions(path, Permissions::from_mode(0o660))
        .map_err(failed("cannot set mode 0660"))?;
    if let Some(name) = group {
        let found = nix::unistd::Group::from_name(name)
            .map_err(|e| failed("cannot look up its group")(e.into()))?;
        if let Some(group) = found {
            nix::unistd::chown(path, None, Some(group.gid))
                .map_err(|e| failed("cannot give it to its group")(e.into()))?;
        }
    }
    Ok(listener)
}

/// Removes a socket file nobody answers on; refuses a live socket or a file of another kind.
fn remove_stale(path: &Path) -> Result<(), ControlError> {
    let failed = |action| {
        move |error| ControlError::Io {
            path: path.to_path_buf(),
            action,
            error,
        }
    };
    let metadata = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failed("cannot inspect it")(e)),
    };
    if !metadata.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(ControlError::InUse {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            fs::remove_file(path).map_err(failed("cannot remove the stale socket"))
        }
        Err(e) => Err(failed("cannot tell whether another lockgated listens")(e)),
    }
}

/// Who may use the socket.
#[derive(Clone, Copy, Debug)]
struct PeerPolicy {
    /// Root and the daemon's own user.
    uids: [u32; 2],
    /// The gid of [`GROUP`], if that group exists.
    group: Option<u32>,
}

impl PeerPolicy {
    fn of_this_process() -> Self {
        let group = nix::unistd::Group::from_name(GROUP).ok().flatten();
        PeerPolicy {
            uids: [0, nix::unistd::geteuid().as_raw()],
            group: group.map(|g| g.gid.as_raw()),
        }
    }

    /// Whether a peer running as `uid`/`gid` is served; `supplementary` lists the peer's
    /// other groups and is only called when needed.
    fn check(&self, uid: u32, gid: u32, supplementary: impl FnOnce() -> Vec<u32>) -> bool {
        self.uids.contains(&uid)
            || self
                .group
                .is_some_and(|g| gid == g || supplementary().contains(&g))
    }
}

/// The supplementary groups of process `pid`, from `/proc/<pid>/status`; none if unknown.
fn supplementary_groups(pid: Option<i32>) -> Vec<u32> {
    pid.and_then(|pid| fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .map(|status| groups_of_status(&status))
        .unwrap_or_default()
}

/// The `Groups:` line of a `/proc/<pid>/status` text.
fn groups_of_status(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| groups.split_whitespace().filter_map(|g| g.parse().ok()))
        .into_iter()
        .flatten()
        .collect()
}

/// Why a peer is not served, or `None` if it is.
fn refusal(stream: &UnixStream, policy: PeerPolicy) -> Option<String> {
    let denied = |what: String| {
        Some(format!(
            "permission denied: {what}; run as root or as a member of group {GROUP}"
        ))
    };
    match stream.peer_cred() {
        Ok(cred) => {
            let groups = || supplementary_groups(cred.pid());
            if policy.check(cred.uid(), cred.gid(), groups) {
                None
            } else {
                denied(format!("uid {} may not use lockgated", cred.uid()))
            }
        }
        Err(e) => denied(format!("the peer's credentials are unknown ({e})")),
    }
}

/// What each client task needs.
#[derive(Clone)]
struct Context {
    handler: Handler,
    shutdown: CancellationToken,
    policy: PeerPolicy,
}

/// Serves clients on `listener` until `shutdown` is cancelled, passing their requests to
/// `handler`; returns once every client is disconnected.
pub async fn serve(listener: UnixListener, handler: Handler, shutdown: CancellationToken) {
    let policy = PeerPolicy::of_this_process();
    serve_with(listener, handler, shutdown, policy).await;
}

async fn serve_with(
    listener: UnixListener,
    handler: Handler,
    shutdown: CancellationToken,
    policy: PeerPolicy,
) {
    let context = Context {
        handler,
        shutdown,
        policy,
    };
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let clients = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = context.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let mut stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let context = context.clone();
                clients.spawn(async move {
                    serve_client(stream, context).await;
                    drop(slot);
                });
            }
            Err(_) => {
                let busy = format!("too many clients ({MAX_CLIENTS}): try again later");
                clients.spawn(async move {
                    let _ = send(&mut stream, &ResponseEnvelope::error(None, busy)).await;
                });
            }
        }
    }
    clients.close();
    clients.wait().await;
}

/// Serves one client until it leaves, idles, misbehaves or the daemon shuts down.
async fn serve_client(mut stream: UnixStream, context: Context) {
    if let Some(reason) = refusal(&stream, context.policy) {
        log::warn!("control socket: {reason}");
        let _ = send(&mut stream, &ResponseEnvelope::error(None, reason)).await;
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let read = tokio::select! {
            () = context.shutdown.cancelled() => return,
            read = timeout(IDLE_TIMEOUT, read_line(&mut reader, &mut line)) => read,
        };
        let response = match read {
            Ok(Ok(true)) => answer(&line, &context).await,
            Ok(Err(LineError::TooLong)) => {
                let too_long = format!("line longer than {MAX_LINE} bytes; disconnecting");
                let _ = send(&mut write, &ResponseEnvelope::error(None, too_long)).await;
                return;
            }
            Ok(Ok(false)) | Ok(Err(LineError::Io(_))) | Err(_) => return,
        };
        if send(&mut write, &response).await.is_err() {
            return;
        }
    }
}

/// The answer to one request line.
async fn answer(line: &[u8], context: &Context) -> ResponseEnvelope {
    let envelope = match decode_request(line) {
        Ok(envelope) => envelope,
        Err(bad) => return bad.response(),
    };
    let id = Some(envelope.id);
    let (reply, response) = oneshot::channel();
    let asked = async {
        context.handler.send((envelope.request, reply)).await.ok()?;
        response.await.ok()
    };
    let answered = tokio::select! {
        () = context.shutdown.cancelled() => None,
        answered = asked => answered,
    };
    match answered {
        Some(response) => ResponseEnvelope::new(id, response),
        None => ResponseEnvelope::error(id, SHUTTING_DOWN),
    }
}

/// Writes one response line, giving up after [`WRITE_TIMEOUT`].
async fn send<W: AsyncWrite + Unpin>(
    writer: &mut W,
    response: &ResponseEnvelope,
) -> io::Result<()> {
    let line = encode_line(response).map_err(io::Error::other)?;
    timeout(WRITE_TIMEOUT, writer.write_all(&line))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

#[cfg(test)]
#[path = "control_server_tests.rs"]
mod tests;
