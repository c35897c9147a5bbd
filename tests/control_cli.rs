//! The `lockgate` CLI (`status`, `locks`, `locks add`, `locks remove`) run as a process
//! against the real control server with a fake daemon behind it, on a temporary socket.

use lockgate::control::{LockReport, Request, Response, ResponseEnvelope, StatusReport};
use lockgate::control_server::{bind, serve};
use lockgate_wire::LockId;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Output;
use tempfile::TempDir;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
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
    }
}

/// The control server on a temporary socket, with the fake daemon answering.
fn start() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let listener = bind(&socket, None).unwrap();
    let (handler, mut requests) = mpsc::channel::<(Request, oneshot::Sender<Response>)>(4);
    tokio::spawn(async move {
        while let Some((request, reply)) = requests.recv().await {
            let _ = reply.send(answer(request));
        }
    });
    tokio::spawn(serve(listener, handler, CancellationToken::new()));
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
