//! Tests of the topic parser: every row of the table, every rejection, and the round trip
//! from `Topics::build` through `Topics::parse`.

use crate::topics::*;
use crate::LockId;
use proptest::prelude::*;

fn topics() -> Topics {
    Topics::for_gateway("gw1").unwrap()
}

fn lock(name: &str) -> String {
    name.to_owned()
}

fn parse(suffix: &str) -> Result<Topic, TopicError> {
    topics().parse(&format!("lockgate/gw1/{suffix}"))
}

#[test]
fn parse_decodes_every_bridge_row_of_the_table() {
    assert_eq!(parse("bridge/state"), Ok(Topic::BridgeState));
    assert_eq!(parse("bridge/info"), Ok(Topic::BridgeInfo));
    assert_eq!(parse("bridge/locks"), Ok(Topic::BridgeLocks));
    assert_eq!(parse("bridge/event"), Ok(Topic::BridgeEvent));
    assert_eq!(parse("bridge/health"), Ok(Topic::BridgeHealth));
    let cmd = "pairing/close".to_owned();
    assert_eq!(
        parse("bridge/request/pairing/close"),
        Ok(Topic::BridgeRequest { cmd })
    );
    let cmd = "info".to_owned();
    assert_eq!(
        parse("bridge/response/info"),
        Ok(Topic::BridgeResponse { cmd })
    );
}

#[test]
fn parse_decodes_every_lock_row_of_the_table() {
    let front = || lock("front");
    assert_eq!(
        parse("front/availability"),
        Ok(Topic::Availability { lock: front() })
    );
    assert_eq!(parse("front/link"), Ok(Topic::Link { lock: front() }));
    assert_eq!(
        parse("front/up/0"),
        Ok(Topic::Up {
            lock: front(),
            auth_id: 0
        })
    );
    let max = Topic::Up {
        lock: front(),
        auth_id: u32::MAX,
    };
    assert_eq!(parse("front/up/4294967295"), Ok(max));
    assert_eq!(parse("front/down"), Ok(Topic::Down { lock: front() }));
    assert_eq!(
        parse("front/delivery"),
        Ok(Topic::Delivery { lock: front() })
    );
}

#[test]
fn parse_rejects_topics_under_another_base() {
    for topic in [
        "lockgate/gw2/bridge/state",
        "lockgate/gw1",
        "lockgate/gw10/x/down",
        "other",
    ] {
        assert!(
            matches!(topics().parse(topic), Err(TopicError::OtherBase { .. })),
            "{topic}"
        );
    }
}

#[test]
fn parse_rejects_unknown_suffixes() {
    let unknown = [
        "bridge",
        "bridge/request",
        "bridge/other",
        "bridge/state/x",
        "front",
        "front/up",
        "front/down/x",
        "front/upstream",
        "front/up/1/2",
        "bridge/down",
    ];
    for suffix in unknown {
        let err = topics()
            .parse(&format!("lockgate/gw1/{suffix}"))
            .unwrap_err();
        assert!(matches!(err, TopicError::Unknown { .. }), "{suffix}: {err}");
    }
}

#[test]
fn parse_rejects_non_canonical_auth_ids() {
    for id in ["01", "00", "١", "-1", "4294967296", "1a", " 1", "0x10"] {
        let err = topics()
            .parse(&format!("lockgate/gw1/front/up/{id}"))
            .unwrap_err();
        assert_eq!(err, TopicError::BadAuthId { value: id.into() });
    }
}

#[test]
fn parse_rejects_wildcards_and_empty_levels() {
    let t = topics();
    assert!(matches!(
        t.parse("lockgate/gw1/+/down"),
        Err(TopicError::Wildcard { .. })
    ));
    assert!(matches!(
        t.parse("lockgate/gw1/bridge/request/#"),
        Err(TopicError::Wildcard { .. })
    ));
    assert!(matches!(
        t.parse("lockgate/gw1//down"),
        Err(TopicError::EmptyLevel { .. })
    ));
    assert!(matches!(
        t.parse("lockgate/gw1/x/down/"),
        Err(TopicError::EmptyLevel { .. })
    ));
    assert!(matches!(
        t.parse("lockgate/gw1/bridge/request/a//b"),
        Err(TopicError::EmptyLevel { .. })
    ));
    assert_eq!(t.parse(""), Err(TopicError::Empty { part: Part::Topic }));
}

fn level() -> impl Strategy<Value = String> {
    "[^/+#\\p{Cc}]{1,8}"
}

fn base() -> impl Strategy<Value = String> {
    proptest::collection::vec(level(), 1..4)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("base must not start with $", |base| !base.starts_with('$'))
}

fn lock_level() -> impl Strategy<Value = String> {
    level().prop_filter("bridge is reserved", |lock| lock != BRIDGE)
}

fn cmd() -> impl Strategy<Value = String> {
    proptest::collection::vec(level(), 1..4).prop_map(|levels| levels.join("/"))
}

fn topic() -> impl Strategy<Value = Topic> {
    prop_oneof![
        Just(Topic::BridgeState),
        Just(Topic::BridgeInfo),
        Just(Topic::BridgeLocks),
        Just(Topic::BridgeEvent),
        Just(Topic::BridgeHealth),
        cmd().prop_map(|cmd| Topic::BridgeRequest { cmd }),
        cmd().prop_map(|cmd| Topic::BridgeResponse { cmd }),
        lock_level().prop_map(|lock| Topic::Availability { lock }),
        lock_level().prop_map(|lock| Topic::Link { lock }),
        (lock_level(), any::<u32>()).prop_map(|(lock, auth_id)| Topic::Up { lock, auth_id }),
        lock_level().prop_map(|lock| Topic::Down { lock }),
        lock_level().prop_map(|lock| Topic::Delivery { lock }),
    ]
}

proptest! {
    #[test]
    fn build_then_parse_gives_the_same_topic(base in base(), topic in topic()) {
        let topics = Topics::new(&base).unwrap();
        let built = topics.build(&topic).unwrap();
        prop_assert_eq!(topics.parse(&built), Ok(topic));
    }

    #[test]
    fn lock_ids_round_trip_through_their_topics(bytes: [u8; 8], auth_id: u32) {
        let topics = topics();
        let lock = LockId(bytes);
        let built = topics.for_lock(&lock).up(auth_id);
        let expected = Topic::Up { lock: lock.to_string(), auth_id };
        prop_assert_eq!(topics.parse(&built), Ok(expected));
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(suffix in "\\PC{0,40}", raw in ".{0,40}") {
        let topics = topics();
        let _ = topics.parse(&format!("lockgate/gw1/{suffix}"));
        let _ = topics.parse(&raw);
    }
}
