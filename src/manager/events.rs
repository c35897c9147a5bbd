//! How the manager reacts to the link actors, the adapter task (adapter, advertisements,
//! bonds) and down-frames from MQTT.

use super::{Manager, Seen, FAILURES_BEFORE_RESET, RESET_EVERY, SEEN_MAX};
use crate::ble::link::{LinkCmd, LinkEvent};
use crate::ble::{AdapterCmd, BleEvent};
use crate::downq::{self, DownFrame, Reason, Receipt, Status};
use crate::health::Counters;
use crate::mqtt::Inbound;
use lockgate_wire::LockId;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Manager {
    pub(super) fn on_link(&mut self, event: LinkEvent) {
        let now = Instant::now();
        match event {
            LinkEvent::Connected { lock, mtu } => self.connected(lock, mtu, now),
            LinkEvent::ConnectFailed {
                lock,
                in_progress,
                error,
            } => self.connect_failed(lock, in_progress, &error, now),
            LinkEvent::Disconnected { lock, asked } => {
                if !asked {
                    log::info!(lock_id:% = lock; "ble: {lock}: link down");
                }
                self.scheduler.disconnected(&lock, now);
                self.scheduler
                    .down_frames(&lock, self.downq.len(&lock), now);
                self.set_connected(&lock, false, None);
            }
            LinkEvent::Written { lock, frame } => {
                Counters::bump(&self.health.counters.down_written);
                self.scheduler.activity(&lock, now);
                self.receipt(&lock, &Receipt::about(&frame, Status::Written, None));
            }
            LinkEvent::WriteFailed { lock, frame } => self.write_failed(lock, frame, now),
            LinkEvent::Activity { lock } => {
                self.scheduler.activity(&lock, now);
                self.heard(&lock, now);
            }
        }
    }

    fn connected(&mut self, lock: LockId, mtu: u16, now: Instant) {
        self.failures_in_row = 0;
        self.scheduler.connected(&lock, now);
        self.heard(&lock, now);
        self.set_connected(&lock, true, Some(mtu));
        for frame in self.downq.take(&lock) {
            self.hand_over(lock, frame);
        }
        self.scheduler.down_frames(&lock, 0, now);
    }

    fn connect_failed(&mut self, lock: LockId, in_progress: bool, error: &str, now: Instant) {
        let counters = &self.health.counters;
        Counters::bump(&counters.connect_failures);
        if in_progress {
            Counters::bump(&counters.in_progress);
        }
        log::warn!(lock_id:% = lock; "ble: {lock}: connect failed: {error}");
        self.scheduler.connect_failed(&lock, now, fastrand::f64());
        if self.adapter.is_none() {
            return;
        }
        self.failures_in_row += 1;
        let may_reset = self.last_reset.is_none_or(|t| now >= t + RESET_EVERY);
        if self.failures_in_row >= FAILURES_BEFORE_RESET && may_reset {
            self.failures_in_row = 0;
            self.last_reset = Some(now);
            Counters::bump(&self.health.counters.adapter_resets);
            let _ = self.wiring.adapter_cmds.try_send(AdapterCmd::PowerCycle);
            self.event(
                "adapter_reset",
                serde_json::json!({"adapter": self.fixed.adapter}),
            );
        }
    }

    fn write_failed(&mut self, lock: LockId, frame: DownFrame, now: Instant) {
        if now >= frame.expires {
            self.expired(lock, &frame, Reason::WriteFailed);
        } else {
            self.downq.requeue(lock, frame);
            self.scheduler
                .down_frames(&lock, self.downq.len(&lock), now);
        }
    }

    /// Gives a frame to the lock's link actor; a refused hand-over is a `queue_full` receipt,
    /// never a silent loss.
    fn hand_over(&mut self, lock: LockId, frame: DownFrame) {
        let Some(entry) = self.locks.get(&lock) else {
            return;
        };
        if let Err(e) = entry.link.try_send(LinkCmd::Write(frame)) {
            let LinkCmd::Write(frame) = e.into_inner() else {
                return;
            };
            Counters::bump(&self.health.counters.down_rejected);
            let receipt = Receipt::about(&frame, Status::Rejected, Some(Reason::QueueFull));
            self.receipt(&lock, &receipt);
        }
    }

    pub(super) fn expired(&mut self, lock: LockId, frame: &DownFrame, reason: Reason) {
        Counters::bump(&self.health.counters.down_expired);
        log::info!(
            lock_id:% = lock, auth_id = frame.auth_id;
            "down-frame for {lock} (auth id {}, counter {}) expired: {reason:?}",
            frame.auth_id,
            frame.counter
        );
        self.receipt(&lock, &Receipt::about(frame, Status::Expired, Some(reason)));
    }

    pub(super) fn receipt(&self, lock: &LockId, receipt: &Receipt) {
        let topic = self.topics.for_lock(lock).delivery();
        self.wiring.mqtt.publish(topic, receipt.to_json(), false);
    }

    pub(super) fn on_ble(&mut self, event: BleEvent) {
        match event {
            BleEvent::AdapterUp(adapter) => {
                if self.adapter_was_lost {
                    self.event(
                        "adapter_back",
                        serde_json::json!({"adapter": adapter.name()}),
                    );
                }
                self.health.adapter_powered.store(true, Ordering::Relaxed);
                for entry in self.locks.values() {
                    let _ = entry.link.try_send(LinkCmd::Adapter(Some(adapter.clone())));
                }
                self.adapter = Some(adapter);
                self.adapter_pairing();
                self.bond_next(Instant::now());
            }
            BleEvent::AdapterDown { reason } => self.adapter_down(&reason),
            bonded @ BleEvent::Bonded { .. } => self.on_bonded(bonded),
            BleEvent::Advert {
                lock,
                address,
                rssi,
                flags,
                name,
            } => {
                let now = Instant::now();
                let Some(entry) = self.locks.get_mut(&lock) else {
                    if self.seen.len() < SEEN_MAX || self.seen.contains_key(&lock) {
                        let seen = Seen {
                            address,
                            rssi,
                            name,
                            pairing: flags.pairing,
                        };
                        self.seen.insert(lock, seen);
                        if flags.pairing {
                            self.bond_next(now);
                        }
                    }
                    return;
                };
                entry.rssi = rssi;
                if rssi.is_some() {
                    self.heard(&lock, now);
                    self.scheduler.advertised(&lock, flags.pending, now);
                }
                self.publish_link_if_changed(&lock);
            }
        }
    }

    fn adapter_down(&mut self, reason: &str) {
        log::warn!("ble: {reason}");
        crate::notify::status(&format!("waiting for the Bluetooth adapter: {reason}"));
        self.health.adapter_powered.store(false, Ordering::Relaxed);
        if self.adapter.take().is_some() {
            self.adapter_lost_while_pairing();
            self.adapter_was_lost = true;
            Counters::bump(&self.health.counters.adapter_lost);
            self.event("adapter_lost", serde_json::json!({"reason": reason}));
        }
        for entry in self.locks.values() {
            let _ = entry.link.try_send(LinkCmd::Adapter(None));
        }
    }

    pub(super) fn heard(&mut self, lock: &LockId, now: Instant) {
        if let Some(entry) = self.locks.get_mut(lock) {
            entry.heard_at = Some(now);
            entry.last_seen = Some(crate::unix_now());
        }
    }

    pub(super) fn on_inbound(&mut self, msg: Inbound) {
        match msg {
            Inbound::Down { lock, frame } => self.on_down(&lock, frame),
            Inbound::Request { cmd, payload } => self.on_request(&cmd, &payload),
            Inbound::Support { topic, payload } => self.on_support(&topic, &payload),
            Inbound::HomeAssistant { online } => {
                if online {
                    log::info!("Home Assistant (re)started: publishing discovery again");
                    self.publish_discovery();
                }
            }
        }
    }

    fn on_down(&mut self, lock_level: &str, frame: Vec<u8>) {
        let counters = &self.health.counters;
        Counters::bump(&counters.down_frames);
        let refuse = |this: &Self, receipt: Receipt| {
            Counters::bump(&this.health.counters.down_rejected);
            log::info!("down-frame for {lock_level} rejected: {:?}", receipt.reason);
            if let Ok(topics) = this.topics.lock(lock_level) {
                this.wiring
                    .mqtt
                    .publish(topics.delivery(), receipt.to_json(), false);
            }
        };
        let header = match downq::check(&frame) {
            Ok(header) => header,
            Err(receipt) => return refuse(self, receipt),
        };
        let lock = match lock_level.parse::<LockId>() {
            Ok(lock) if self.locks.contains_key(&lock) => lock,
            _ => return refuse(self, Receipt::rejected(Some(&header), Reason::UnknownLock)),
        };
        let now = Instant::now();
        let ttl = self.config.down_frame_ttl;
        if self.locks.get(&lock).is_some_and(|e| e.connected) {
            let frame = DownFrame {
                seq: self.downq.stamp(),
                auth_id: header.auth_id,
                counter: header.counter,
                frame,
                expires: now + ttl,
            };
            return self.hand_over(lock, frame);
        }
        match self.downq.push(lock, &header, frame, now, ttl) {
            Ok(waiting) => self.scheduler.down_frames(&lock, waiting, now),
            Err(receipt) => refuse(self, receipt),
        }
    }
}
