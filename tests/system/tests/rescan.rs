//! Remote support's `rescan` against the real daemon (docs/GATEWAY.md §7): it stops the
//! gateway's BlueZ discovery session and starts a new one (locksim counts every
//! `StopDiscovery` and `StartDiscovery`), and the gateway keeps discovering afterwards.

use anyhow::{ensure, Context};
use lockgate_support::{Request, Status};
use lockgate_systest::process::poll_until;
use lockgate_systest::support::attempt;
use lockgate_systest::testbed::WAIT;
use lockgate_systest::{run, TestBed};
use std::collections::BTreeMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

fn count(counters: &BTreeMap<String, u64>, name: &str) -> u64 {
    counters.get(name).copied().unwrap_or(0)
}

#[test]
fn rescan_stops_and_restarts_discovery() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().start(&diag).await?;
        let out = bed.lockgate(&["support", "start", "--json"]).await?;
        let started: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("lockgate support start: {out:?}"))?;
        let code = started["code"].as_str().context("no code")?;
        let port = bed.broker.port();
        let mut session = attempt(port, &bed.topics, code, "alice@vendor")
            .await?
            .open()?;

        let before = bed.sim.counters().await?;
        ensure!(count(&before, "discovery.started") >= 1, "{before:?}");
        let answer = session.ask(&Request::Rescan).await?;
        ensure!(answer.status == Status::Ok, "rescan answered {answer:?}");

        let restarted = poll_until(WAIT, "a StopDiscovery and a StartDiscovery", async || {
            let now = bed.sim.counters().await?;
            let more = |name| count(&now, name) > count(&before, name);
            Ok((more("discovery.stopped") && more("discovery.started")).then_some(now))
        });
        let after = restarted.await?;
        // The daemon logs the restart after BlueZ answered, so the counters can move first.
        let logged = poll_until(WAIT, "the daemon's \"discovery restarted\"", async || {
            Ok(bed
                .gateway
                .log_text()
                .contains("discovery restarted")
                .then_some(()))
        });
        logged.await?;
        // The new session is the one left running: started once more than stopped since.
        let net = |c: &BTreeMap<String, u64>| {
            count(c, "discovery.started") - count(c, "discovery.stopped")
        };
        ensure!(
            net(&after) == net(&before),
            "before {before:?}, after {after:?}"
        );
        Ok(())
    });
}
