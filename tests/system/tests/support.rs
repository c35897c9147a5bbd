//! Remote support against the real daemon (docs/GATEWAY.md §7), with `lockctl support` as
//! support staff run it: a one-time code from `lockgate support start` opens one session and
//! only one; the shell's commands come from a person typing, a script on stdin, or `-c`; wrong codes are throttled and five
//! burn the code; the throttle survives a restart; a session can read and repair but every
//! refused command is refused and changes nothing; `lockgate support stop` ends a session and
//! so does its time; the code never appears on MQTT or in the gateway's log.

use anyhow::{bail, ensure, Context, Result};
use lockgate_support::Forbidden;
use lockgate_systest::lockctl::{Lockctl, Run, Running};
use lockgate_systest::support::ANSWER;
use lockgate_systest::testbed::GATEWAY_ID;
use lockgate_systest::{run, TestBed};
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(150);

/// Runs `lockgate <args> --json`; its one JSON line.
async fn lockgate_json(bed: &TestBed, args: &[&str]) -> Result<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = bed.lockgate(&all).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("lockgate {args:?}: {out:?}"))
}

/// Starts a code; its digits.
async fn start_code(bed: &TestBed) -> Result<String> {
    let v = lockgate_json(bed, &["support", "start"]).await?;
    ensure!(v["type"] == "support_code", "{v}");
    let code = v["code"].as_str().context("no code")?;
    Ok(code.chars().filter(char::is_ascii_digit).collect())
}

/// A valid code that is not `right`.
fn wrong_code(right: &str) -> &'static str {
    if right == "498520790474" {
        "716305948213"
    } else {
        "498520790474"
    }
}

/// The support staff's lockctl (its own config directory, the test broker).
fn staff(bed: &TestBed) -> Result<Lockctl> {
    bed.lockctl("alice@vendor")
}

/// `lockctl --json support --gateway systest --code <code> -c <commands>...`.
async fn support_run(staff: &Lockctl, code: &str, commands: &[&str]) -> Result<Run> {
    let mut args = vec!["--json", "support", "--gateway", GATEWAY_ID, "--code", code];
    for c in commands {
        args.extend(["-c", c]);
    }
    staff.run(&args).await
}

/// Starts `lockctl --json support` with `code`, its stdin left open for commands; the shell
/// and its welcome line.
async fn open_shell(staff: &Lockctl, code: &str) -> Result<(Running, Value)> {
    let args = ["--json", "support", "--gateway", GATEWAY_ID, "--code", code];
    let mut shell = staff.spawn(&args)?;
    let welcome = shell.json(ANSWER).await?;
    Ok((shell, welcome))
}

/// The error name and JSON of a support run that failed with exit code `code`.
fn support_error(run: &Run, code: u8) -> Result<Value> {
    let last = run.json_lines()?.pop().context("no output")?;
    ensure!(
        run.code == Some(i32::from(code)) && last["ok"] == false,
        "expected exit code {code}: {run:#?}"
    );
    Ok(last)
}

/// A wrong attempt that the gateway counted: waits out the throttle first if it says so.
async fn fail_once(staff: &Lockctl, code: &str) -> Result<()> {
    loop {
        let run = support_run(staff, code, &["health"]).await?;
        let error = support_error(&run, 1)?;
        match error["error"].as_str() {
            Some("support_wrong_code") => return Ok(()),
            Some("support_throttled") => {
                let secs = error["retry_after_s"]
                    .as_u64()
                    .context("no retry_after_s")?;
                tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(300)).await;
            }
            _ => bail!("a wrong code was answered: {run:#?}"),
        }
    }
}

async fn support_status(bed: &TestBed) -> Result<Value> {
    let v = lockgate_json(bed, &["support", "status"]).await?;
    ensure!(v["type"] == "support_status", "{v}");
    Ok(v["support"].clone())
}

/// Sends `line` to a running `lockctl --json support`; its answer, which must be `ok`.
async fn ok(shell: &mut Running, line: &str) -> Result<Value> {
    shell.send(line).await?;
    let answer = shell.json(ANSWER).await?;
    ensure!(answer["ok"] == true, "{line} answered {answer}");
    Ok(answer["data"].clone())
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_code_opens_one_session_that_reads_repairs_is_refused_the_rest_and_stops() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let lock = bed.lock_id(0).to_string();
        let code = start_code(&bed).await?;
        let status = support_status(&bed).await?;
        ensure!(status["code"]["attempts_left"] == 5, "{status}");

        let staff = staff(&bed)?;
        let (mut shell, welcome) = open_shell(&staff, &code).await?;
        ensure!(welcome["type"] == "support_session", "{welcome}");
        ensure!(welcome["expires_in_s"].as_u64() > Some(0), "{welcome}");
        let commands = welcome["commands"].to_string();
        ensure!(commands.contains("health") && commands.contains("reset-adapter"));
        let health = ok(&mut shell, "health").await?;
        ensure!(health["mqtt"]["connected"] == true, "{health}");
        let links = ok(&mut shell, "links").await?;
        ensure!(links.to_string().contains(&lock), "{links}");
        let logs = ok(&mut shell, "logs 50").await?;
        ensure!(
            !logs["lines"].as_array().is_none_or(Vec::is_empty),
            "{logs}"
        );
        let config = ok(&mut shell, "config").await?;
        ensure!(config.to_string().contains(GATEWAY_ID), "{config}");
        // A start of the lock's id is enough: lockctl resolves it with `links`.
        ok(&mut shell, &format!("reconnect {}", &lock[..10])).await?;
        ok(&mut shell, "rescan").await?;
        shell.send("unlock").await?;
        let typo = shell.json(ANSWER).await?;
        ensure!(typo["error"] == "usage", "{typo}");

        for forbidden in Forbidden::ALL {
            shell.send(forbidden.name()).await?;
            let r = shell.json(ANSWER).await?;
            ensure!(r["status"] == "refused", "{}: {r}", forbidden.name());
            ensure!(r["error"] == forbidden.why(), "{r}");
        }
        let gw = lockgate_json(&bed, &["status"]).await?;
        ensure!(gw["status"]["pairing_open"] == false, "{gw}");
        let locks = lockgate_json(&bed, &["locks"]).await?;
        let ids: Vec<_> = locks["locks"].as_array().into_iter().flatten().collect();
        ensure!(ids.len() == 1 && ids[0]["id"] == lock.as_str(), "{locks}");

        // The code works once.
        let again = support_run(&staff, &code, &["health"]).await?;
        let refused = support_error(&again, 1)?;
        ensure!(
            refused["error"] == "support_busy" || refused["error"] == "support_no_code",
            "{refused}"
        );

        let status = support_status(&bed).await?;
        ensure!(status["code"].is_null(), "{status}");
        ensure!(status["session"]["operator"] == "alice@vendor", "{status}");
        ensure!(
            status["session"]["expires_in_s"].as_u64() > Some(0),
            "{status}"
        );

        // The owner ends the session while the shell waits for input: it ends at once.
        let out = bed.lockgate(&["support", "stop"]).await?;
        ensure!(out.status.success(), "{out:?}");
        let ended = shell.finish_after(Duration::from_secs(10)).await?;
        let last = support_error(&ended, 1)?;
        ensure!(last["error"] == "support_ended", "{last}");
        let message = last["message"].as_str().unwrap_or_default();
        ensure!(message.contains("lockgate support stop"), "{last}");
        let status = support_status(&bed).await?;
        ensure!(status["session"].is_null(), "{status}");

        // The blindness canary: the code is nowhere on MQTT nor in the log.
        let grouped = format!(
            "{}-{}-{}-{}",
            &code[..3],
            &code[3..6],
            &code[6..9],
            &code[9..]
        );
        for m in bed.observer.messages() {
            for needle in [code.as_bytes(), grouped.as_bytes()] {
                ensure!(!contains(&m.payload, needle), "the code on {}", m.topic);
            }
        }
        let log = bed.gateway.log_text();
        ensure!(
            !log.contains(&code) && !log.contains(&grouped),
            "the code in the log"
        );
        for audited in ["alice@vendor", "rescan", "pairing-open"] {
            ensure!(log.contains(audited), "{audited} is not in the audit trail");
        }
        Ok(())
    });
}

#[test]
fn a_script_on_stdin_reads_as_text_and_its_exit_code_counts_failures() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let lock = bed.lock_id(0).to_string();
        let code = start_code(&bed).await?;
        let staff = staff(&bed)?;
        // The code on the first line, the commands after it, as `lockctl support < file`.
        let script = format!("{code}\n# a dump for the ticket\nlinks\nlogs 5\nlock-add\nhealth\n");
        let args = ["support", "--gateway", GATEWAY_ID, "--name", "bob"];
        let run = staff.run_with_input(&args, Some(&script)).await?;
        ensure!(run.code == Some(1), "one command was refused: {run:#?}");
        let out = &run.stdout;
        ensure!(
            out.contains("support session with gateway systest open for"),
            "{out}"
        );
        ensure!(out.contains("# links\nLOCK "), "{out}");
        ensure!(out.contains(&lock), "{out}");
        ensure!(out.contains(Forbidden::LockAdd.why()), "{out}");
        ensure!(
            out.contains("# health\nuptime_s: ") || out.contains("mqtt:"),
            "{out}"
        );
        ensure!(run.stderr.contains("1 of 4 support commands"), "{run:#?}");
        ensure!(!out.contains(&code), "the code echoed: {out}");
        let log = bed.gateway.log_text();
        ensure!(
            log.contains("bob"),
            "the operator is not in the audit trail"
        );
        Ok(())
    });
}

#[test]
fn five_wrong_codes_burn_the_code() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let code = start_code(&bed).await?;
        let staff = staff(&bed)?;
        for _ in 0..5 {
            fail_once(&staff, wrong_code(&code)).await?;
        }
        // The client's abort of the fifth attempt reaches the gateway a moment later.
        let mut status = support_status(&bed).await?;
        for _ in 0..20 {
            if status["code"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            status = support_status(&bed).await?;
        }
        ensure!(status["code"].is_null(), "the code survived: {status}");
        ensure!(status["throttle"]["failures"] == 5, "{status}");
        let right = support_run(&staff, &code, &["health"]).await?;
        let refused = support_error(&right, 1)?;
        let name = refused["error"].as_str().unwrap_or_default();
        ensure!(
            [
                "support_throttled",
                "support_code_burned",
                "support_no_code"
            ]
            .contains(&name),
            "{refused}"
        );
        Ok(())
    });
}

#[test]
fn the_throttle_survives_a_restart() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().start(&diag).await?;
        let code = start_code(&bed).await?;
        let staff = staff(&bed)?;
        fail_once(&staff, wrong_code(&code)).await?;
        fail_once(&staff, wrong_code(&code)).await?;
        let from = bed.observer.cursor();
        bed.gateway.restart().await?;
        bed.wait_online(from).await?;
        let status = support_status(&bed).await?;
        ensure!(status["throttle"]["failures"] == 2, "{status}");
        ensure!(
            status["code"].is_null(),
            "a restart cancels the code: {status}"
        );
        let retry = status["throttle"]["retry_after_s"].as_u64().unwrap_or(0);
        ensure!(retry > 0, "the throttle was forgotten: {status}");
        let code = start_code(&bed).await?;
        let run = support_run(&staff, &code, &["health"]).await?;
        let refused = support_error(&run, 1)?;
        ensure!(refused["error"] == "support_throttled", "{run:#?}");
        ensure!(refused["retry_after_s"].as_u64() > Some(0), "{refused}");
        let message = refused["message"].as_str().unwrap_or_default();
        ensure!(message.contains("retry in"), "{refused}");
        Ok(())
    });
}

#[test]
fn a_session_ends_when_its_time_is_up() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder()
            .gateway(|c| {
                let key = "LOCKGATE_SUPPORT__SESSION_LENGTH";
                c.env.push((key.into(), "1min".into()));
            })
            .start(&diag)
            .await?;
        let code = start_code(&bed).await?;
        let staff = staff(&bed)?;
        let (mut shell, welcome) = open_shell(&staff, &code).await?;
        let left = welcome["expires_in_s"]
            .as_u64()
            .context("no expires_in_s")?;
        ensure!((1..=60).contains(&left), "{welcome}");
        ok(&mut shell, "health").await?;
        // Nothing more is typed: the gateway ends the session on time, and the shell with it.
        let ended = shell.finish_after(Duration::from_secs(75)).await?;
        let last = support_error(&ended, 1)?;
        ensure!(last["error"] == "support_ended", "{last}");
        let message = last["message"].as_str().unwrap_or_default();
        ensure!(message.contains("time limit"), "{last}");
        let status = support_status(&bed).await?;
        ensure!(status["session"].is_null(), "{status}");
        Ok(())
    });
}
