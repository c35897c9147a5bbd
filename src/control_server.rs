//! The daemon's end of the control socket (docs/GATEWAY.md §4): binds the socket (replacing a
//! stale one, refusing to run beside a live daemon), checks each peer's credentials, reads
//! newline-delimited requests and passes them to the daemon's handler, answering each in
//! order, and forwards event lines to the clients whose request asked for them (`pair`).
//! What the answers contain is the handler's business.

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
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
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

/// Where the daemon puts event lines for streaming clients (see [`Request::may_stream`]):
/// each client that asked for a stream forwards them, with its request's id, until one
/// [`Response::ends_stream`].
pub type Notices = broadcast::Sender<Response>;

/// Event lines buffered per streaming client; a client further behind skips the oldest.
pub const NOTICE_BUFFER: usize = 64;

/// What each client task needs.
#[derive(Clone)]
struct Context {
    handler: Handler,
    notices: Notices,
    shutdown: CancellationToken,
    policy: PeerPolicy,
}

/// Serves clients on `listener` until `shutdown` is cancelled, passing their requests to
/// `handler` and streaming `notices` to the clients that asked; returns once every client is
/// disconnected.
pub async fn serve(
    listener: UnixListener,
    handler: Handler,
    notices: Notices,
    shutdown: CancellationToken,
) {
    let policy = PeerPolicy::of_this_process();
    serve_with(listener, handler, notices, shutdown, policy).await;
}

async fn serve_with(
    listener: UnixListener,
    handler: Handler,
    notices: Notices,
    shutdown: CancellationToken,
    policy: PeerPolicy,
) {
    let context = Context {
        handler,
        notices,
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

/// A line from the client, as its reader task saw it.
enum Line {
    /// A whole line, newline dropped.
    Text(Vec<u8>),
    /// Longer than [`MAX_LINE`]: the stream is mid-line.
    TooLong,
}

/// Reads the client's lines into `lines` until the end, an error or an over-long line. A task
/// of its own, so that waiting for a line can be given up (for an event line) without losing
/// half of one.
async fn read_lines(read: OwnedReadHalf, lines: mpsc::Sender<Line>) {
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let next = match read_line(&mut reader, &mut line).await {
            Ok(true) => Line::Text(line),
            Err(LineError::TooLong) => Line::TooLong,
            Ok(false) | Err(LineError::Io(_)) => return,
        };
        let last = matches!(next, Line::TooLong);
        if lines.send(next).await.is_err() || last {
            return;
        }
    }
}

/// Event lines a client asked for: those of `notices`, sent with the id `id`.
struct Stream {
    id: u64,
    notices: broadcast::Receiver<Response>,
}

/// The next event line of `stream`; never, without one.
async fn next_notice(stream: &mut Option<Stream>) -> Option<Response> {
    let Some(s) = stream else {
        return std::future::pending().await;
    };
    loop {
        match s.notices.recv().await {
            Ok(notice) => return Some(notice),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                log::warn!("control socket: a streaming client missed {n} event(s)");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// The next line, waiting at most [`IDLE_TIMEOUT`] unless `streaming`; `None` when the
/// client is gone or idle.
async fn next_line(lines: &mut mpsc::Receiver<Line>, streaming: bool) -> Option<Line> {
    if streaming {
        lines.recv().await
    } else {
        timeout(IDLE_TIMEOUT, lines.recv()).await.ok().flatten()
    }
}

/// Serves one client until it leaves, idles, misbehaves or the daemon shuts down.
async fn serve_client(mut stream: UnixStream, context: Context) {
    if let Some(reason) = refusal(&stream, context.policy) {
        log::warn!("control socket: {reason}");
        let _ = send(&mut stream, &ResponseEnvelope::error(None, reason)).await;
        return;
    }
    let (read, mut write) = stream.into_split();
    let (lines_tx, mut lines) = mpsc::channel(1);
    let reader = tokio::spawn(read_lines(read, lines_tx));
    let mut streaming: Option<Stream> = None;
    loop {
        let response = tokio::select! {
            () = context.shutdown.cancelled() => break,
            line = next_line(&mut lines, streaming.is_some()) => match line {
                Some(Line::Text(line)) => {
                    let (response, stream) = answer(&line, &context).await;
                    if stream.is_some() {
                        streaming = stream;
                    }
                    response
                }
                Some(Line::TooLong) => {
                    let too_long = format!("line longer than {MAX_LINE} bytes; disconnecting");
                    let _ = send(&mut write, &ResponseEnvelope::error(None, too_long)).await;
                    break;
                }
                None => break,
            },
            notice = next_notice(&mut streaming) => {
                let (Some(notice), Some(s)) = (notice, &streaming) else {
                    streaming = None;
                    continue;
                };
                let id = s.id;
                if notice.ends_stream() {
                    streaming = None;
                }
                ResponseEnvelope::new(Some(id), notice)
            }
        };
        if send(&mut write, &response).await.is_err() {
            break;
        }
    }
    reader.abort();
}

/// The answer to one request line, and the stream of event lines that follows it, if any.
async fn answer(line: &[u8], context: &Context) -> (ResponseEnvelope, Option<Stream>) {
    let envelope = match decode_request(line) {
        Ok(envelope) => envelope,
        Err(bad) => return (bad.response(), None),
    };
    let id = envelope.id;
    // Subscribed before asking, so that no event of this request is missed.
    let notices = envelope
        .request
        .may_stream()
        .then(|| context.notices.subscribe());
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
        Some(response) => {
            let stream = notices
                .filter(|_| response.starts_stream())
                .map(|notices| Stream { id, notices });
            (ResponseEnvelope::new(Some(id), response), stream)
        }
        None => (ResponseEnvelope::error(Some(id), SHUTTING_DOWN), None),
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
