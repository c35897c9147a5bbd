//! The `lockctl` binary against the real bed (mosquitto, locksim, lockgated): pairing with the
//! label code and using the lock with `--json`; invites, roles and revocation between two
//! endpoints; and failures named by what the gateway reports (docs/LOCKCTL.md): wrong code,
//! closed window, used invite, revoked endpoint, unreachable lock, offline gateway.

use anyhow::{ensure, Context, Result};
use lockctl::error::{EXIT_GATEWAY, EXIT_REFUSED, EXIT_UNREACHABLE};
use lockgate_systest::lockctl::{Lockctl, Run};
use lockgate_systest::process::poll_until;
use lockgate_systest::testbed::{GATEWAY_ID, WAIT};
use lockgate_systest::{run, TestBed};
use nix::sys::signal::Signal;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// A valid label code that is not `code`.
fn another_code(code: &str) -> &'static str {
    match code {
        "19283746" => "19283747",
        _ => "19283746",
    }
}

/// `lockctl pair` with lock 0 of `bed` and `code`, with `--json`.
async fn pair(phone: &Lockctl, bed: &TestBed, code: &str) -> Result<Run> {
    let lock = bed.lock_id(0).to_string();
    let args = [
        "pair",
        "--gateway",
        GATEWAY_ID,
        "--lock",
        &lock,
        "--code",
        code,
        "--json",
    ];
    phone.run(&args).await
}

/// Presses lock 0's button and pairs `phone` with its label code; its JSON report.
async fn pair_by_button(phone: &Lockctl, bed: &TestBed) -> Result<serde_json::Value> {
    bed.sim.press(&bed.lock_id(0)).await?;
    pair(phone, bed, &bed.locks[0].label_code).await?.ok()
}

/// Asks for the status until the mechanism is `state`.
async fn wait_state(phone: &Lockctl, lock: &str, state: &str) -> Result<()> {
    poll_until(WAIT, &format!("{lock} {state}"), async || {
        let status = phone.run(&["status", lock, "--json"]).await?.ok()?;
        Ok((status["state"] == state).then_some(()))
    })
    .await
}

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[test]
fn a_lock_is_paired_with_its_label_code_and_used_from_the_command_line() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let lock = bed.lock_id(0).to_string();
        let label = bed.locks[0].label_code.clone();
        let phone = bed.lockctl("phone")?;

        let closed = pair(&phone, &bed, &label).await?;
        let error = closed.failed(EXIT_REFUSED, "not_in_pairing_mode")?;
        ensure!(error["message"]
            .as_str()
            .is_some_and(|m| m.contains("press its button")));

        bed.sim.press(&bed.lock_id(0)).await?;
        let wrong = pair(&phone, &bed, another_code(&label)).await?;
        wrong.failed(EXIT_REFUSED, "wrong_code")?;
        ensure!(wrong.stderr.contains("check the label code"), "{wrong:#?}");

        // The window stays open after one wrong attempt: the right code pairs, as admin.
        let paired = pair(&phone, &bed, &label).await?;
        let report = paired.ok()?;
        ensure!(
            report["role"] == "admin" && report["lock"] == lock.as_str(),
            "{report}"
        );
        for step in ["waiting for gateway", "exchanging keys", "confirming"] {
            ensure!(
                paired.stderr.contains(step),
                "no {step:?} in {}",
                paired.stderr
            );
        }
        let store = phone.config_dir();
        ensure!(mode(store)? == 0o700 && mode(&store.join("identity.json"))? == 0o600);
        ensure!(mode(&store.join(format!("locks/{lock}.json")))? == 0o600);

        let status = phone.run(&["status", &lock, "--json"]).await?.ok()?;
        ensure!(status["pairing_window_open"] == false, "{status}");
        ensure!(status["unlatch_supported"] == true, "{status}");
        let locked = phone.run(&["lock", &lock, "--json"]).await?.ok()?;
        ensure!(
            locked["state"] == "locking" && locked["action"] == "lock",
            "{locked}"
        );
        wait_state(&phone, &lock, "locked").await?;
        let unlocked = phone.run(&["unlock", &lock, "--json"]).await?.ok()?;
        ensure!(unlocked["state"] == "unlocking", "{unlocked}");
        wait_state(&phone, &lock, "unlocked").await?;
        let unlatched = phone.run(&["unlatch", &lock[..6], "--json"]).await?.ok()?;
        ensure!(unlatched["state"] == "unlatching", "{unlatched}");

        let known = phone.run(&["locks", "--json"]).await?.ok()?;
        ensure!(known["locks"][0]["gateway"] == GATEWAY_ID, "{known}");
        ensure!(known["locks"][0]["role"] == "admin", "{known}");
        let text = phone.run(&["status", &lock]).await?;
        ensure!(text.stdout.contains("battery:"), "{text:#?}");
        Ok(())
    });
}

#[test]
fn an_invite_admits_one_endpoint_once_and_a_revoked_endpoint_is_refused() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let lock = bed.lock_id(0).to_string();
        let (admin, guest, late) = (
            bed.lockctl("admin")?,
            bed.lockctl("guest")?,
            bed.lockctl("late")?,
        );
        pair_by_button(&admin, &bed).await?;

        let invite = admin
            .run(&["users", "invite", &lock, "--json"])
            .await?
            .ok()?;
        ensure!(invite["role"] == "user", "{invite}");
        let code = invite["code"].as_str().unwrap_or_default().to_owned();
        let join = [
            "join",
            "--gateway",
            GATEWAY_ID,
            "--lock",
            &lock,
            "--invite",
            &code,
            "--json",
        ];
        let joined = guest.run(&join).await?.ok()?;
        ensure!(
            joined["role"] == "user" && joined["auth_id"] == 2,
            "{joined}"
        );
        let again = late.run(&join).await?;
        let error = again.failed(EXIT_REFUSED, "invite_unknown")?;
        ensure!(error["message"]
            .as_str()
            .is_some_and(|m| m.contains("new invite")));

        let users = admin.run(&["users", "list", &lock, "--json"]).await?.ok()?;
        let roles: Vec<(Option<&str>, Option<&str>)> = users["users"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| (u["name"].as_str(), u["role"].as_str()))
            .collect();
        let expected = [
            (Some("admin"), Some("admin")),
            (Some("guest"), Some("user")),
        ];
        ensure!(roles == expected, "{users}");
        ensure!(users["users"][0]["this_endpoint"] == true, "{users}");

        // A user may not list; then the admin revokes the user, who is refused from then on.
        let forbidden = guest.run(&["users", "list", &lock, "--json"]).await?;
        forbidden.failed(EXIT_REFUSED, "forbidden")?;
        guest.run(&["status", &lock, "--json"]).await?.ok()?;
        admin
            .run(&["users", "revoke", &lock, "guest", "--json"])
            .await?
            .ok()?;
        let refused = guest.run(&["status", &lock, "--json"]).await?;
        let error = refused.failed(EXIT_REFUSED, "unknown_authorization")?;
        ensure!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("revoked")),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn an_unreachable_lock_and_an_offline_gateway_are_named_without_waiting_out_the_timeout() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder()
            .gateway(|c| c.down_frame_ttl = Duration::from_secs(2))
            .start(&diag)
            .await?;
        let lock = bed.lock_id(0).to_string();
        let phone = bed.lockctl("phone")?;
        pair_by_button(&phone, &bed).await?;

        let unknown = [
            "pair",
            "--gateway",
            "nowhere",
            "--lock",
            &lock,
            "--code",
            "19283746",
        ];
        let run = phone.run(&[&unknown[..], &["--json"]].concat()).await?;
        run.failed(EXIT_GATEWAY, "gateway_unknown")?;

        bed.sim.ctl(&["range", &lock, "out"]).await?;
        let far = phone
            .run(&["status", &lock, "--json", "--timeout", "60s"])
            .await?;
        far.failed(EXIT_UNREACHABLE, "lock_unreachable")?;
        ensure!(far.took < Duration::from_secs(20), "took {:?}", far.took);
        bed.sim.ctl(&["range", &lock, "in"]).await?;

        bed.gateway.kill(Signal::SIGTERM).await?;
        let offline = phone
            .run(&["status", &lock, "--json", "--timeout", "60s"])
            .await?;
        let error = offline.failed(EXIT_GATEWAY, "gateway_offline")?;
        ensure!(
            offline.took < Duration::from_secs(10),
            "took {:?}",
            offline.took
        );
        ensure!(error["message"]
            .as_str()
            .is_some_and(|m| m.contains("lockgated runs")));
        Ok(())
    });
}

/// `n` valid label codes, none of them `label`.
fn wrong_codes(label: &str, n: usize) -> Vec<String> {
    (19_283_701u32..)
        .map(|c| c.to_string())
        .filter(|c| c != label)
        .take(n)
        .collect()
}

/// The lock's budget (PROTOCOL.md §7: 20 failed label attempts per window), through the whole
/// system. Each attempt is a `lockctl pair` run of its own (a process, an MQTT connection, the
/// PAKE round trips through gateway and BLE); they run one after another, as the lock charges
/// each `PairStart` and lockctl's abort of a wrong exchange is what makes it a failure. The
/// 20 take a few seconds here, well inside the lock's 120 s window.
#[test]
fn twenty_wrong_label_codes_close_the_locks_pairing_window() {
    run(Duration::from_secs(240), |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let label = bed.locks[0].label_code.clone();
        let phone = bed.lockctl("phone")?;
        bed.sim.press(&bed.lock_id(0)).await?;
        for (n, code) in wrong_codes(&label, 20).iter().enumerate() {
            let wrong = pair(&phone, &bed, code).await?;
            let failed = wrong.failed(EXIT_REFUSED, "wrong_code");
            failed.with_context(|| format!("wrong attempt {}", n + 1))?;
        }
        // lockctl's abort of the 20th exchange is published as it exits; the gateway and the
        // link carry it to the lock a moment later.
        let closed = "PairingWindowClosed(TooManyAttempts)";
        let what = "locksim closing the window for the attempts";
        poll_until(WAIT, what, async || {
            Ok(bed.sim.log().contains(closed).then_some(()))
        })
        .await?;

        // The right code now finds the window closed.
        let closed = pair(&phone, &bed, &label).await?;
        let error = closed.failed(EXIT_REFUSED, "not_in_pairing_mode")?;
        let message = error["message"].as_str().unwrap_or_default();
        ensure!(message.contains("press its button"), "{error}");

        // A new press opens a new window with a new budget.
        let report = pair_by_button(&phone, &bed).await?;
        ensure!(report["role"] == "admin", "{report}");
        Ok(())
    });
}
