//! lockctl's errors: each says what happened and what to do, and has a stable name (for
//! `--json`) and an exit code (for scripts).
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the lock refused, or pairing failed (wrong code, tampering); a support code was refused or a support session ended |
//! | 2 | bad usage (arguments) |
//! | 3 | local problem: settings or key store; the lock is not paired here |
//! | 4 | the MQTT broker cannot be used |
//! | 5 | the gateway is offline or unknown on this broker |
//! | 6 | the gateway could not deliver to the lock (unreachable, unknown to the gateway) |
//! | 7 | no answer from the lock in time |

use crate::advice::{advice, Stage};
use crate::broker::BrokerError;
use crate::config::ConfigError;
use crate::store::StoreError;
use crate::support::SupportError;
use lockgate_e2e::ErrorCode;
use lockgate_wire::LockId;
use std::time::Duration;
use thiserror::Error;

/// Exit code: the lock refused, or pairing failed.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: settings or key store.
pub const EXIT_LOCAL: u8 = 3;
/// Exit code: the broker.
pub const EXIT_BROKER: u8 = 4;
/// Exit code: the gateway is offline or unknown.
pub const EXIT_GATEWAY: u8 = 5;
/// Exit code: the lock could not be reached through the gateway.
pub const EXIT_UNREACHABLE: u8 = 6;
/// Exit code: no answer in time.
pub const EXIT_TIMEOUT: u8 = 7;

/// Why a lockctl operation failed.
#[derive(Debug, Error)]
pub enum Error {
    /// Settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Key store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Broker.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The lock is not in the key store.
    #[error("lock {0} is not paired with this endpoint; `lockctl locks` lists the paired ones, `lockctl pair` or `lockctl join` pairs")]
    NotPaired(LockId),
    /// The gateway's retained state is `offline`.
    #[error("gateway {gateway} is offline (its state on {base}/bridge/state): check that lockgated runs and reaches the broker, then retry")]
    GatewayOffline {
        /// Gateway id.
        gateway: String,
        /// Its base topic.
        base: String,
    },
    /// No state was ever published by that gateway on this broker.
    #[error("no gateway {gateway} on this broker (nothing on {base}/bridge/state): check the gateway id (--gateway, or --base-topic if it has another base) and that it uses this broker")]
    GatewayUnknown {
        /// Gateway id.
        gateway: String,
        /// Its base topic.
        base: String,
    },
    /// The gateway could not get the frame to the lock.
    #[error("gateway {gateway} could not reach lock {lock} over Bluetooth ({reason}): check that the lock is in range of the gateway and has battery, then retry")]
    LockUnreachable {
        /// The lock.
        lock: LockId,
        /// Gateway id.
        gateway: String,
        /// The receipt's reason (`not_connected`, `write_failed`).
        reason: String,
    },
    /// The gateway refused the frame.
    #[error("gateway {gateway} refused the frame for lock {lock}: {}", rejection(.reason))]
    Rejected {
        /// The lock.
        lock: LockId,
        /// Gateway id.
        gateway: String,
        /// The receipt's reason.
        reason: String,
    },
    /// Nothing came back in time.
    #[error("no answer from lock {lock} within {}{}", humantime::format_duration(*.waited), silence(*.delivered))]
    NoAnswer {
        /// The lock.
        lock: LockId,
        /// How long was waited.
        waited: Duration,
        /// Whether the gateway confirmed it wrote the frame to the lock.
        delivered: bool,
    },
    /// The lock refused, with a protocol error code.
    #[error("{}", advice(*.code, *.stage))]
    Refused {
        /// The code.
        code: ErrorCode,
        /// What was refused.
        stage: Stage,
        /// Inside the session (authenticated) or a cleartext error frame (could be forged).
        authenticated: bool,
    },
    /// The lock's pairing reply did not open: the code does not match this lock.
    #[error("{}", wrong_code(*.stage))]
    WrongCode {
        /// Label or invite pairing.
        stage: Stage,
    },
    /// The lock's final pairing message never verified.
    #[error("pairing with lock {0} did not complete: its confirmation did not verify (the exchange was tampered with or lost); retry, and check the code")]
    Tampered(LockId),
    /// Remote support.
    #[error(transparent)]
    Support(#[from] SupportError),
    /// The lock answered something that does not fit the request.
    #[error("lock {lock} answered unexpectedly: {what}; update lockctl or the lock's firmware")]
    Unexpected {
        /// The lock.
        lock: LockId,
        /// What came.
        what: String,
    },
}

fn rejection(reason: &str) -> String {
    match reason {
        "unknown_lock" => "the gateway does not know this lock (not paired with the gateway: `lockgate locks` on the gateway lists its locks)".into(),
        "queue_full" => "too many frames wait for this lock: retry in a moment".into(),
        "shutting_down" => "the gateway is stopping: retry once it is back".into(),
        other => format!("{other}; update lockctl or the gateway"),
    }
}

fn silence(delivered: bool) -> &'static str {
    match delivered {
        true => ": the gateway delivered the request, but no answer came back; retry",
        false => {
            ": the gateway did not confirm delivery either (it may be down or overloaded); retry"
        }
    }
}

fn wrong_code(stage: Stage) -> &'static str {
    match stage {
        Stage::InvitePairing => "the invite code does not match: check it (and --lock); after 5 wrong tries the lock deletes the invite",
        _ => "the code does not match this lock: check the label code (8 to 16 digits on the lock's label) and the lock id; the lock counts this as a failed attempt, and closes its pairing window after 20",
    }
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Refused { .. } | Error::WrongCode { .. } | Error::Tampered(_) => EXIT_REFUSED,
            Error::Unexpected { .. } => EXIT_REFUSED,
            Error::Usage(_) => EXIT_USAGE,
            Error::Config(_) | Error::Store(_) | Error::NotPaired(_) => EXIT_LOCAL,
            Error::Broker(_) => EXIT_BROKER,
            Error::GatewayOffline { .. } | Error::GatewayUnknown { .. } => EXIT_GATEWAY,
            Error::LockUnreachable { .. } | Error::Rejected { .. } => EXIT_UNREACHABLE,
            Error::NoAnswer { .. } => EXIT_TIMEOUT,
            Error::Support(e) if e.is_timeout() => EXIT_TIMEOUT,
            Error::Support(_) => EXIT_REFUSED,
        }
    }

    /// A stable snake_case name: the protocol code's name for refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Store(_) => "key_store",
            Error::Broker(_) => "broker",
            Error::Usage(_) => "usage",
            Error::NotPaired(_) => "not_paired",
            Error::GatewayOffline { .. } => "gateway_offline",
            Error::GatewayUnknown { .. } => "gateway_unknown",
            Error::LockUnreachable { .. } => "lock_unreachable",
            Error::Rejected { .. } => "delivery_rejected",
            Error::NoAnswer { .. } => "no_answer",
            Error::Refused { code, .. } => code.name(),
            Error::WrongCode { .. } => "wrong_code",
            Error::Tampered(_) => "pairing_tampered",
            Error::Unexpected { .. } => "unexpected_answer",
            Error::Support(e) => e.name(),
        }
    }

    /// The error as `--json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "ok": false,
            "error": self.name(),
            "message": self.to_string(),
            "exit_code": self.exit_code(),
        });
        if let Error::Refused { authenticated, .. } = self {
            value["authenticated"] = serde_json::Value::Bool(*authenticated);
        }
        if let Error::Support(SupportError::Refused {
            reason: lockgate_support::Reason::Throttled,
            retry_after_secs,
            ..
        }) = self
        {
            value["retry_after_s"] = serde_json::json!(retry_after_secs);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_code_s_name_and_sentence() {
        let e = Error::Refused {
            code: ErrorCode::NotInPairingMode,
            stage: Stage::LabelPairing,
            authenticated: false,
        };
        assert_eq!(e.exit_code(), EXIT_REFUSED);
        let json = e.to_json();
        assert_eq!(json["error"], "not_in_pairing_mode");
        assert_eq!(json["authenticated"], false);
        assert!(json["message"]
            .as_str()
            .unwrap()
            .contains("press its button"));
    }

    #[test]
    fn transport_failures_have_their_own_exit_codes() {
        let lock: LockId = "4c47000000000001".parse().unwrap();
        let offline = Error::GatewayOffline {
            gateway: "gw".into(),
            base: "lockgate/gw".into(),
        };
        let unreachable = Error::LockUnreachable {
            lock,
            gateway: "gw".into(),
            reason: "not_connected".into(),
        };
        let silent = Error::NoAnswer {
            lock,
            waited: Duration::from_secs(30),
            delivered: true,
        };
        let codes = [
            offline.exit_code(),
            unreachable.exit_code(),
            silent.exit_code(),
        ];
        assert_eq!(codes, [EXIT_GATEWAY, EXIT_UNREACHABLE, EXIT_TIMEOUT]);
        assert!(silent.to_string().contains("30s"), "{silent}");
    }
}
