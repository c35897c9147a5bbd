//! Remote support against the real daemon (docs/GATEWAY.md §7): a one-time code from
//! `lockgate support start` opens one session and only one; wrong codes are throttled and five
//! burn the code; the throttle survives a restart; a session can read and repair but every
//! refused command is refused and changes nothing; `lockgate support stop` ends a session and
//! so does its time; the code never appears on MQTT or in the gateway's log.

use anyhow::{bail, ensure, Context, Result};
use lockgate_support::{CloseReason, Forbidden, Reason, Request, Status};
use lockgate_systest::support::{attempt, Attempt, Session};
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

async fn try_code(bed: &TestBed, code: &str) -> Result<Attempt> {
    attempt(bed.broker.port(), &bed.topics, code, "alice@vendor").await
}

/// A wrong attempt that the gateway counted: waits out the throttle first if it says so.
async fn fail_once(bed: &TestBed, code: &str) -> Result<()> {
    loop {
        match try_code(bed, code).await? {
            Attempt::WrongCode => return Ok(()),
            Attempt::Refused {
                reason: Reason::Throttled,
                retry_after_secs,
            } => {
                let wait = Duration::from_secs(u64::from(retry_after_secs));
                tokio::time::sleep(wait + Duration::from_millis(300)).await;
            }
            other => bail!("a wrong code was answered: {}", other.describe()),
        }
    }
}

async fn support_status(bed: &TestBed) -> Result<Value> {
    let v = lockgate_json(bed, &["support", "status"]).await?;
    ensure!(v["type"] == "support_status", "{v}");
    Ok(v["support"].clone())
}

async fn ok(session: &mut Session, request: Request) -> Result<Value> {
    let r = session.ask(&request).await?;
    ensure!(r.status == Status::Ok, "{} answered {r:?}", request.name());
    r.data.context("no data")
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

        let mut session = try_code(&bed, &code).await?.open()?;
        ensure!(session.expires_in_s > 0 && session.commands.contains(&"health".into()));
        let health = ok(&mut session, Request::Health).await?;
        ensure!(health.is_object(), "{health}");
        let links = ok(&mut session, Request::Links).await?;
        ensure!(links.to_string().contains(&lock), "{links}");
        let logs = ok(&mut session, Request::Logs { lines: 50 }).await?;
        ensure!(!logs.to_string().is_empty());
        let config = ok(&mut session, Request::Config).await?;
        ensure!(config.to_string().contains("systest"), "{config}");
        let reconnect = Request::Reconnect {
            lock: bed.lock_id(0),
        };
        ok(&mut session, reconnect).await?;
        ok(&mut session, Request::Rescan).await?;

        for forbidden in Forbidden::ALL {
            let r = session.ask(&Request::Forbidden(forbidden)).await?;
            ensure!(r.status == Status::Refused, "{}: {r:?}", forbidden.name());
            ensure!(r.error.as_deref() == Some(forbidden.why()), "{r:?}");
        }
        let gw = lockgate_json(&bed, &["status"]).await?;
        ensure!(gw["status"]["pairing_open"] == false, "{gw}");
        let locks = lockgate_json(&bed, &["locks"]).await?;
        let ids: Vec<_> = locks["locks"].as_array().into_iter().flatten().collect();
        ensure!(ids.len() == 1 && ids[0]["id"] == lock.as_str(), "{locks}");

        // The code works once.
        let again = try_code(&bed, &code).await?;
        ensure!(
            matches!(again, Attempt::Refused { .. }),
            "{}",
            again.describe()
        );

        let status = support_status(&bed).await?;
        ensure!(status["code"].is_null(), "{status}");
        ensure!(status["session"]["operator"] == "alice@vendor", "{status}");
        ensure!(
            status["session"]["expires_in_s"].as_u64() > Some(0),
            "{status}"
        );

        let out = bed.lockgate(&["support", "stop"]).await?;
        ensure!(out.status.success(), "{out:?}");
        let reason = session.closed(Duration::from_secs(10)).await?;
        ensure!(reason == CloseReason::Stopped, "{reason:?}");
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
        ensure!(
            log.contains("SUPPORT") || log.contains("support"),
            "no audit lines"
        );
        Ok(())
    });
}

#[test]
fn five_wrong_codes_burn_the_code() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let code = start_code(&bed).await?;
        for _ in 0..5 {
            fail_once(&bed, wrong_code(&code)).await?;
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
        let right = try_code(&bed, &code).await?;
        ensure!(
            matches!(right, Attempt::Refused { .. }),
            "{}",
            right.describe()
        );
        Ok(())
    });
}

#[test]
fn the_throttle_survives_a_restart() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().start(&diag).await?;
        let code = start_code(&bed).await?;
        fail_once(&bed, wrong_code(&code)).await?;
        fail_once(&bed, wrong_code(&code)).await?;
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
        match try_code(&bed, &code).await? {
            Attempt::Refused {
                reason: Reason::Throttled,
                retry_after_secs,
            } => ensure!(retry_after_secs > 0),
            other => bail!("not throttled after a restart: {}", other.describe()),
        }
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
        let mut session = try_code(&bed, &code).await?.open()?;
        ensure!(session.expires_in_s <= 60, "{}", session.expires_in_s);
        let reason = session.closed(Duration::from_secs(75)).await?;
        ensure!(reason == CloseReason::Expired, "{reason:?}");
        ensure!(session.ask(&Request::Health).await.is_err());
        let status = support_status(&bed).await?;
        ensure!(status["session"].is_null(), "{status}");
        Ok(())
    });
}
