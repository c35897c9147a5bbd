//! The support service driven by the real client (`lockgate_support::SupportClient`) in
//! memory, with its state in a temporary directory.

use super::*;
use lockgate_support::{ClientEvent, Forbidden, Reason, SupportClient};
use rand_core::OsRng;
use std::path::Path;
use std::sync::OnceLock;

const T0: u64 = 1_760_000_000_000;
const LOCK: &str = "4c47000000000001";

fn config(state_dir: &Path, extra: &str) -> Config {
    let file = state_dir.join("lockgate.toml");
    let text = format!(
        "state_dir = {:?}\n[gateway]\nid = \"gw\"\n[mqtt]\nusername = \"gw\"\n\
         password_file = \"/etc/lockgate/mqtt-password\"\n{extra}",
        state_dir.display().to_string()
    );
    std::fs::write(&file, text).unwrap();
    Config::load(&file, Vec::new()).unwrap()
}

fn service(state_dir: &Path) -> SupportService {
    SupportService::new(&config(state_dir, ""), LogRing::new(50), T0).unwrap()
}

/// The only publication, checked to go to the client's topic.
fn one(client: &SupportClient, publish: Vec<Publish>) -> Vec<u8> {
    assert_eq!(publish.len(), 1, "{publish:?}");
    let p = publish.into_iter().next().unwrap();
    assert_eq!(
        p.topic,
        format!("lockgate/gw/support/response/{}", client.session_id())
    );
    p.payload
}

fn send(svc: &mut SupportService, now: u64, bytes: &[u8]) -> Handled {
    svc.handle(now, "lockgate/gw/support/request", bytes, false)
}

fn connect(svc: &mut SupportService, code: &SupportCode, now: u64) -> SupportClient {
    let (mut client, hello) = SupportClient::start("gw", "alice", code, OsRng).unwrap();
    let reply = one(&client, send(svc, now, &hello).publish);
    let ClientEvent::Send(confirm) = client.handle(now, &reply).unwrap() else {
        panic!("wrong code?")
    };
    let welcome = one(&client, send(svc, now, &confirm).publish);
    let event = client.handle(now, &welcome).unwrap();
    assert!(
        matches!(event, ClientEvent::Established { .. }),
        "{event:?}"
    );
    client
}

/// Sends `request`; returns what the service handled.
fn ask(svc: &mut SupportService, client: &mut SupportClient, request: Request) -> Handled {
    let (_, record) = client.request(T0 + 1_000, &request).unwrap();
    send(svc, T0 + 1_000, &record)
}

fn response(client: &mut SupportClient, handled: Handled) -> lockgate_support::Response {
    let bytes = one(client, handled.publish);
    match client.handle(T0 + 1_000, &bytes).unwrap() {
        ClientEvent::Response(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn actions_go_to_the_manager_and_their_answers_to_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    assert_eq!(svc.subscriptions(), ["lockgate/gw/support/request"]);
    let (started, _) = svc.start(T0, None).unwrap();
    assert_eq!(started.valid_for, Duration::from_secs(600));
    let mut client = connect(&mut svc, &started.code, T0);
    let lock: LockId = LOCK.parse().unwrap();
    for (request, action) in [
        (Request::Health, Action::Health),
        (Request::Links, Action::Links),
        (Request::Reconnect { lock }, Action::Reconnect(lock)),
        (Request::Rescan, Action::Rescan),
        (Request::ResetAdapter, Action::ResetAdapter),
    ] {
        let handled = ask(&mut svc, &mut client, request);
        assert!(handled.publish.is_empty());
        let pending = handled.action.expect("an action");
        assert_eq!(pending.action, action);
        let answer = svc.answer(T0 + 1_000, pending.ticket, Ok(json!({"done": true})));
        let r = response(
            &mut client,
            Handled {
                publish: answer,
                action: None,
            },
        );
        assert_eq!(r.data, Some(json!({"done": true})));
    }
}

#[test]
fn logs_and_the_redacted_config_are_answered_by_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let ring = LogRing::new(1000);
    for i in 0..1000 {
        ring.push(LogLine {
            time: 1,
            level: "INFO",
            target: "lockgate::test".into(),
            message: format!("line {i} {}", "x".repeat(300)),
        });
    }
    let mut svc = SupportService::new(&config(dir.path(), ""), ring, T0).unwrap();
    let (started, _) = svc.start(T0, None).unwrap();
    let mut client = connect(&mut svc, &started.code, T0);

    let handled = ask(&mut svc, &mut client, Request::Logs { lines: 500 });
    assert_eq!(handled.action, None);
    let data = response(&mut client, handled).data.unwrap();
    let lines = data["lines"].as_array().unwrap();
    assert!(lines.len() > 10 && lines.len() < 500, "{}", lines.len());
    assert_eq!(lines.len() as u64 + data["omitted"].as_u64().unwrap(), 500);
    assert!(lines.last().unwrap()["message"]
        .as_str()
        .unwrap()
        .starts_with("line 999 "));

    let handled = ask(&mut svc, &mut client, Request::Config);
    let data = response(&mut client, handled).data.unwrap();
    assert_eq!(data["mqtt"]["password_file"], "/etc/lockgate/mqtt-password");
    assert_eq!(data["gateway"]["id"], "gw");
}

#[test]
fn forbidden_requests_are_refused_and_never_reach_the_manager() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    let (started, _) = svc.start(T0, None).unwrap();
    let mut client = connect(&mut svc, &started.code, T0);
    for f in Forbidden::ALL {
        let handled = ask(&mut svc, &mut client, Request::Forbidden(f));
        assert_eq!(handled.action, None);
        let r = response(&mut client, handled);
        assert_eq!(r.status, lockgate_support::Status::Refused);
    }
}

#[test]
fn the_throttle_survives_a_restart_on_the_same_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    let (started, _) = svc.start(T0, None).unwrap();
    let wrong: SupportCode = "407193852618".parse().unwrap();
    assert!(!wrong.ct_eq(&started.code));
    let (mut client, hello) = SupportClient::start("gw", "mallory", &wrong, OsRng).unwrap();
    let reply = one(&client, send(&mut svc, T0, &hello).publish);
    let ClientEvent::WrongCode { abort } = client.handle(T0, &reply).unwrap() else {
        panic!()
    };
    assert_eq!(send(&mut svc, T0, &abort), Handled::default());
    drop(svc);

    // A new daemon on the same state directory: a new code, the same throttle.
    let mut svc = service(dir.path());
    assert_eq!(svc.status(T0 + 1_000).throttle["failures"], 1);
    let (started, _) = svc.start(T0 + 1_000, None).unwrap();
    let (mut client, hello) = SupportClient::start("gw", "alice", &started.code, OsRng).unwrap();
    let refusal = one(&client, send(&mut svc, T0 + 1_000, &hello).publish);
    assert_eq!(
        client.handle(T0, &refusal).unwrap(),
        ClientEvent::Refused {
            reason: Reason::Throttled,
            retry_after_secs: 4
        }
    );
    let _client = connect(&mut svc, &started.code, T0 + 5_000);
    assert_eq!(svc.status(T0 + 5_000).throttle["failures"], 0);
}

#[test]
fn an_unreadable_state_file_throttles_rather_than_resets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(state::STATE_FILE), "garbage").unwrap();
    let mut svc = service(dir.path());
    let status = svc.status(T0);
    assert_eq!(status.throttle["failures"], u64::from(MAX_ATTEMPTS));
    assert_eq!(status.throttle["retry_after_s"], 80);
}

#[test]
fn nothing_is_answered_when_the_throttle_cannot_be_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), "");
    config.state_dir = dir.path().join("missing");
    let mut svc = SupportService::new(&config, LogRing::new(1), T0).unwrap();
    let (started, _) = svc.start(T0, None).unwrap();
    let (_, hello) = SupportClient::start("gw", "alice", &started.code, OsRng).unwrap();
    assert_eq!(send(&mut svc, T0, &hello), Handled::default());
}

#[test]
fn retained_messages_and_other_topics_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    let (started, _) = svc.start(T0, None).unwrap();
    let (_, hello) = SupportClient::start("gw", "alice", &started.code, OsRng).unwrap();
    let topic = "lockgate/gw/support/request";
    assert_eq!(svc.handle(T0, topic, &hello, true), Handled::default());
    assert_eq!(
        svc.handle(T0, "lockgate/gw/bridge/request/health", &hello, false),
        Handled::default()
    );
    assert!(svc.status(T0).handshake.is_none());
}

#[test]
fn stop_ends_the_session_and_status_follows() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    let (started, _) = svc.start(T0, Some(Duration::from_secs(120))).unwrap();
    let status = svc.status(T0);
    assert_eq!(
        status.code,
        Some(json!({"expires_in_s": 120, "attempts_left": 5}))
    );
    let mut client = connect(&mut svc, &started.code, T0);
    let status = svc.status(T0);
    assert_eq!(status.code, None);
    let session = status.session.unwrap();
    assert_eq!(session["operator"], "alice");
    assert_eq!(session["expires_in_s"], 1800);
    assert_eq!(svc.next_deadline(), Some(T0 + 1_800_000));
    let closed = one(&client, svc.stop(T0 + 1));
    assert_eq!(
        client.handle(T0, &closed).unwrap(),
        ClientEvent::Closed(lockgate_support::CloseReason::Stopped)
    );
    assert_eq!(svc.status(T0 + 1).session, None);
}

#[test]
fn codes_need_support_enabled_and_a_validity_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    for minutes in [0, 61] {
        let err = svc
            .start(T0, Some(Duration::from_secs(minutes * 60)))
            .unwrap_err();
        assert!(matches!(err, SupportError::Validity(_)), "{err}");
    }
    let disabled = config(dir.path(), "[support]\nenabled = false\n");
    let mut svc = SupportService::new(&disabled, LogRing::new(1), T0).unwrap();
    assert!(matches!(svc.start(T0, None), Err(SupportError::Disabled)));
    assert!(svc.subscriptions().is_empty());
}

#[test]
fn disabling_support_on_reload_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    let (started, _) = svc.start(T0, None).unwrap();
    let mut client = connect(&mut svc, &started.code, T0);
    let closed = svc.reload(&config(dir.path(), "[support]\nenabled = false\n"), T0 + 1);
    assert_eq!(
        client.handle(T0, &one(&client, closed)).unwrap(),
        ClientEvent::Closed(lockgate_support::CloseReason::Stopped)
    );
    assert!(svc.subscriptions().is_empty());
}

/// The test process's logger: a ring behind a logger that prints nothing.
fn captured() -> &'static LogRing {
    struct Silent;
    impl log::Log for Silent {
        fn enabled(&self, _: &log::Metadata) -> bool {
            false
        }
        fn log(&self, _: &log::Record) {}
        fn flush(&self) {}
    }
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(|| {
        let ring = LogRing::new(10_000);
        if log::set_boxed_logger(Box::new(ring.tee(Box::new(Silent)))).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
        ring
    })
}

#[test]
fn the_audit_trail_names_session_operator_and_command_but_never_the_code() {
    let ring = captured();
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(dir.path());
    let (started, _) = svc.start(T0, None).unwrap();
    let mut client = connect(&mut svc, &started.code, T0);
    let _ = ask(&mut svc, &mut client, Request::Health);
    let _ = ask(
        &mut svc,
        &mut client,
        Request::Forbidden(Forbidden::PairingOpen),
    );
    let _ = ask(&mut svc, &mut client, Request::Quit);
    let sid = client.session_id().to_string();
    let lines: Vec<String> = ring
        .recent(10_000)
        .into_iter()
        .filter(|l| l.target == "lockgate::support")
        .map(|l| l.message)
        .collect();
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains(&sid)).collect();
    for needle in [
        "opened by alice",
        "(alice): health",
        "(alice): refused pairing-open",
        "ended: the client quit",
    ] {
        assert!(
            ours.iter().any(|l| l.contains(needle)),
            "{needle}: {ours:#?}"
        );
    }
    let digits = started.code.digits();
    for l in &lines {
        assert!(
            !l.contains(digits) && !l.contains(started.code.grouped().as_str()),
            "{l}"
        );
    }
}
