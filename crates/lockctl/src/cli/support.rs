//! `lockctl support`: opens a support session with the code the gateway's owner read out,
//! then runs commands: those given with `-c`, else lines from stdin (a shell with a prompt on
//! a terminal, a script otherwise). While it waits for input it also watches the gateway, so
//! a session the owner stops, or whose time runs out, ends the shell at once.
//!
//! Each answer is printed on stdout (text, or one JSON object per line with `--json`). The
//! exit code is 0 when every command succeeded, 1 when one was refused or failed (the others
//! still ran), and the error's own code when the session could not open or ended early.

use super::args::SupportArgs;
use super::shell::{self, Line};
use super::{Context, Ui};
use crate::error::Error;
use crate::support::{SupportError, SupportSession, SupportTarget};
use lockgate_support::message::MAX_OPERATOR_LEN;
use lockgate_support::{Request, Response, Status, SupportCode};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use tokio::sync::mpsc;

/// Runs `lockctl support`.
pub async fn run(ctx: &Context, ui: &Ui, args: &SupportArgs) -> Result<(), Error> {
    let settings = ctx.settings(ui)?;
    let code: SupportCode =
        super::commands::read_code(args.code.as_deref(), "support code", "--code")?;
    let operator = match args.name.clone().or_else(|| settings.name.clone()) {
        Some(name) => name,
        None => default_operator(),
    };
    let target = SupportTarget {
        gateway: args.gateway.clone(),
        base_topic: args.base_topic.clone(),
        operator,
    };
    let mut session = SupportSession::open(&settings, &target, &code, ui.progress()).await?;
    drop(code);
    let interactive = args.commands.is_empty() && std::io::stdin().is_terminal();
    welcome(ui, &session, interactive);
    let mut lines = input(&args.commands);
    let mut failed = 0usize;
    let mut ran = 0usize;
    loop {
        if interactive {
            prompt(&session);
        }
        let line = tokio::select! {
            line = lines.recv() => line,
            error = session.wait_closed() => {
                if interactive {
                    eprintln!();
                }
                return Err(error);
            }
        };
        let Some(line) = line else { break };
        let parsed = match shell::parse(&line) {
            Ok(parsed) => parsed,
            Err(e) => {
                failed += 1;
                ui.line_error(&line, "usage", &e);
                continue;
            }
        };
        let request = match parsed {
            Line::Empty => continue,
            Line::Quit => break,
            Line::Help => {
                ui.raw(shell::HELP);
                continue;
            }
            Line::Send(request) => request,
            Line::ReconnectPrefix(prefix) => match resolve(&mut session, &prefix).await {
                Ok(lock) => Request::Reconnect { lock },
                Err(LineError::Fatal(e)) => return Err(e),
                Err(LineError::Shown(e)) => {
                    failed += 1;
                    ui.line_error(&line, "usage", &e);
                    continue;
                }
            },
        };
        ran += 1;
        if !interactive && !ui.json() {
            ui.raw(&format!("# {}\n", line.trim()));
        }
        match session.ask(&request).await {
            Ok(response) => {
                if response.status != Status::Ok {
                    failed += 1;
                }
                show(ui, &request, &response);
            }
            Err(e @ Error::Support(SupportError::NoAnswer { .. })) => {
                failed += 1;
                ui.line_error(&line, e.name(), &e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    let gateway = session.gateway().to_owned();
    session.quit().await?;
    if ui.json() {
        ui.raw(&format!(
            "{}\n",
            json!({"ok": true, "type": "support_closed", "gateway": gateway, "reason": "quit"})
        ));
    } else if interactive {
        eprintln!("support session with gateway {gateway} ended");
    }
    match failed {
        0 => Ok(()),
        n => Err(Error::Support(SupportError::CommandsFailed {
            failed: n,
            ran: ran.max(n),
        })),
    }
}

enum LineError {
    Fatal(Error),
    Shown(String),
}

/// The lock whose id starts with `prefix`, from the gateway's `links`.
async fn resolve(
    session: &mut SupportSession,
    prefix: &str,
) -> Result<lockgate_wire::LockId, LineError> {
    let links = session
        .ask(&Request::Links)
        .await
        .map_err(LineError::Fatal)?;
    let data = links.data.unwrap_or_default();
    shell::resolve_prefix(&data, prefix).map_err(LineError::Shown)
}

fn welcome(ui: &Ui, session: &SupportSession, interactive: bool) {
    let left = session.remaining().as_secs();
    if ui.json() {
        let v = json!({
            "ok": true,
            "type": "support_session",
            "gateway": session.gateway(),
            "expires_in_s": left,
            "commands": session.commands,
        });
        ui.raw(&format!("{v}\n"));
        return;
    }
    let text = format!(
        "support session with gateway {} open for {}; allowed: {}{}\n",
        session.gateway(),
        humantime::format_duration(std::time::Duration::from_secs(left)),
        session.commands.join(", "),
        match interactive {
            true => "; `help` explains them",
            false => "",
        }
    );
    match interactive {
        true => eprint!("{text}"),
        false => ui.raw(&text),
    }
}

fn prompt(session: &SupportSession) {
    let left = session.remaining().as_secs();
    eprint!(
        "{} ({}:{:02} left)> ",
        session.gateway(),
        left / 60,
        left % 60
    );
    let _ = std::io::stderr().flush();
}

fn show(ui: &Ui, request: &Request, response: &Response) {
    match ui.json() {
        true => ui.raw(&format!("{}\n", shell::to_json(request.name(), response))),
        false => ui.raw(&shell::to_text(request, response)),
    }
}

/// The commands: those given, else stdin's lines (read on a thread of their own, so the
/// session is watched while a person types).
fn input(given: &[String]) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    if !given.is_empty() {
        for c in given {
            let _ = tx.send(c.clone());
        }
        return rx;
    }
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `$USER@host`, cut to an operator name (32 bytes).
fn default_operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "support".into());
    let host = super::commands::host_name();
    super::commands::fit_name(&format!("{user}@{host}"), MAX_OPERATOR_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_operator_is_a_valid_name() {
        let name = default_operator();
        assert!(
            lockgate_support::message::is_valid_operator(&name),
            "{name:?}"
        );
        assert!(name.contains('@'), "{name:?}");
    }
}
