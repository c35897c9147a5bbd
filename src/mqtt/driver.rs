//! The task that owns rumqttc's `EventLoop`: it polls, forwards every event to the relay, and
//! after a lost connection waits until the relay has stopped publishing, drops whatever the
//! relay had queued for the dead connection (the relay re-sends from the spool), and
//! reconnects after a jittered backoff. Polling from its own task keeps the poll future out of
//! any `select!` that could cancel it halfway.

use crate::backoff::Backoff;
use rumqttc::{ConnectReturnCode, ConnectionError, Event, EventLoop};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// First reconnect delay.
pub const RECONNECT_BASE: Duration = Duration::from_millis(500);
/// Longest reconnect delay: a broker back after an outage is found within 10 s (jittered,
/// 5–10 s apart once capped); a connection attempt that often costs a broker nothing.
pub const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// What the driver tells the relay.
#[derive(Debug)]
pub enum DriverEvent {
    /// An event of the connection.
    Event(Event),
    /// The connection is lost (or could not be made). The relay must stop publishing, then
    /// answer on `quiesced`; nothing it sent before that reaches the broker.
    Lost {
        /// What happened, for logs and health.
        error: String,
        /// Answer when no more publishes will come until the next ConnAck.
        quiesced: oneshot::Sender<()>,
    },
}

/// A connection error in words that say what to check.
pub fn describe(e: &ConnectionError) -> String {
    let ConnectionError::ConnectionRefused(code) = e else {
        return e.to_string();
    };
    let why = match code {
        ConnectReturnCode::BadUserNamePassword => {
            "bad user name or password (check mqtt.username and mqtt.password_file)"
        }
        ConnectReturnCode::NotAuthorized => {
            "not authorized (check mqtt.username and mqtt.password_file, and the broker's \
             access rules for this user and client id)"
        }
        ConnectReturnCode::BadClientId => "client id refused (check gateway.id)",
        ConnectReturnCode::RefusedProtocolVersion => "MQTT 3.1.1 not accepted",
        ConnectReturnCode::ServiceUnavailable => "broker unavailable",
        ConnectReturnCode::Success => "refused without a reason",
    };
    format!("the broker refused the connection: {why}")
}

/// Drives `eventloop` until `stop` is cancelled or the relay is gone.
pub async fn drive(
    mut eventloop: EventLoop,
    tx: mpsc::Sender<DriverEvent>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_MAX);
    loop {
        let polled = tokio::select! {
            polled = eventloop.poll() => polled,
            () = stop.cancelled() => return,
        };
        match polled {
            Ok(event) => {
                if matches!(event, Event::Incoming(rumqttc::Packet::ConnAck(_))) {
                    backoff.reset();
                }
                if tx.send(DriverEvent::Event(event)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let (quiesced, wait) = oneshot::channel();
                let lost = DriverEvent::Lost {
                    error: describe(&e),
                    quiesced,
                };
                if tx.send(lost).await.is_err() || wait.await.is_err() {
                    return;
                }
                // Publishes queued after the failure would otherwise go out on the next
                // connection, out of step with what the relay knows; with a clean session
                // rumqttc drops what `clean` collects at the next ConnAck.
                eventloop.clean();
                tokio::select! {
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}
