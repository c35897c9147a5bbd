//! Operating a running lockgated (docs/GATEWAY.md §4, §5): SIGHUP applies live settings, and
//! the `lockgate` CLI over the real control socket reports status and removes a lock with its
//! bond and its retained topics; systemd hears READY, watchdog pings at half the interval it
//! asked for, and STOPPING.

use anyhow::{ensure, Context};
use lockgate_systest::bench::notify::NotifySocket;
use lockgate_systest::testbed::WAIT;
use lockgate_systest::{run, TestBed};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn sighup_makes_persistent_links_on_demand_with_a_short_idle_timeout() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder()
            .gateway(|c| {
                c.link_policy = "persistent".into();
                c.idle_timeout = Duration::from_secs(300);
            })
            .start(&diag)
            .await?;
        let mut bed = bed;
        let lock = bed.lock_id(0);
        bed.wait_link(&lock, true).await?;
        bed.gateway.reconfigure(|c| {
            c.link_policy = "on_demand".into();
            c.idle_timeout = Duration::from_secs(1);
        })?;
        let pid = bed.gateway.pid().context("lockgated runs")?;
        kill(Pid::from_raw(i32::try_from(pid)?), Signal::SIGHUP)?;
        bed.wait_link(&lock, false).await?;
        ensure!(bed.gateway.is_running(), "SIGHUP must not stop the daemon");
        let log = bed.gateway.log_text();
        ensure!(
            log.contains("configuration reloaded"),
            "no reload in the log"
        );
        Ok(())
    });
}

#[test]
fn lockgate_reports_status_and_removes_a_lock_with_its_bond_and_retained_topics() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().locks(2).start(&diag).await?;
        let (gone, kept) = (bed.lock_id(0), bed.lock_id(1));
        let status = bed.lockgate(&["status", "--json"]).await?;
        ensure!(status.status.success(), "status: {status:?}");
        let report: serde_json::Value = serde_json::from_slice(&status.stdout)?;
        ensure!(report["status"]["mqtt"]["connected"] == true, "{report}");
        ensure!(report["status"]["ble"]["powered"] == true, "{report}");

        let from = bed.observer.cursor();
        let removed = bed
            .lockgate(&["locks", "remove", &gone.to_string()])
            .await?;
        ensure!(removed.status.success(), "remove: {removed:?}");
        let lock_topics = bed.topics.for_lock(&gone);
        for topic in [lock_topics.link(), lock_topics.availability()] {
            let cleared = |inbox: &lockgate_systest::mqtt::Inbox| {
                let msgs = inbox.messages.get(from..)?;
                msgs.iter()
                    .any(|m| m.topic == topic && m.payload.is_empty())
                    .then_some(())
            };
            bed.observer
                .wait(WAIT, &format!("{topic} cleared"), cleared)
                .await?;
        }
        bed.wait_event(from, "lock_removed").await?;
        let locks = bed.topics.bridge_locks();
        let listed = |v: &serde_json::Value| {
            let ids: Vec<&str> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["id"].as_str())
                .collect();
            ids == [kept.to_string().as_str()]
        };
        bed.wait_json(
            &locks,
            from,
            "bridge/locks without the removed lock",
            listed,
        )
        .await?;
        let address = bed.locks[0].address.replace(':', "_");
        let bonded = bed.sim.bonded_devices().await?;
        ensure!(
            !bonded.iter().any(|path| path.ends_with(&address)),
            "the bond of {gone} is still there: {bonded:?}"
        );
        let registry = std::fs::read_to_string(bed.gateway.state_dir().join("locks.json"))?;
        ensure!(!registry.contains(&gone.to_string()), "{registry}");
        ensure!(registry.contains(&kept.to_string()), "{registry}");
        Ok(())
    });
}

#[test]
fn repeated_connect_failures_power_cycle_the_adapter_and_links_come_back() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder()
            .gateway(|c| c.link_policy = "persistent".into())
            .start(&diag)
            .await?;
        let lock = bed.lock_id(0);
        let level = lock.to_string();
        bed.wait_link(&lock, true).await?;
        let from = bed.observer.cursor();
        // Out of range, the persistent link drops and every reconnect fails; after five
        // failures in a row (backing off 1, 2, 4, 8 s) the gateway resets the adapter.
        bed.sim.ctl(&["range", &level, "out"]).await?;
        bed.wait_link(&lock, false).await?;
        bed.wait_event(from, "adapter_reset").await?;
        bed.wait_event(from, "adapter_back").await?;
        bed.sim.ctl(&["range", &level, "in"]).await?;
        bed.wait_link(&lock, true).await?;
        let mut phone = bed.endpoint("phone").await?;
        let reset = |h: &serde_json::Value| h["ble"]["adapter_resets"] == 1;
        phone
            .health_until(WAIT, "the adapter reset counted once", reset)
            .await?;
        Ok(())
    });
}

#[test]
fn systemd_hears_ready_watchdog_pings_and_stopping() {
    run(LIMIT, |diag| async move {
        let notify = NotifySocket::bind()?;
        let mut bed = TestBed::builder().gateway_stopped().start(&diag).await?;
        let socket = notify.env();
        bed.gateway.reconfigure(|c| {
            c.env.push(socket);
            c.env.push(("WATCHDOG_USEC".into(), "1000000".into()));
        })?;
        bed.gateway.start()?;
        notify.ready(WAIT).await?;
        // A ping every half interval while the relay and the manager make progress; systemd
        // would kill the service if a whole interval passed without one.
        let interval = Duration::from_secs(1);
        let mut last = notify.line("WATCHDOG=1", interval).await?;
        for _ in 0..4 {
            let at = notify.line("WATCHDOG=1", interval).await?;
            let gap = at - last;
            ensure!(gap < interval, "{gap:?} between two pings");
            last = at;
        }
        bed.gateway.kill(Signal::SIGTERM).await?;
        notify.line("STOPPING=1", WAIT).await?;
        Ok(())
    });
}
