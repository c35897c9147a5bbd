//! Tests of the control server, in-process on a socket in a temporary directory with a fake
//! daemon behind it: who is served, what each line gets, and how the socket is set up.

use super::*;
use crate::pairing::{CloseReason, PairingEvent, Source, WindowState};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::task::JoinHandle;

/// A daemon that answers `status` with an error naming it, `locks` with none, `locks_add`
/// with ok, drops `locks_remove` unanswered, and answers `pair` with an open window and then
/// three events on `notices` (`pair` with `stop`: a closed window, no events).
fn fake_daemon(notices: Notices) -> Handler {
    let (handler, mut requests) = mpsc::channel::<(Request, oneshot::Sender<Response>)>(4);
    tokio::spawn(async move {
        while let Some((request, reply)) = requests.recv().await {
            let response = match request {
                Request::Status => Response::Error {
                    error: "status".into(),
                },
                Request::Locks => Response::Locks { locks: vec![] },
                Request::LocksAdd { .. } => Response::Ok,
                Request::LocksRemove { .. } => continue,
                Request::Pair { stop: true, .. } => Response::Pairing {
                    pairing: WindowState::closed(),
                },
                Request::Pair { .. } => {
                    let _ = reply.send(Response::Pairing {
                        pairing: WindowState {
                            open: true,
                            seconds_left: Some(30),
                            closes_at: Some(1030),
                        },
                    });
                    for event in pairing_events() {
                        let _ = notices.send(Response::PairingEvent { event, time: 1000 });
                    }
                    continue;
                }
                Request::SupportStart { .. } | Request::SupportStatus | Request::SupportStop => {
                    Response::Ok
                }
            };
            let _ = reply.send(response);
        }
    });
    handler
}

fn pairing_events() -> Vec<PairingEvent> {
    let id: lockgate_wire::LockId = "4c47000000000001".parse().unwrap();
    vec![
        PairingEvent::PairingWindowOpened {
            seconds: 30,
            source: Source::Control,
            extended: false,
            passkey: true,
        },
        PairingEvent::LockPaired {
            id,
            address: "C0:FF:EE:00:00:01".into(),
            name: "Front door".into(),
        },
        PairingEvent::PairingWindowClosed {
            reason: CloseReason::Stop,
            paired: 1,
            failed: 0,
        },
    ]
}

struct Server {
    _dir: TempDir,
    path: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

async fn start_with(handler: Handler, notices: Notices, policy: PeerPolicy) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("control.sock");
    let listener = bind(&path, None).unwrap();
    let shutdown = CancellationToken::new();
    let serving = serve_with(listener, handler, notices, shutdown.clone(), policy);
    let task = tokio::spawn(serving);
    Server {
        _dir: dir,
        path,
        shutdown,
        task,
    }
}

async fn start() -> Server {
    let (notices, _) = broadcast::channel(NOTICE_BUFFER);
    let handler = fake_daemon(notices.clone());
    start_with(handler, notices, PeerPolicy::of_this_process()).await
}

struct Peer {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Peer {
    async fn connect(path: &Path) -> Peer {
        let (read, writer) = UnixStream::connect(path).await.unwrap().into_split();
        let reader = BufReader::new(read);
        Peer { reader, writer }
    }

    async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    async fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).await.unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    async fn ask(&mut self, line: &str) -> Value {
        self.send(line).await;
        self.receive().await
    }

    /// Whether the server closes the connection (end of stream or reset) sending nothing
    /// more. The time limit only guards against a hanging test.
    async fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let read = timeout(Duration::from_secs(10), self.reader.read_to_end(&mut rest)).await;
        read.is_ok() && rest.is_empty()
    }
}

fn error_of(response: &Value) -> &str {
    assert_eq!(response["type"], "error", "{response}");
    response["error"].as_str().unwrap()
}

#[tokio::test]
async fn requests_are_answered_in_order_with_their_ids() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    peer.send(r#"{"version":1,"id":41,"type":"locks"}"#).await;
    peer.send(r#"{"version":1,"id":42,"type":"locks_add","lock":"4c47000000000001"}"#)
        .await;
    assert_eq!(
        peer.receive().await,
        json!({"version":1,"id":41,"type":"locks","locks":[]})
    );
    assert_eq!(
        peer.receive().await,
        json!({"version":1,"id":42,"type":"ok"})
    );
    let status = peer.ask(r#"{"version":1,"id":43,"type":"status"}"#).await;
    assert_eq!(
        (status["id"].as_u64(), error_of(&status)),
        (Some(43), "status")
    );
}

#[tokio::test]
async fn another_version_is_refused_naming_the_version_served() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    let response = peer.ask(r#"{"version":2,"id":5,"type":"status"}"#).await;
    assert_eq!(response["id"], 5);
    assert!(
        error_of(&response).contains("serves version 1"),
        "{response}"
    );
}

#[tokio::test]
async fn a_malformed_line_is_answered_without_id_and_the_connection_stays_open() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    let response = peer.ask("this is not json").await;
    assert_eq!(response["id"], Value::Null);
    assert!(error_of(&response).starts_with("not a JSON request"));
    let response = peer.ask(r#"{"version":1,"id":6,"type":"locks"}"#).await;
    assert_eq!(response["type"], "locks");
}

#[tokio::test]
async fn an_over_long_line_is_answered_and_the_connection_closed() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    let long = vec![b'x'; MAX_LINE + 1];
    peer.writer.write_all(&long).await.unwrap();
    let response = peer.receive().await;
    assert_eq!(response["id"], Value::Null);
    assert!(error_of(&response).contains("longer than 65536 bytes"));
    assert!(peer.is_closed().await);
}

#[tokio::test]
async fn a_request_the_daemon_drops_is_answered_shutting_down() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    let line = r#"{"version":1,"id":7,"type":"locks_remove","lock":"4c47000000000001"}"#;
    let response = peer.ask(line).await;
    assert_eq!(response["id"], 7);
    assert_eq!(error_of(&response), "daemon is shutting down");
}

#[tokio::test]
async fn a_request_without_a_daemon_is_answered_shutting_down() {
    let (handler, requests) = mpsc::channel(1);
    drop(requests);
    let (notices, _) = broadcast::channel(1);
    let server = start_with(handler, notices, PeerPolicy::of_this_process()).await;
    let mut peer = Peer::connect(&server.path).await;
    let response = peer.ask(r#"{"version":1,"id":8,"type":"status"}"#).await;
    assert_eq!(error_of(&response), "daemon is shutting down");
}

#[tokio::test]
async fn a_peer_not_allowed_is_told_so_and_disconnected() {
    let nobody = PeerPolicy {
        uids: [4_000_000_001, 4_000_000_002],
        group: None,
    };
    let (notices, _) = broadcast::channel(1);
    let server = start_with(fake_daemon(notices.clone()), notices, nobody).await;
    let mut peer = Peer::connect(&server.path).await;
    let response = peer.receive().await;
    let error = error_of(&response);
    assert!(error.starts_with("permission denied: uid "), "{error}");
    assert!(error.ends_with("run as root or as a member of group lockgate"));
    assert!(peer.is_closed().await);
}

#[tokio::test]
async fn a_client_beyond_the_limit_is_told_so_and_disconnected() {
    let server = start().await;
    let mut peers = Vec::new();
    for id in 0..MAX_CLIENTS {
        let mut peer = Peer::connect(&server.path).await;
        let ask = format!(r#"{{"version":1,"id":{id},"type":"locks"}}"#);
        assert_eq!(peer.ask(&ask).await["type"], "locks");
        peers.push(peer);
    }
    let mut extra = Peer::connect(&server.path).await;
    assert!(error_of(&extra.receive().await).starts_with("too many clients (16)"));
    assert!(extra.is_closed().await);
    drop(peers.pop());
    for _ in 0..100 {
        let mut peer = Peer::connect(&server.path).await;
        let response = peer.ask(r#"{"version":1,"id":1,"type":"locks"}"#).await;
        if response["type"] == "locks" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("a freed slot was never given to a new client");
}

#[tokio::test]
async fn cancelling_shutdown_ends_the_server_and_its_clients() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    assert_eq!(
        peer.ask(r#"{"version":1,"id":1,"type":"locks"}"#).await["id"],
        1
    );
    server.shutdown.cancel();
    server.task.await.unwrap();
    assert!(peer.is_closed().await);
}

#[tokio::test]
async fn the_socket_has_mode_0660_and_a_stale_one_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let _listener = bind(&path, Some("no-such-group-lockgate-test")).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o660);
    assert!(UnixStream::connect(&path).await.is_ok());
}

#[tokio::test]
async fn a_live_socket_is_refused_as_another_lockgated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let _first = bind(&path, None).unwrap();
    let err = bind(&path, None).unwrap_err();
    assert!(matches!(err, ControlError::InUse { .. }));
    assert!(err.to_string().contains("another lockgated is running"));
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    fs::write(&path, b"precious").unwrap();
    assert!(matches!(
        bind(&path, None),
        Err(ControlError::NotASocket { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), b"precious");
}

#[tokio::test]
async fn the_socket_is_given_to_an_existing_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let ours = nix::unistd::getegid();
    let Some(group) = nix::unistd::Group::from_gid(ours).unwrap() else {
        return; // our gid has no name here: nothing to look up
    };
    let _listener = bind(&path, Some(&group.name)).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().gid(), ours.as_raw());
}

#[test]
fn root_the_daemons_user_and_the_group_are_served() {
    let policy = PeerPolicy {
        uids: [0, 110],
        group: Some(120),
    };
    let never = || -> Vec<u32> { panic!("groups read when not needed") };
    assert!(policy.check(0, 0, never));
    assert!(policy.check(110, 110, never));
    assert!(policy.check(1000, 120, never));
    assert!(policy.check(1000, 1000, || vec![27, 120]));
    assert!(!policy.check(1000, 1000, || vec![27, 1000]));
    let no_group = PeerPolicy {
        group: None,
        ..policy
    };
    assert!(!no_group.check(1000, 120, never));
}

#[test]
fn supplementary_groups_are_read_from_proc_status() {
    let status = "Name:\tlockgate\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 27 120 \nNgid:\t0\n";
    assert_eq!(groups_of_status(status), vec![4, 27, 120]);
    assert!(groups_of_status("Groups:\t\n").is_empty());
    assert!(groups_of_status("Name:\tx\n").is_empty());
    let ours = supplementary_groups(Some(std::process::id() as i32));
    let expected: Vec<u32> = nix::unistd::getgroups()
        .unwrap()
        .iter()
        .map(|g| g.as_raw())
        .collect();
    assert_eq!(ours, expected);
    assert!(supplementary_groups(None).is_empty());
}

#[tokio::test]
async fn pair_is_answered_then_followed_by_its_events_until_the_window_closes() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    let mut bystander = Peer::connect(&server.path).await;
    let answer = peer
        .ask(r#"{"version":1,"id":5,"type":"pair","seconds":30,"passkey":"123456"}"#)
        .await;
    assert_eq!(
        answer,
        json!({"version":1,"id":5,"type":"pairing",
               "pairing":{"open":true,"seconds_left":30,"closes_at":1030}})
    );
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let line = peer.receive().await;
        assert_eq!(
            (line["id"].as_u64(), &line["type"]),
            (Some(5), &json!("pairing_event"))
        );
        kinds.push(line["event"]["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        [
            "pairing_window_opened",
            "lock_paired",
            "pairing_window_closed"
        ]
    );
    let after = peer.ask(r#"{"version":1,"id":6,"type":"locks"}"#).await;
    assert_eq!(after["id"], 6, "the stream ended with the close: {after}");
    let theirs = bystander
        .ask(r#"{"version":1,"id":1,"type":"locks"}"#)
        .await;
    assert_eq!(
        theirs["type"], "locks",
        "no events for a client that did not ask"
    );
}

#[tokio::test]
async fn pair_stop_is_answered_without_a_stream_and_bad_pair_fields_are_refused() {
    let server = start().await;
    let mut peer = Peer::connect(&server.path).await;
    let stop = peer
        .ask(r#"{"version":1,"id":3,"type":"pair","stop":true}"#)
        .await;
    assert_eq!(stop["pairing"], json!({"open": false}));
    let next = peer.ask(r#"{"version":1,"id":4,"type":"locks"}"#).await;
    assert_eq!(next["id"], 4);
    for bad in [
        r#"{"version":1,"id":9,"type":"pair","seconds":255}"#,
        r#"{"version":1,"id":9,"type":"pair","seconds":0}"#,
        r#"{"version":1,"id":9,"type":"pair","passkey":"12345"}"#,
        r#"{"version":1,"id":9,"type":"pair","passkey":123456}"#,
    ] {
        let refused = peer.ask(bad).await;
        assert_eq!(refused["id"], 9);
        assert!(
            error_of(&refused).contains("not a valid request"),
            "{refused}"
        );
    }
}
