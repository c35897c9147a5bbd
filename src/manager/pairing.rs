//! The pairing window in the manager: `pair` from the control socket and the button open it;
//! either, expiry and `bridge/request/pairing/close` close it. While it is open, locks seen
//! advertising `pairing` are bonded one at a time by the adapter task and, once verified,
//! enrolled like `locks add`. Every change is a `bridge/event`, a journal line, an event line
//! for `lockgate pair`, `bridge/info`, and the LED.

use super::Manager;
use crate::ble::{AdapterCmd, BleEvent};
use crate::control::Response;
use crate::pairing::{
    Change, CloseReason, FailReason, PairingEvent, Passkey, Seconds, Source, WindowState,
};
use bluer::Address;
use lockgate_wire::LockId;
use std::time::Instant;

impl Manager {
    /// `pair`: opens (or extends) the window, or with `stop` closes it.
    pub(super) async fn on_pair(
        &mut self,
        seconds: Option<Seconds>,
        passkey: Option<Passkey>,
        stop: bool,
    ) -> Response {
        let now = Instant::now();
        self.expire_window(now);
        if stop {
            self.close_window(CloseReason::Stop);
        } else {
            let seconds = seconds.unwrap_or_else(|| self.config.pairing.window());
            if let Err(error) = self
                .open_window(now, seconds, passkey, Source::Control)
                .await
            {
                return Response::Error { error };
            }
        }
        Response::Pairing {
            pairing: self.window_state(Instant::now()),
        }
    }

    /// A press of the button: opens a closed window, closes an open one.
    pub(super) async fn on_button(&mut self) {
        let now = Instant::now();
        self.expire_window(now);
        if self.window.is_open(now) {
            self.close_window(CloseReason::Button);
        } else {
            let seconds = self.config.pairing.window();
            if let Err(e) = self.open_window(now, seconds, None, Source::Button).await {
                log::error!("pairing: the button could not open the window: {e}");
            }
        }
    }

    /// The window's state now.
    pub(super) fn window_state(&self, now: Instant) -> WindowState {
        self.window.state(now, crate::unix_now())
    }

    async fn open_window(
        &mut self,
        now: Instant,
        seconds: Seconds,
        passkey: Option<Passkey>,
        source: Source,
    ) -> Result<(), String> {
        if self.adapter.is_none() {
            return Err(
                "the Bluetooth adapter is not available, so the pairing window cannot \
                        open; see lockgate status and journalctl -u lockgated"
                    .into(),
            );
        }
        if !self.window.is_open(now) || passkey.is_some() {
            self.ask_adapter(|reply| AdapterCmd::OpenPairing {
                passkey,
                reply: Some(reply),
            })
            .await?;
        }
        let event = match self.window.open(now, seconds, passkey, source) {
            Change::Opened { seconds, source } => PairingEvent::PairingWindowOpened {
                seconds,
                source,
                extended: false,
                passkey: passkey.is_some(),
            },
            Change::Extended { seconds_left, .. } => PairingEvent::PairingWindowOpened {
                seconds: seconds_left,
                source,
                extended: true,
                passkey: self.window.passkey().is_some(),
            },
            Change::Closed { .. } => return Ok(()),
        };
        self.pairing_event(event);
        self.window_changed();
        self.bond_next(now);
        Ok(())
    }

    /// Closes the window if it is open.
    pub(super) fn close_window(&mut self, reason: CloseReason) {
        if let Some(change) = self.window.close(reason) {
            self.window_closed(change);
        }
    }

    /// Closes the window if its time is up.
    pub(super) fn expire_window(&mut self, now: Instant) {
        if let Some(change) = self.window.poll(now) {
            self.window_closed(change);
        }
    }

    fn window_closed(&mut self, change: Change) {
        let Change::Closed {
            reason,
            paired,
            failed,
        } = change
        else {
            return;
        };
        if self
            .wiring
            .adapter_cmds
            .try_send(AdapterCmd::ClosePairing)
            .is_err()
        {
            log::error!("pairing: the adapter task is not keeping up; the agent may stay");
        }
        let event = PairingEvent::PairingWindowClosed {
            reason,
            paired,
            failed,
        };
        self.pairing_event(event);
        self.window_changed();
    }

    /// `bridge/info` and the LED follow the window.
    fn window_changed(&mut self) {
        let now = Instant::now();
        let closes_at = self.window.deadline().filter(|_| self.window.is_open(now));
        self.wiring.window_watch.send_replace(closes_at);
        self.publish_info();
    }

    /// After the adapter came (back): the agent and `Pairable` as the window says.
    pub(super) fn adapter_pairing(&mut self) {
        let cmd = if self.window.is_open(Instant::now()) {
            AdapterCmd::OpenPairing {
                passkey: self.window.passkey(),
                reply: None,
            }
        } else {
            AdapterCmd::ClosePairing
        };
        let _ = self.wiring.adapter_cmds.try_send(cmd);
    }

    /// The adapter is gone: a bond under way is lost with it.
    pub(super) fn adapter_lost_while_pairing(&mut self) {
        if let Some(lock) = self.window.bonding_lock() {
            let address = self.seen.get(&lock).map(|s| s.address);
            let detail = "the Bluetooth adapter went away".to_string();
            self.bond_failed(lock, address, FailReason::Bluez, detail);
        }
    }

    /// Starts bonding with the next lock in pairing mode, if the window allows one.
    pub(super) fn bond_next(&mut self, now: Instant) {
        if self.adapter.is_none() {
            return;
        }
        let next = self.seen.iter().find(|(id, seen)| {
            seen.pairing && !self.locks.contains_key(id) && self.window.may_bond(id, now)
        });
        let Some((&lock, seen)) = next else {
            return;
        };
        let address = seen.address;
        self.window.started(lock);
        if self
            .wiring
            .adapter_cmds
            .try_send(AdapterCmd::Bond { lock, address })
            .is_err()
        {
            let detail = "the adapter task is busy".to_string();
            return self.bond_failed(lock, Some(address), FailReason::Bluez, detail);
        }
        let address = address.to_string();
        self.pairing_event(PairingEvent::LockPairingStarted { id: lock, address });
    }

    /// The adapter task's answer to [`AdapterCmd::Bond`].
    pub(super) fn on_bonded(&mut self, event: BleEvent) {
        let BleEvent::Bonded {
            lock,
            address,
            name,
            result,
        } = event
        else {
            return;
        };
        let enrolled = match result {
            Ok(()) => self.enroll_bonded(lock, address, name),
            Err((reason, error)) => Err((reason, error)),
        };
        match enrolled {
            Ok(name) => {
                self.window.finished(lock, true);
                let address = address.to_string();
                self.pairing_event(PairingEvent::LockPaired {
                    id: lock,
                    address,
                    name,
                });
            }
            Err((reason, error)) => self.bond_failed(lock, Some(address), reason, error),
        }
        self.bond_next(Instant::now());
    }

    fn enroll_bonded(
        &mut self,
        lock: LockId,
        address: Address,
        name: Option<String>,
    ) -> Result<String, (FailReason, String)> {
        if self.locks.contains_key(&lock) {
            return Ok(self.locks[&lock].paired.name.clone());
        }
        let mut seen = self.seen.remove(&lock).unwrap_or(super::Seen {
            address,
            rssi: None,
            name: None,
            pairing: false,
        });
        seen.address = address;
        seen.name = seen.name.or(name);
        self.enroll(lock, seen)
            .map(|paired| paired.name)
            .map_err(|e| (FailReason::Bluez, e))
    }

    fn bond_failed(
        &mut self,
        lock: LockId,
        address: Option<Address>,
        reason: FailReason,
        error: String,
    ) {
        self.window.finished(lock, false);
        let address = address.map(|a| a.to_string()).unwrap_or_default();
        self.pairing_event(PairingEvent::LockPairingFailed {
            id: lock,
            address,
            reason,
            error,
        });
    }

    /// Reports `event` on `bridge/event`, in the journal and to `lockgate pair` clients.
    fn pairing_event(&self, event: PairingEvent) {
        let time = crate::unix_now();
        let value = serde_json::to_value(&event).unwrap_or_default();
        self.event(event.kind(), value["data"].clone());
        let _ = self
            .wiring
            .notices
            .send(Response::PairingEvent { event, time });
    }
}
