//! One function per command: each turns its arguments into library calls and emits one
//! report.

use super::args::{Cli, Command, RoleArg, Target, UsersCommand};
use super::{Context, Ui};
use crate::client::LockClient;
use crate::error::Error;
use crate::pairing::{pair, PairRequest};
use crate::report::{Actuated, Invited, Locks, Paired, Status, TimeSet, UserChanged, Users};
use lockgate_e2e::command::{MAX_INVITE_TTL_SECS, NO_END, NO_START};
use lockgate_e2e::{Action, Grant, Role, SetupCode};
use lockgate_wire::topics::DEFAULT_BASE_PREFIX;
use std::io::{BufRead, IsTerminal};
use std::str::FromStr;
use std::time::Duration;
use zeroize::Zeroizing;

/// Runs the command of `cli`.
pub async fn run(cli: &Cli, ui: &Ui) -> Result<(), Error> {
    let ctx = Context::open(&cli.global)?;
    match &cli.command {
        Command::Pair { target, code } => {
            let code = read_code(code.as_deref(), "label code", "--code")?;
            paired(&ctx, ui, target, SetupCode::Label(code)).await
        }
        Command::Join { target, invite } => {
            let code = read_code(invite.as_deref(), "invite code", "--invite")?;
            paired(&ctx, ui, target, SetupCode::Invite(code)).await
        }
        Command::Status { lock } => {
            let (id, status) = session(&ctx, ui, lock, async |c| c.status().await).await?;
            ui.emit(&Status::new(&id, &status));
            Ok(())
        }
        Command::Lock { lock } => actuate(&ctx, ui, lock, Action::Lock).await,
        Command::Unlock { lock } => actuate(&ctx, ui, lock, Action::Unlock).await,
        Command::Unlatch { lock } => actuate(&ctx, ui, lock, Action::Unlatch).await,
        Command::Users { command } => users(&ctx, ui, command).await,
        Command::SetTime { lock } => {
            let (id, unix_ms) = session(&ctx, ui, lock, async |c| {
                c.set_time().await.map(|()| crate::unix_now_ms())
            })
            .await?;
            ui.emit(&TimeSet { lock: id, unix_ms });
            Ok(())
        }
        Command::Support(args) => super::support::run(&ctx, ui, args).await,
        Command::Ha => {
            let settings = ctx.settings(ui)?;
            crate::ha::run(&ctx.store, &settings, stop_signal()).await
        }
        Command::Locks => {
            let records = ctx.store.locks()?;
            let locks = records.iter().map(Paired::from).collect();
            ui.emit(&Locks { locks });
            Ok(())
        }
    }
}

/// Opens a session with `lock`, runs `f`, and closes the session (storing its state) whatever
/// `f` returned. Returns the lock id's text with `f`'s result.
async fn session<T>(
    ctx: &Context,
    ui: &Ui,
    lock: &str,
    f: impl AsyncFnOnce(&mut LockClient) -> Result<T, Error>,
) -> Result<(String, T), Error> {
    let id = ctx.store.find(lock)?;
    let settings = ctx.settings(ui)?;
    let mut client = LockClient::open(&ctx.store, &settings, id, ui.progress()).await?;
    let result = f(&mut client).await;
    let closed = client.close().await;
    let value = result?;
    closed?;
    Ok((id.to_string(), value))
}

async fn paired(ctx: &Context, ui: &Ui, target: &Target, code: SetupCode) -> Result<(), Error> {
    let settings = ctx.settings(ui)?;
    let name = match target.name.clone().or_else(|| settings.name.clone()) {
        Some(name) => name,
        None => host_name(),
    };
    let request = PairRequest {
        gateway: target.gateway.clone(),
        base_topic: target.base_topic.clone(),
        lock: target.lock,
        code,
        name,
    };
    let record = pair(&ctx.store, &settings, &request, ui.progress()).await?;
    ui.emit(&Paired::from(&record));
    Ok(())
}

async fn actuate(ctx: &Context, ui: &Ui, lock: &str, action: Action) -> Result<(), Error> {
    let (id, state) = session(ctx, ui, lock, async |c| c.actuate(action).await).await?;
    let action = match action {
        Action::Lock => "lock",
        Action::Unlock => "unlock",
        Action::Unlatch => "unlatch",
    };
    ui.emit(&Actuated {
        lock: id,
        action: action.into(),
        state,
    });
    Ok(())
}

async fn users(ctx: &Context, ui: &Ui, command: &UsersCommand) -> Result<(), Error> {
    match command {
        UsersCommand::List { lock } => {
            let (id, (entries, me)) = session(ctx, ui, lock, async |c| {
                Ok((c.users().await?, c.record().auth_id))
            })
            .await?;
            ui.emit(&Users::new(&id, &entries, me));
        }
        UsersCommand::Invite {
            lock,
            role,
            valid_until,
            expires_in,
        } => {
            let not_after = match valid_until {
                Some(text) => parse_until(text, crate::unix_now_ms())?,
                None => NO_END,
            };
            let ttl_secs = invite_ttl(*expires_in)?;
            let grant = Grant {
                role: match role {
                    RoleArg::User => Role::User,
                    RoleArg::Admin => Role::Admin,
                },
                remote_allowed: true,
                not_before: NO_START,
                not_after,
            };
            let progress = ui.progress();
            let (_, report) = session(ctx, ui, lock, async |c| {
                let invite = c.invite(grant, ttl_secs, progress).await?;
                Ok(invited(c, &invite, grant))
            })
            .await?;
            ui.emit(&report);
        }
        UsersCommand::Revoke { lock, user } => {
            let (id, user) = session(ctx, ui, lock, async |c| {
                let id = resolve_user(c, user).await?;
                c.revoke(id).await.map(|()| id)
            })
            .await?;
            ui.emit(&UserChanged {
                lock: id,
                user,
                change: "revoked".into(),
                name: None,
            });
        }
        UsersCommand::Rename { lock, user, name } => {
            let (id, user) = session(ctx, ui, lock, async |c| {
                let id = resolve_user(c, user).await?;
                c.rename(id, name).await.map(|()| id)
            })
            .await?;
            ui.emit(&UserChanged {
                lock: id,
                user,
                change: "renamed".into(),
                name: Some(name.clone()),
            });
        }
    }
    Ok(())
}

/// The report of a new invite, with the command its holder runs.
fn invited(client: &LockClient, invite: &crate::client::Invite, grant: Grant) -> Invited {
    let r = client.record();
    let code = invite.code.display().to_string();
    let mut join = format!("lockctl join --gateway {}", r.gateway);
    if r.base_topic != format!("{DEFAULT_BASE_PREFIX}/{}", r.gateway) {
        join.push_str(&format!(" --base-topic {}", r.base_topic));
    }
    join.push_str(&format!(" --lock {} --invite {code}", r.lock));
    Invited {
        lock: r.lock.to_string(),
        gateway: r.gateway.clone(),
        base_topic: r.base_topic.clone(),
        code,
        role: grant.role,
        valid_until: (grant.not_after != NO_END).then_some(grant.not_after),
        expires_in_secs: invite.expires_in_secs,
        join,
    }
}

/// The authorization id of `user`: `me`, a number, or a name on the lock's list.
async fn resolve_user(client: &mut LockClient, user: &str) -> Result<u32, Error> {
    if user == "me" {
        return Ok(client.record().auth_id);
    }
    if let Ok(id) = user.parse::<u32>() {
        return Ok(id);
    }
    let entries = client.users().await?;
    let ids: Vec<u32> = entries
        .iter()
        .filter(|e| e.name == user)
        .map(|e| e.id)
        .collect();
    match ids.as_slice() {
        [id] => Ok(*id),
        [] => Err(Error::Usage(format!(
            "no user named {user:?} on the lock; `lockctl users list` shows them"
        ))),
        _ => Err(Error::Usage(format!(
            "several users are named {user:?} ({ids:?}); give the id"
        ))),
    }
}

/// `--valid-until`: an RFC 3339 time or a duration from `now_ms`, in Unix ms, in the future.
fn parse_until(text: &str, now_ms: u64) -> Result<u64, Error> {
    let at = match humantime::parse_rfc3339_weak(text) {
        Ok(t) => t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        Err(_) => match humantime::parse_duration(text) {
            Ok(d) => now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Err(_) => {
                return Err(Error::Usage(format!(
                    "--valid-until {text:?}: give a time (2025-12-31T23:00:00Z) or a duration \
                     from now (30d)"
                )))
            }
        },
    };
    match at > now_ms {
        true => Ok(at),
        false => Err(Error::Usage(format!(
            "--valid-until {text:?} is in the past"
        ))),
    }
}

/// `--expires-in` as the protocol's `ttl_secs` (0: the lock's default).
fn invite_ttl(expires_in: Option<Duration>) -> Result<u32, Error> {
    let Some(d) = expires_in else { return Ok(0) };
    match u32::try_from(d.as_secs()) {
        Ok(s @ 1..=MAX_INVITE_TTL_SECS) => Ok(s),
        _ => Err(Error::Usage(
            "--expires-in: from 1 second to 30 days".into(),
        )),
    }
}

/// The code given with `flag`, or one line read from stdin (prompted for on a terminal).
pub(super) fn read_code<T: FromStr>(given: Option<&str>, what: &str, flag: &str) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    let text = code_text(given, what)?;
    text.parse()
        .map_err(|e| Error::Usage(format!("{flag}: {e}")))
}

fn code_text(given: Option<&str>, what: &str) -> Result<Zeroizing<String>, Error> {
    if let Some(code) = given {
        return Ok(Zeroizing::new(code.to_owned()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
    }
    let mut line = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("reading the {what}: {e}")))?;
    let code = Zeroizing::new(line.trim().to_owned());
    match code.is_empty() {
        true => Err(Error::Usage(format!("no {what} given"))),
        false => Ok(code),
    }
}

/// This computer's name, cut to a valid endpoint name; `lockctl` without one.
pub(super) fn host_name() -> String {
    let text = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = fit_name(text.trim(), lockgate_e2e::command::MAX_NAME_LEN);
    match name.is_empty() {
        true => "lockctl".into(),
        false => name,
    }
}

/// `text` without control characters, cut at a character boundary to at most `max` bytes.
pub(super) fn fit_name(text: &str, max: usize) -> String {
    let mut name = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if name.len() + c.len_utf8() > max {
            break;
        }
        name.push(c);
    }
    name
}

/// Completes on SIGTERM (systemd stopping the service) or Ctrl-C.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    log::info!("stopping");
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn valid_until_takes_a_time_or_a_duration_from_now() {
        assert_eq!(parse_until("30d", NOW).unwrap(), NOW + 30 * 86_400_000);
        let t = parse_until("2100-01-01T00:00:00Z", NOW).unwrap();
        assert_eq!(t, 4_102_444_800_000);
        assert!(parse_until("2001-01-01T00:00:00Z", NOW).is_err());
        assert!(parse_until("soon", NOW).is_err());
    }

    #[test]
    fn invite_lifetimes_are_bounded_to_30_days() {
        assert_eq!(invite_ttl(None).unwrap(), 0);
        assert_eq!(invite_ttl(Some(Duration::from_secs(3600))).unwrap(), 3600);
        assert!(invite_ttl(Some(Duration::from_secs(31 * 86_400))).is_err());
        assert!(invite_ttl(Some(Duration::from_millis(10))).is_err());
    }

    #[test]
    fn the_host_name_fits_an_endpoint_name() {
        let name = host_name();
        assert!(lockgate_e2e::command::is_valid_name(&name), "{name:?}");
    }
}
