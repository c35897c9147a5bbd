//! Tests of the control client: against the real server with a fake daemon, against
//! misbehaving peers, and the text `lockgate status` and `lockgate locks` print.

use super::*;
use crate::control::tests::example_status;
use crate::control_server::{bind, serve, Handler};
use lockgate_wire::LockId;
use tempfile::TempDir;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const LOCK: LockId = LockId([0x4c, 0x47, 0, 0, 0, 0, 0, 1]);

/// A daemon that knows no locks.
fn fake_daemon() -> Handler {
    let (handler, mut requests) = mpsc::channel::<(Request, oneshot::Sender<Response>)>(4);
    tokio::spawn(async move {
        while let Some((request, reply)) = requests.recv().await {
            let _ = reply.send(match request {
                Request::LocksRemove { lock } => Response::Error {
                    error: format!("no lock {lock} is paired"),
                },
                _ => Response::Locks { locks: vec![] },
            });
        }
    });
    handler
}

async fn start() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let listener = bind(&path, None).unwrap();
    let (notices, _) = tokio::sync::broadcast::channel(1);
    tokio::spawn(serve(
        listener,
        fake_daemon(),
        notices,
        CancellationToken::new(),
    ));
    (dir, path)
}

/// A peer that reads one line and answers it with `answer` (or hangs up if `None`).
async fn start_raw(answer: Option<&'static str>) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        if let Some(answer) = answer {
            stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
        }
    });
    (dir, path)
}

#[tokio::test]
async fn requests_get_their_answers_with_ids_counting_up() {
    let (_dir, path) = start().await;
    let mut client = Client::connect(&path).await.unwrap();
    let first = client.request(Request::Locks).await.unwrap();
    assert_eq!(
        first.line,
        r#"{"version":1,"id":1,"type":"locks","locks":[]}"#
    );
    assert_eq!(first.response(), &Response::Locks { locks: vec![] });
    let second = client
        .request(Request::LocksRemove { lock: LOCK })
        .await
        .unwrap();
    assert_eq!(second.envelope.id, Some(2));
    assert_eq!(
        second.response(),
        &Response::Error {
            error: "no lock 4c47000000000001 is paired".into()
        }
    );
}

#[tokio::test]
async fn no_socket_means_lockgated_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let err = Client::connect(&dir.path().join("none.sock"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }));
    assert!(err
        .to_string()
        .ends_with("is lockgated running? (systemctl status lockgated)"));
}

/// Asks a raw peer answering `answer` for the status.
async fn status_answered_with(answer: Option<&'static str>) -> Result<Reply, ClientError> {
    let (_dir, path) = start_raw(answer).await;
    let mut client = Client::connect(&path).await.unwrap();
    client.request(Request::Status).await
}

#[tokio::test]
async fn an_error_without_id_is_a_reply() {
    let denied = "{\"version\":1,\"id\":null,\"type\":\"error\",\"error\":\"permission denied\"}\n";
    let reply = status_answered_with(Some(denied)).await.unwrap();
    assert_eq!(reply.envelope.id, None);
    assert_eq!(reply.line, denied.trim_end());
}

#[tokio::test]
async fn an_answer_to_another_request_is_a_protocol_error() {
    let other = "{\"version\":1,\"id\":9,\"type\":\"ok\"}\n";
    let err = status_answered_with(Some(other)).await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("request 9, not 1"), "{err}");
}

#[tokio::test]
async fn an_answer_that_is_not_a_response_is_a_protocol_error() {
    let err = status_answered_with(Some("{\"type\":\"ok\"}\n"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Protocol { .. }), "{err}");
}

#[tokio::test]
async fn hanging_up_without_an_answer_is_reported() {
    let err = status_answered_with(None).await.unwrap_err();
    assert!(matches!(err, ClientError::Closed { .. }), "{err}");
    assert!(err.to_string().contains("journalctl -u lockgated"));
}

fn status() -> StatusReport {
    let mut status = example_status();
    status.uptime_s = 3725;
    status.mqtt.last_error = Some("connection refused\u{1b}[2J".into());
    status
}

#[test]
fn status_is_printed_as_aligned_key_value_lines() {
    let expected = "\
version:          0.1.0
gateway:          pi-hallway
uptime:           1h 2m 5s
mqtt:             not connected to mqtt.example.net:8883
mqtt last error:  connection refused?[2J
ble:              hci0 powered, 1 of 4 links
spool:            2 frames, 300 bytes, 0 dropped
pairing:          closed
counters:
  down_frames:  118
  up_frames:    120
";
    assert_eq!(render_status(&status()), expected);
}

#[test]
fn status_shows_an_open_pairing_window_with_the_seconds_left() {
    let mut status = status();
    status.pairing_open = true;
    status.pairing = Some(crate::pairing::WindowState {
        open: true,
        seconds_left: Some(42),
        closes_at: Some(1_042),
    });
    let text = render_status(&status);
    assert!(
        text.contains("\npairing:          open, 42s left\n"),
        "{text}"
    );
}

#[test]
fn locks_are_printed_as_a_table_in_the_order_given() {
    let seen = LockReport {
        id: LOCK,
        address: "C0:FF:EE:00:00:01".into(),
        name: "Front door".into(),
        link_policy: "on_demand".into(),
        connected: true,
        rssi: Some(-61),
        last_seen: Some(1_000),
        mtu: Some(247),
    };
    let unseen = LockReport {
        id: LockId([0x4c, 0x47, 0, 0, 0, 0, 0, 2]),
        name: "Back\ndoor".into(),
        link_policy: "persistent".into(),
        connected: false,
        rssi: None,
        last_seen: None,
        mtu: None,
        ..seen.clone()
    };
    let expected = "\
ID                ADDRESS            POLICY      LINK  RSSI  MTU  SEEN       NAME
4c47000000000001  C0:FF:EE:00:00:01  on_demand   up    -61   247  1m 5s ago  Front door
4c47000000000002  C0:FF:EE:00:00:01  persistent  down  -     -    -          Back?door
";
    assert_eq!(render_locks(&[seen, unseen], 1_065), expected);
    assert_eq!(render_locks(&[], 0), "no paired locks\n");
}

#[test]
fn durations_show_their_largest_units() {
    assert_eq!(duration_text(0), "0s");
    assert_eq!(duration_text(59), "59s");
    assert_eq!(duration_text(3_600), "1h 0m 0s");
    assert_eq!(duration_text(90_061), "1d 1h 1m 1s");
}
