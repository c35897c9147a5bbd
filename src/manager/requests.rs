//! Requests to the manager: `bridge/request/<cmd>` from MQTT (health, pairing/state,
//! pairing/close, lock/reconnect: nothing that opens the pairing window, adds or removes a
//! lock) and the control socket's requests (status, locks, locks add, locks remove, pair),
//! which only local root or group `lockgate` can send.

use super::{Manager, Seen};
use crate::ble::link::LinkCmd;
use crate::ble::AdapterCmd;
use crate::control::{BleStatus, MqttStatus, Request, Response, SpoolStatus, StatusReport};
use crate::health::Counters;
use crate::pairing::CloseReason;
use crate::registry::PairedLock;
use lockgate_wire::LockId;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the adapter task may take to answer.
const ADAPTER_ANSWER: Duration = Duration::from_secs(10);

impl Manager {
    pub(super) fn on_request(&mut self, cmd: &str, payload: &[u8]) {
        Counters::bump(&self.health.counters.requests);
        let parsed: Result<Map<String, Value>, String> = if payload.is_empty() {
            Ok(Map::new())
        } else {
            match serde_json::from_slice::<Value>(payload) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("the request must be a JSON object".into()),
                Err(e) => Err(format!("the request is not JSON: {e}")),
            }
        };
        let transaction = parsed
            .as_ref()
            .ok()
            .and_then(|m| m.get("transaction").cloned());
        let outcome = parsed.and_then(|fields| self.bridge_command(cmd, &fields));
        let mut response = match outcome {
            Ok(data) => json!({"status": "ok", "data": data}),
            Err(error) => json!({"status": "error", "error": error}),
        };
        if let Some(t) = transaction {
            response["transaction"] = t;
        }
        match self.topics.bridge_response(cmd) {
            Ok(topic) => self
                .wiring
                .mqtt
                .publish(topic, response.to_string().into_bytes(), false),
            Err(e) => log::info!("bridge request with an unusable command {cmd:?}: {e}"),
        }
    }

    fn bridge_command(&mut self, cmd: &str, fields: &Map<String, Value>) -> Result<Value, String> {
        match cmd {
            "health" => {
                self.publish_health();
                Ok(self.health.report(&self.fixed))
            }
            // The window opens only by physical presence; closing it is always allowed.
            "pairing/close" => {
                self.close_window(CloseReason::Mqtt);
                Ok(json!(self.window_state(Instant::now())))
            }
            "pairing/state" => Ok(json!(self.window_state(Instant::now()))),
            "pairing/open" => Err(
                "MQTT cannot open the pairing window: press the gateway's pairing button, or                  run `lockgate pair` on the gateway"
                    .into(),
            ),
            "lock/reconnect" => {
                let lock = fields
                    .get("lock")
                    .and_then(Value::as_str)
                    .ok_or("lock/reconnect needs \"lock\": a lock id")?;
                let id = self.paired_lock(lock)?;
                self.reconnect(&id);
                Ok(json!({}))
            }
            other => Err(format!(
                "unknown command {other:?}; known: health, pairing/state, pairing/close, \
                 lock/reconnect"
            )),
        }
    }

    pub(super) fn paired_lock(&self, text: &str) -> Result<LockId, String> {
        let id: LockId = text
            .parse()
            .map_err(|e| format!("{text:?} is not a lock id: {e}"))?;
        if self.locks.contains_key(&id) {
            Ok(id)
        } else {
            Err(format!("no lock {id} is paired"))
        }
    }

    /// Drops the lock's link; it comes back at once if it was up.
    pub(super) fn reconnect(&mut self, id: &LockId) {
        let was_up = self.locks.get(id).is_some_and(|e| e.connected);
        log::info!("ble: {id}: reconnect requested");
        self.tell(id, LinkCmd::Disconnect);
        if was_up {
            self.tell(id, LinkCmd::Connect);
        }
    }

    pub(super) async fn on_control(&mut self, request: Request) -> Response {
        match request {
            Request::Status => Response::Status {
                status: self.status_report(),
            },
            Request::Locks => Response::Locks {
                locks: self.lock_reports(),
            },
            Request::LocksAdd { lock } => match self.add_lock(lock).await {
                Ok(()) => Response::Ok,
                Err(error) => Response::Error { error },
            },
            Request::LocksRemove { lock } => match self.remove_lock(lock).await {
                Ok(()) => Response::Ok,
                Err(error) => Response::Error { error },
            },
            Request::Pair {
                seconds,
                passkey,
                stop,
            } => self.on_pair(seconds, passkey, stop).await,
            Request::SupportStart { valid_s } => self.support_start(valid_s),
            Request::SupportStatus => self.support_status(),
            Request::SupportStop => self.support_stop(),
        }
    }

    fn status_report(&self) -> StatusReport {
        let h = &self.health;
        let counters = h
            .counters
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        StatusReport {
            version: crate::VERSION.to_string(),
            gateway_id: self.config.gateway.id.clone(),
            uptime_s: h.started.elapsed().as_secs(),
            mqtt: MqttStatus {
                connected: h.mqtt_connected.load(Ordering::Relaxed),
                broker: format!("{}:{}", self.config.mqtt.host, self.config.mqtt.port()),
                last_error: h.mqtt_last_error.lock().ok().and_then(|e| e.clone()),
            },
            ble: BleStatus {
                adapter: self.fixed.adapter.clone(),
                powered: h.adapter_powered.load(Ordering::Relaxed),
                links: u32::try_from(h.links.load(Ordering::Relaxed)).unwrap_or(u32::MAX),
                max_connections: u32::from(self.config.ble.max_connections),
            },
            spool: SpoolStatus {
                frames: h.spool_frames.load(Ordering::Relaxed),
                bytes: h.spool_bytes.load(Ordering::Relaxed),
                dropped: h.counters.spool_dropped.load(Ordering::Relaxed),
            },
            counters,
            pairing_open: self.window.is_open(Instant::now()),
            pairing: Some(self.window_state(Instant::now())),
        }
    }

    /// Hands `cmd` to the adapter task without waiting; an error if its queue is full.
    pub(super) fn tell_adapter(&self, cmd: AdapterCmd) -> Result<(), String> {
        self.wiring
            .adapter_cmds
            .try_send(cmd)
            .map_err(|_| "the Bluetooth adapter task is busy; try again".to_string())
    }

    pub(super) async fn ask_adapter<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> AdapterCmd,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        self.tell_adapter(make(reply))?;
        match tokio::time::timeout(ADAPTER_ANSWER, answer).await {
            Ok(Ok(result)) => result,
            _ => Err("the Bluetooth adapter did not answer in time".into()),
        }
    }

    /// Enrolls a lock that is already bonded with this adapter and was seen advertising.
    async fn add_lock(&mut self, id: LockId) -> Result<(), String> {
        if self.locks.contains_key(&id) {
            return Err(format!("lock {id} is already paired"));
        }
        let seen =
            self.seen.get(&id).cloned().ok_or_else(|| {
                format!("lock {id} has not been seen advertising; bring it in range")
            })?;
        let address = seen.address;
        let bonded = self
            .ask_adapter(|reply| AdapterCmd::IsBonded { address, reply })
            .await?;
        if !bonded {
            return Err(format!(
                "lock {id} ({address}) is not bonded with this adapter; pair it first \
                 (lockgate pair)"
            ));
        }
        self.enroll(id, seen)?;
        self.event("lock_added", json!({"id": id.to_string()}));
        Ok(())
    }

    /// Adds a bonded lock to the registry and starts serving it (its link policy starts).
    pub(super) fn enroll(&mut self, id: LockId, seen: Seen) -> Result<PairedLock, String> {
        let paired = PairedLock {
            id,
            address: seen.address.to_string(),
            name: seen.name.unwrap_or_else(|| format!("lock {id}")),
            added_at: crate::unix_now(),
        };
        self.registry
            .add(paired.clone())
            .map_err(|e| format!("saving the registry: {e}"))?;
        self.seen.remove(&id);
        self.serve(paired.clone());
        if let Some(entry) = self.locks.get_mut(&id) {
            entry.rssi = seen.rssi;
        }
        if seen.rssi.is_some() {
            self.heard(&id, Instant::now());
        }
        self.publish_lock(&id);
        self.publish_locks();
        self.publish_lock_discovery(&id);
        Ok(paired)
    }

    /// Forgets a lock: its bond, its registry entry, its retained topics.
    async fn remove_lock(&mut self, id: LockId) -> Result<(), String> {
        let Some(entry) = self.locks.get(&id) else {
            return Err(format!("no lock {id} is paired"));
        };
        let address = entry.paired.address.parse().map_err(|_| "bad address")?;
        if let Err(e) = self
            .ask_adapter(|reply| AdapterCmd::RemoveDevice { address, reply })
            .await
        {
            log::warn!("ble: {id}: {e}; removing it from the registry anyway");
        }
        self.registry
            .remove(&id)
            .map_err(|e| format!("saving the registry: {e}"))?;
        self.locks.remove(&id);
        if let Some(disconnect) = self.scheduler.remove_lock(&id) {
            log::debug!("ble: {id}: {disconnect:?} on removal");
        }
        let _ = self.downq.take(&id);
        self.clear_lock_topics(&id);
        self.clear_lock_discovery(&id);
        self.publish_locks();
        self.event("lock_removed", json!({"id": id.to_string()}));
        Ok(())
    }
}
