//! The `lockgate` CLI (`status`, `locks`, `locks add`, `locks remove`, `pair`) run as a
//! process against the real control server with a fake daemon behind it, on a temporary
//! socket.

use lockgate::control::{LockReport, Request, Response, ResponseEnvelope, StatusReport};
use lockgate::control_server::{bind, serve, Notices, NOTICE_BUFFER};
use lockgate::pairing::{CloseReason, FailReason, PairingEvent, Source, WindowState};
use lockgate_wire::LockId;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Output;
use tempfile::TempDir;
use tokio::process::Command;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const FRONT: &str = "4c47000000000001";

fn canned_status() -> StatusReport {
    let status = json!({
        "version": "0.1.0", "gateway_id": "pi-hallway", "uptime_s": 3600,
        "mqtt": {"connected": true, "broker": "mqtt.example.net:8883", "last_error": null},
        "ble": {"adapter": "hci0", "powered": true, "links": 1, "max_connections": 4},
        "spool": {"frames": 0, "bytes": 0, "dropped": 0},
        "counters": {"up_frames": 120},
        "pairing_open": false,
    });
    serde_json::from_value(status).unwrap()
}

fn canned_lock() -> LockReport {
    LockReport {
        id: FRONT.parse().unwrap(),
        address: "C0:FF:EE:00:00:01".into(),
        name: "Front door".into(),
        link_policy: "on_demand".into(),
        connected: true,
        rssi: Some(-61),
        last_seen: None,
        mtu: Some(247),
    }
}

/// The fake daemon's answer: it has one lock, [`FRONT`].
fn answer(request: Request) -> Response {
    let front: LockId = FRONT.parse().unwrap();
    match request {
        Request::Status => Response::Status {
            status: canned_status(),
        },
        Request::Locks => Response::Locks {
            locks: vec![canned_lock()],
        },
        Request::LocksAdd { .. } => Response::Ok,
        Request::LocksRemove { lock } if lock == front => Response::Ok,
        Request::LocksRemove { lock } => Response::Error {
            error: format!("no lock {lock} is paired"),
        },
        Request::Pair { stop: true, .. } => Response::Pairing {
            pairing: WindowState::closed(),
        },
        Request::Pair { seconds, .. } => Response::Pairing {
            pairing: WindowState {
                open: true,
                seconds_left: Some(seconds.map_or(60, |s| s.get())),
                closes_at: Some(1060),
            },
        },
        Request::SupportStart { valid_s } => Response::SupportCode {
            code: "498-520-790-474".into(),
            expires_in_s: valid_s.unwrap_or(600),
        },
        Request::SupportStatus => Response::SupportStatus {
            support: serde_json::json!({
                "enabled": true,
                "code": {"expires_in_s": 540, "attempts_left": 4},
                "handshake": null,
                "session": null,
                "throttle": {"failures": 1, "retry_after_s": 0},
            }),
        },
        Request::SupportStop => Response::Ok,
    }
}

/// What the fake daemon's window does after `pair`: with passkey 000000 the lock refuses it
/// and the window expires; otherwise the lock pairs and the window expires.
fn pairing_events(request: &Request) -> Vec<PairingEvent> {
    let Request::Pair {
        stop: false,
        passkey,
        ..
    } = request
    else {
        return Vec::new();
    };
    let id: LockId = FRONT.parse().unwrap();
    let address = "C0:FF:EE:00:00:01".to_string();
    let wrong = passkey.is_some_and(|p| p.value() == 0);
    let outcome = if wrong {
        PairingEvent::LockPairingFailed {
            id,
            address,
            reason: FailReason::WrongPasskey,
            error: FailReason::WrongPasskey.advice().into(),
        }
    } else {
        PairingEvent::LockPaired {
            id,
            address,
            name: "Front door".into(),
        }
    };
    vec![
        PairingEvent::PairingWindowOpened {
            seconds: 30,
            source: Source::Control,
            extended: false,
            passkey: passkey.is_some(),
        },
        outcome,
        PairingEvent::PairingWindowClosed {
            reason: CloseReason::Expired,
            paired: u32::from(!wrong),
            failed: u32::from(wrong),
        },
    ]
}

/// The control server on a temporary socket, with the fake daemon answering.
fn start() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let listener = bind(&socket, None).unwrap();
    let (handler, mut requests) = mpsc::channel::<(Request, oneshot::Sender<Response>)>(4);
    let (notices, _): (Notices, _) = broadcast::channel(NOTICE_BUFFER);
    let events = notices.clone();
    tokio::spawn(async move {
        while let Some((request, reply)) = requests.recv().await {
            let later = pairing_events(&request);
            let _ = reply.send(answer(request));
            for event in later {
                let _ = events.send(Response::PairingEvent { event, time: 1000 });
            }
        }
    });
    tokio::spawn(serve(listener, handler, notices, CancellationToken::new()));
    (dir, socket)
}

async fn lockgate(args: &[&str], socket: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockgate"));
    command.args(args);
    if let Some(socket) = socket {
        command.arg("--socket").arg(socket);
    }
    command.output().await.unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn status_prints_key_value_lines() {
    let (_dir, socket) = start();
    let out = lockgate(&["status"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "gateway:  pi-hallway",
        "uptime:   1h 0m 0s",
        "mqtt:     connected to mqtt.example.net:8883",
        "ble:      hci0 powered, 1 of 4 links",
        "pairing:  closed",
        "  up_frames:  120",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn status_json_prints_the_response_as_it_is() {
    let (_dir, socket) = start();
    let out = lockgate(&["status", "--json"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = ResponseEnvelope::new(
        Some(1),
        Response::Status {
            status: canned_status(),
        },
    );
    assert_eq!(
        stdout(&out),
        serde_json::to_string(&expected).unwrap() + "\n"
    );
}

#[tokio::test]
async fn locks_prints_a_table() {
    let (_dir, socket) = start();
    let out = lockgate(&["locks"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "ID                ADDRESS            POLICY     LINK  RSSI  MTU  SEEN  NAME\n\
         4c47000000000001  C0:FF:EE:00:00:01  on_demand  up    -61   247  -     Front door\n"
    );
}

#[tokio::test]
async fn locks_remove_says_what_it_removed() {
    let (_dir, socket) = start();
    let out = lockgate(&["locks", "remove", FRONT], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("lock {FRONT} removed\n"));
}

#[tokio::test]
async fn locks_add_takes_its_options_after_the_lock_id() {
    let (_dir, socket) = start();
    let out = lockgate(&["locks", "add", FRONT, "--json"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"version\":1,\"id\":1,\"type\":\"ok\"}\n");
}

#[tokio::test]
async fn an_error_response_exits_1_with_its_message() {
    let (_dir, socket) = start();
    let out = lockgate(&["locks", "remove", "4c47000000000009"], Some(&socket)).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "lockgate: no lock 4c47000000000009 is paired\n"
    );
    let out = lockgate(
        &["locks", "remove", "4c47000000000009", "--json"],
        Some(&socket),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("\"type\":\"error\""));
}

#[tokio::test]
async fn without_a_daemon_the_cli_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let out = lockgate(&["status"], Some(&socket)).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with(&format!("lockgate: {}: cannot connect", socket.display())));
    assert!(
        err.contains("is lockgated running? (systemctl status lockgated)"),
        "{err}"
    );
}

#[tokio::test]
async fn the_socket_is_taken_from_the_configuration() {
    let (dir, socket) = start();
    let config = dir.path().join("lockgate.toml");
    let text = format!("control_socket = {:?}\n[gateway]\nid = \"gw1\"\n", socket);
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let out = lockgate(&["locks", "--config", config], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Front door"));
}

#[tokio::test]
async fn without_configuration_or_socket_the_default_socket_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("missing.toml");
    let out = lockgate(&["status", "--config", config.to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("lockgate: /run/lockgate/control.sock: "),
        "{err}"
    );
    assert!(
        err.contains("tried the default socket: no --socket was given"),
        "{err}"
    );
    assert!(err.contains("missing.toml"), "{err}");
}

#[tokio::test]
async fn a_bad_lock_id_is_a_usage_error() {
    let out = lockgate(&["locks", "remove", "front-door"], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("16 hex digits"), "{}", stderr(&out));
}

#[tokio::test]
async fn pair_shows_each_event_and_succeeds_when_a_lock_paired() {
    let (_dir, socket) = start();
    let args = ["pair", "--seconds", "30", "--passkey", "123456"];
    let out = lockgate(&args, Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "pairing window open, 30s left", "{text}");
    assert!(
        lines[1].starts_with("pairing window open by lockgate pair"),
        "{text}"
    );
    assert!(lines[2].contains("lock 4c47000000000001") && lines[2].contains("paired"));
    assert_eq!(
        lines[3],
        "pairing window closed (its time ran out): 1 paired, 0 failed"
    );
    assert!(
        !stderr(&out).contains('\r'),
        "no countdown without a terminal"
    );
}

#[tokio::test]
async fn pair_fails_when_the_lock_refuses_the_passkey_and_none_paired() {
    let (_dir, socket) = start();
    let out = lockgate(&["pair", "--passkey", "000000"], Some(&socket)).await;
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("failed to pair"), "{text}");
    assert!(text.contains("refused the passkey"), "{text}");
}

#[tokio::test]
async fn pair_json_prints_the_daemon_s_lines_and_stop_closes() {
    let (_dir, socket) = start();
    let out = lockgate(&["pair", "--json"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "pairing");
    assert_eq!(lines[0]["pairing"]["seconds_left"], 60);
    let kinds: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "pairing_window_opened",
            "lock_paired",
            "pairing_window_closed"
        ]
    );
    let stop = lockgate(&["pair", "--stop"], Some(&socket)).await;
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_eq!(stdout(&stop), "pairing window closed\n");
}

#[tokio::test]
async fn pair_refuses_bad_lengths_and_passkeys_before_asking() {
    for args in [
        &["pair", "--seconds", "255"][..],
        &["pair", "--seconds", "0"],
        &["pair", "--passkey", "12345"],
        &["pair", "--passkey", "12345a"],
        &["pair", "--stop", "--seconds", "10"],
    ] {
        let out = lockgate(args, Some(Path::new("/nonexistent.sock"))).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[tokio::test]
async fn support_start_prints_the_code_and_status_and_stop_read_well() {
    let (_dir, socket) = start();
    let out = lockgate(&["support", "start", "--valid", "15m"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "support code: 498-520-790-474\nvalid for 15 min; give it to the support operator \
         only, it works once\n"
    );
    let out = lockgate(&["support", "status"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "remote support: enabled\ncode:      valid for 9 min, 4 attempt(s) left\n\
         session:   none\nthrottle:  1 failed attempt(s)\n"
    );
    let out = lockgate(&["support", "stop"], Some(&socket)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("remote support stopped"),
        "{}",
        stdout(&out)
    );
}
