//! Tests of `command`.

use super::*;
use proptest::prelude::*;

fn lock() -> LockId {
    "4c47000000000001".parse().unwrap()
}

#[test]
fn every_request_round_trips() {
    let requests = [
        Request::Health,
        Request::Links,
        Request::Logs { lines: 20 },
        Request::Config,
        Request::Reconnect { lock: lock() },
        Request::Rescan,
        Request::ResetAdapter,
        Request::Quit,
    ]
    .into_iter()
    .chain(Forbidden::ALL.map(Request::Forbidden));
    for r in requests {
        assert_eq!(Request::decode(&r.encode()), Ok(r.clone()), "{r:?}");
    }
}

#[test]
fn the_allowed_list_names_exactly_the_allowed_requests() {
    for name in ALLOWED {
        let request =
            Request::decode(format!(r#"{{"cmd":"{name}","lock":"4c47000000000001"}}"#).as_bytes())
                .unwrap();
        assert!(!matches!(request, Request::Forbidden(_)), "{name}");
        assert_eq!(request.name(), name);
    }
}

#[test]
fn forbidden_commands_are_recognised_whatever_their_fields() {
    for f in Forbidden::ALL {
        for body in [
            format!(r#"{{"cmd":"{}"}}"#, f.name()),
            format!(r#"{{"cmd":"{}","lock":17,"value":[1]}}"#, f.name()),
        ] {
            assert_eq!(Request::decode(body.as_bytes()), Ok(Request::Forbidden(f)));
        }
        assert!(f.why().starts_with("refused: "));
    }
}

#[test]
fn bad_requests_say_what_is_wrong() {
    assert!(matches!(
        Request::decode(b"[]"),
        Err(RequestError::Malformed(_))
    ));
    assert!(matches!(
        Request::decode(b"{\"cmd\":1}"),
        Err(RequestError::Malformed(_))
    ));
    assert_eq!(
        Request::decode(br#"{"cmd":"shell"}"#),
        Err(RequestError::Unknown("shell".into()))
    );
    assert!(matches!(
        Request::decode(br#"{"cmd":"reconnect","lock":"front door"}"#),
        Err(RequestError::BadField(_))
    ));
    assert!(matches!(
        Request::decode(br#"{"cmd":"logs","lines":0}"#),
        Err(RequestError::BadField(_))
    ));
    assert_eq!(
        Request::decode(br#"{"cmd":"logs","extra":true}"#),
        Ok(Request::Logs {
            lines: DEFAULT_LOG_LINES
        })
    );
}

#[test]
fn notices_have_the_documented_json_shape() {
    let welcome = Notice::Welcome {
        gateway: "gw".into(),
        expires_in_s: 1800,
        commands: vec!["health".into()],
    };
    assert_eq!(
        String::from_utf8(welcome.encode()).unwrap(),
        r#"{"type":"welcome","gateway":"gw","expires_in_s":1800,"commands":["health"]}"#
    );
    let ok = Notice::Response(Response::new(3, Ok(json!({"a": 1}))));
    assert_eq!(
        String::from_utf8(ok.encode()).unwrap(),
        r#"{"type":"response","in_reply_to":3,"status":"ok","data":{"a":1}}"#
    );
    let refused = Notice::Response(Response::refused(4, Forbidden::PairingOpen));
    let text = String::from_utf8(refused.encode()).unwrap();
    assert!(text.starts_with(
        r#"{"type":"response","in_reply_to":4,"status":"refused","error":"refused: "#
    ));
    let closed = Notice::Closed {
        reason: CloseReason::Expired,
    };
    assert_eq!(
        String::from_utf8(closed.encode()).unwrap(),
        r#"{"type":"closed","reason":"expired"}"#
    );
    for n in [welcome, ok, refused, closed] {
        assert_eq!(Notice::decode(&n.encode()), Ok(n));
    }
}

proptest! {
    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Request::decode(&bytes);
        let _ = Notice::decode(&bytes);
    }

    #[test]
    fn any_cmd_string_decodes_or_fails_cleanly(cmd in "\\PC{0,20}", lines in any::<i64>()) {
        let body = json!({"cmd": cmd, "lines": lines, "lock": cmd}).to_string();
        let _ = Request::decode(body.as_bytes());
    }
}
