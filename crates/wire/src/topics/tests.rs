//! Tests of the topic builders, filters and value validation.

use super::*;

fn topics() -> Topics {
    Topics::for_gateway("gw1").unwrap()
}

fn lock(name: &str) -> String {
    name.to_owned()
}

#[test]
fn default_base_is_lockgate_slash_gateway_id() {
    assert_eq!(topics().base(), "lockgate/gw1");
}

#[test]
fn bridge_topics_follow_the_table() {
    let t = topics();
    assert_eq!(t.bridge_state(), "lockgate/gw1/bridge/state");
    assert_eq!(t.bridge_info(), "lockgate/gw1/bridge/info");
    assert_eq!(t.bridge_locks(), "lockgate/gw1/bridge/locks");
    assert_eq!(t.bridge_event(), "lockgate/gw1/bridge/event");
    assert_eq!(t.bridge_health(), "lockgate/gw1/bridge/health");
    assert_eq!(
        t.bridge_request("pairing/close").unwrap(),
        "lockgate/gw1/bridge/request/pairing/close"
    );
    assert_eq!(
        t.bridge_response("info").unwrap(),
        "lockgate/gw1/bridge/response/info"
    );
}

#[test]
fn lock_topics_follow_the_table() {
    let l = topics().for_lock(&LockId([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]));
    assert_eq!(l.lock(), "0123456789abcdef");
    assert_eq!(
        l.availability(),
        "lockgate/gw1/0123456789abcdef/availability"
    );
    assert_eq!(l.link(), "lockgate/gw1/0123456789abcdef/link");
    assert_eq!(l.up(42), "lockgate/gw1/0123456789abcdef/up/42");
    assert_eq!(
        l.up(0x8000_0000),
        "lockgate/gw1/0123456789abcdef/up/2147483648"
    );
    assert_eq!(l.down(), "lockgate/gw1/0123456789abcdef/down");
    assert_eq!(l.delivery(), "lockgate/gw1/0123456789abcdef/delivery");
}

#[test]
fn filters_follow_the_table() {
    let t = topics();
    assert_eq!(t.bridge_request_filter(), "lockgate/gw1/bridge/request/#");
    assert_eq!(t.down_filter(), "lockgate/gw1/+/down");
    assert_eq!(t.up_filter(7), "lockgate/gw1/+/up/7");
}

#[test]
fn multi_level_base_is_accepted() {
    let t = Topics::new("home/locks/gw-1").unwrap();
    assert_eq!(t.bridge_state(), "home/locks/gw-1/bridge/state");
}

#[test]
fn base_with_empty_levels_is_rejected() {
    for base in ["/a", "a/", "a//b", "/"] {
        let err = Topics::new(base).unwrap_err();
        assert!(
            matches!(
                err,
                TopicError::EmptyLevel {
                    part: Part::Base,
                    ..
                }
            ),
            "{base}: {err}"
        );
    }
    assert_eq!(Topics::new(""), Err(TopicError::Empty { part: Part::Base }));
}

#[test]
fn wildcards_and_control_characters_are_rejected_everywhere() {
    for bad in ["a+b", "#", "+"] {
        assert!(matches!(Topics::new(bad), Err(TopicError::Wildcard { .. })));
        assert!(matches!(
            Topics::for_gateway(bad),
            Err(TopicError::Wildcard { .. })
        ));
        assert!(matches!(
            topics().lock(bad),
            Err(TopicError::Wildcard { .. })
        ));
        assert!(matches!(
            topics().bridge_request(bad),
            Err(TopicError::Wildcard { .. })
        ));
    }
    for bad in ["a\0b", "tab\there", "\u{7f}", "\u{85}"] {
        assert!(matches!(
            Topics::new(bad),
            Err(TopicError::ControlCharacter { .. })
        ));
        assert!(matches!(
            topics().lock(bad),
            Err(TopicError::ControlCharacter { .. })
        ));
    }
}

#[test]
fn single_level_values_cannot_contain_a_slash() {
    let err = Topics::for_gateway("a/b").unwrap_err();
    assert_eq!(
        err,
        TopicError::Slash {
            part: Part::GatewayId,
            value: "a/b".into()
        }
    );
    let err = topics().lock("a/b").unwrap_err();
    assert_eq!(
        err,
        TopicError::Slash {
            part: Part::Lock,
            value: "a/b".into()
        }
    );
}

#[test]
fn empty_gateway_lock_and_command_are_rejected() {
    assert_eq!(
        Topics::for_gateway(""),
        Err(TopicError::Empty {
            part: Part::GatewayId
        })
    );
    assert_eq!(
        topics().lock(""),
        Err(TopicError::Empty { part: Part::Lock })
    );
    assert_eq!(
        topics().bridge_request(""),
        Err(TopicError::Empty {
            part: Part::Command
        })
    );
    let err = topics().bridge_response("pairing/").unwrap_err();
    assert!(matches!(
        err,
        TopicError::EmptyLevel {
            part: Part::Command,
            ..
        }
    ));
}

#[test]
fn a_lock_cannot_be_named_bridge() {
    assert_eq!(topics().lock("bridge"), Err(TopicError::ReservedLock));
    assert!(topics().lock("Bridge").is_ok());
}

#[test]
fn base_starting_with_dollar_is_rejected() {
    assert!(matches!(
        Topics::new("$SYS/x"),
        Err(TopicError::DollarBase { .. })
    ));
    assert!(Topics::for_gateway("$gw").is_ok());
}

#[test]
fn topics_longer_than_65535_bytes_are_rejected() {
    let long = "a".repeat(MAX_TOPIC_LEN);
    assert!(matches!(
        Topics::new(&long),
        Err(TopicError::TooLong {
            part: Part::Base,
            ..
        })
    ));
    let base = "b".repeat(MAX_TOPIC_LEN - LONGEST_FIXED_SUFFIX);
    let t = Topics::new(&base).unwrap();
    assert!(t.for_lock(&LockId([0xff; 8])).up(u32::MAX).len() <= MAX_TOPIC_LEN);
    assert!(matches!(
        t.lock("abcdefghijklmnopq"),
        Err(TopicError::TooLong { .. })
    ));
    assert!(matches!(
        t.bridge_request(&"c".repeat(20)),
        Err(TopicError::TooLong { .. })
    ));
    let topic = format!("{}/x/down", "a".repeat(MAX_TOPIC_LEN));
    assert!(matches!(
        topics().parse(&topic),
        Err(TopicError::TooLong {
            part: Part::Topic,
            ..
        })
    ));
}

#[test]
fn build_rejects_invalid_locks_and_commands_in_a_topic() {
    let t = topics();
    assert_eq!(
        t.build(&Topic::Down {
            lock: lock("bridge")
        }),
        Err(TopicError::ReservedLock)
    );
    let err = t
        .build(&Topic::BridgeRequest { cmd: "a/+".into() })
        .unwrap_err();
    assert!(matches!(
        err,
        TopicError::Wildcard {
            part: Part::Command,
            ..
        }
    ));
}

#[test]
fn topic_lock_names_the_lock_of_per_lock_topics_only() {
    assert_eq!(Topic::Down { lock: lock("x") }.lock(), Some("x"));
    assert_eq!(Topic::BridgeState.lock(), None);
}
