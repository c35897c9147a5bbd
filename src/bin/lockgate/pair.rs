//! `lockgate pair`: asks the daemon to open (or close) the pairing window, then shows each
//! event as it happens until the window closes: a countdown line on a terminal, plain lines
//! otherwise, the daemon's lines as they are with `--json`.

use super::{connection, Daemon};
use anyhow::anyhow;
use lockgate::control::{Request, Response};
use lockgate::control_client::Client;
use lockgate::pairing::report::{countdown, describe, describe_state, Outcome};
use lockgate::pairing::{PairingEvent, MAX_SECONDS};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Event lines may be this far apart at most (the longest window, and some slack).
const EVENT_LIMIT: Duration = Duration::from_secs(MAX_SECONDS as u64 + 30);

/// What the display shows.
enum Show {
    /// A line (an event, or the state).
    Line(String),
    /// The window closes this many seconds from now.
    Deadline(u64),
}

/// Runs `lockgate pair`; the exit code says whether it went well.
pub fn run(daemon: &Daemon, request: Request) -> anyhow::Result<ExitCode> {
    let (runtime, socket) = connection(daemon)?;
    let json = daemon.json;
    runtime.block_on(async move {
        let mut client = Client::connect(&socket.path)
            .await
            .map_err(|e| socket.explain(e))?;
        let reply = client.request(request).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let display = tokio::spawn(display(rx, json, std::io::stderr().is_terminal()));
        let show = |line: &str, text: String| {
            let _ = tx.send(Show::Line(if json { line.to_owned() } else { text }));
        };
        let mut outcome = Outcome::default();
        match reply.response() {
            Response::Error { error } => {
                drop(tx);
                let _ = display.await;
                if json {
                    println!("{}", reply.line);
                    return Ok(ExitCode::FAILURE);
                }
                return Err(anyhow!("{error}"));
            }
            Response::Pairing { pairing } => {
                show(&reply.line, describe_state(pairing));
                if let Some(left) = pairing.seconds_left {
                    let _ = tx.send(Show::Deadline(u64::from(left)));
                }
            }
            other => return Err(anyhow!("unexpected answer from lockgated: {other:?}")),
        }
        let mut streaming = reply.response().starts_stream();
        while streaming {
            let next = client.next_event(&reply, EVENT_LIMIT).await?;
            let Response::PairingEvent { event, .. } = next.response() else {
                continue;
            };
            outcome.record(event);
            if let PairingEvent::PairingWindowOpened { seconds, .. } = event {
                let _ = tx.send(Show::Deadline(u64::from(*seconds)));
            }
            show(&next.line, describe(event));
            streaming = !next.response().ends_stream();
        }
        drop(tx);
        let _ = display.await;
        Ok(if outcome.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Prints lines to stdout; on a terminal (not with `--json`) keeps a countdown on stderr
/// below them, redrawn every second.
async fn display(mut shows: mpsc::UnboundedReceiver<Show>, json: bool, terminal: bool) {
    let live = terminal && !json;
    let mut deadline: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            show = shows.recv() => match show {
                Some(Show::Line(line)) => {
                    if live {
                        eprint!("\r\x1b[K");
                    }
                    println!("{line}");
                    let _ = std::io::stdout().flush();
                }
                Some(Show::Deadline(seconds)) => {
                    deadline = Some(Instant::now() + Duration::from_secs(seconds));
                }
                None => break,
            },
            _ = tick.tick() => {}
        }
        if let (true, Some(at)) = (live, deadline) {
            let left = at.saturating_duration_since(Instant::now()).as_secs();
            eprint!("\r\x1b[K{}", countdown(left));
            let _ = std::io::stderr().flush();
        }
    }
    if live {
        eprint!("\r\x1b[K");
    }
}
