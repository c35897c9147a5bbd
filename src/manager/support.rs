//! Remote support (docs/GATEWAY.md §7): the manager hands support messages to the
//! [`SupportService`](crate::support::SupportService), carries out the actions a session may
//! ask for (health, links, reconnect, rescan, adapter power cycle), publishes the answers,
//! and serves the control socket's `support_start`, `support_status` and `support_stop`.

use super::Manager;
use crate::ble::AdapterCmd;
use crate::control::Response;
use crate::health::Counters;
use crate::support::{unix_now_ms, Action, Pending, Publish};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Manager {
    /// A message on a support topic.
    pub(super) fn on_support(&mut self, topic: &str, payload: &[u8]) {
        let handled = self.support.handle(unix_now_ms(), topic, payload, false);
        self.publish_support(handled.publish);
        if let Some(Pending { ticket, action }) = handled.action {
            let result = self.support_action(&action);
            let out = self.support.answer(unix_now_ms(), ticket, result);
            self.publish_support(out);
        }
    }

    fn support_action(&mut self, action: &Action) -> Result<Value, String> {
        match action {
            Action::Health => {
                self.publish_health();
                Ok(self.health.report(&self.fixed))
            }
            Action::Links => serde_json::to_value(self.lock_reports())
                .map(|locks| json!({ "locks": locks }))
                .map_err(|e| e.to_string()),
            Action::Reconnect(id) => {
                let id = self.paired_lock(&id.to_string())?;
                self.reconnect(&id);
                Ok(json!({}))
            }
            Action::Rescan => {
                // Restart discovery, forget the unpaired locks seen so far and try every link
                // that is down now.
                self.tell_adapter(AdapterCmd::RestartDiscovery)?;
                self.seen.clear();
                let down: Vec<_> = self
                    .locks
                    .iter()
                    .filter(|(_, e)| !e.connected)
                    .map(|(id, _)| *id)
                    .collect();
                for id in &down {
                    self.reconnect(id);
                }
                Ok(json!({ "retried": down.len() }))
            }
            Action::ResetAdapter => {
                self.tell_adapter(AdapterCmd::PowerCycle)?;
                self.last_reset = Some(Instant::now());
                Counters::bump(&self.health.counters.adapter_resets);
                self.event("adapter_reset", json!({"adapter": self.fixed.adapter}));
                Ok(json!({}))
            }
        }
    }

    pub(super) fn publish_support(&self, out: Vec<Publish>) {
        for p in out {
            self.wiring.mqtt.publish(p.topic, p.payload, false);
        }
    }

    /// Expiries of the code, the handshake and the session.
    pub(super) fn support_tick(&mut self) {
        let now = unix_now_ms();
        if self.support.next_deadline().is_some_and(|t| t <= now) {
            let out = self.support.tick(now);
            self.publish_support(out);
        }
    }

    /// When the support service next has something to do.
    pub(super) fn support_deadline(&self, now: Instant) -> Option<Instant> {
        let at = self.support.next_deadline()?;
        let wait = at.saturating_sub(unix_now_ms());
        Some(now + Duration::from_millis(wait))
    }

    pub(super) fn support_start(&mut self, valid_s: Option<u64>) -> Response {
        let now = unix_now_ms();
        match self.support.start(now, valid_s.map(Duration::from_secs)) {
            Ok((started, out)) => {
                self.publish_support(out);
                Response::SupportCode {
                    code: started.code.grouped().to_string(),
                    expires_in_s: started.valid_for.as_secs(),
                }
            }
            Err(e) => Response::Error {
                error: e.to_string(),
            },
        }
    }

    pub(super) fn support_status(&mut self) -> Response {
        let status = self.support.status(unix_now_ms());
        match serde_json::to_value(status) {
            Ok(support) => Response::SupportStatus { support },
            Err(e) => Response::Error {
                error: e.to_string(),
            },
        }
    }

    pub(super) fn support_stop(&mut self) -> Response {
        let out = self.support.stop(unix_now_ms());
        self.publish_support(out);
        Response::Ok
    }

    /// SIGHUP: the support settings; subscriptions follow `support.enabled`.
    pub(super) async fn support_reload(&mut self, config: &crate::config::Config) {
        let out = self.support.reload(config, unix_now_ms());
        self.publish_support(out);
        self.wiring
            .mqtt
            .support_topics(self.support.subscriptions())
            .await;
    }

    /// Shutdown: the code is cancelled and a session ends.
    pub(super) fn support_shutdown(&mut self) {
        let out = self.support.stop(unix_now_ms());
        self.publish_support(out);
    }
}
