use super::*;
use crate::fsutil::mode;
use lockgate_e2e::Role;
use std::time::Duration;

fn record(lock: &str, auth_id: u32) -> LockRecord {
    LockRecord {
        lock: lock.parse().unwrap(),
        gateway: "gw1".into(),
        base_topic: "lockgate/gw1".into(),
        auth_id,
        name: "laptop".into(),
        grant: Grant::unlimited(Role::Admin),
        lock_key: PublicKey([7; 32]),
        session_key: SessionKey::from_bytes([0xab; 32]),
        channel: ChannelState {
            tx_reserved: 1025,
            rx_top: 3,
        },
        paired_at: 1_700_000_000,
    }
}

fn store() -> (tempfile::TempDir, KeyStore) {
    let root = tempfile::tempdir().unwrap();
    let store = KeyStore::open(&root.path().join("lockctl")).unwrap();
    (root, store)
}

#[test]
fn the_store_directories_are_0700_and_the_identity_file_0600() {
    let (_root, store) = store();
    store.identity().unwrap();
    assert_eq!(mode(store.dir()).unwrap(), 0o700);
    assert_eq!(mode(&store.dir().join(LOCKS_DIR)).unwrap(), 0o700);
    assert_eq!(mode(&store.dir().join(IDENTITY_FILE)).unwrap(), 0o600);
}

#[test]
fn the_identity_is_generated_once_and_kept() {
    let (_root, store) = store();
    let first = store.identity().unwrap().public_key();
    let again = KeyStore::open(store.dir()).unwrap().identity().unwrap();
    assert_eq!(again.public_key(), first);
}

#[test]
fn a_damaged_identity_is_a_clear_error_that_names_the_file() {
    let (_root, store) = store();
    let path = store.dir().join(IDENTITY_FILE);
    for text in [
        "",
        "{",
        r#"{"version":1,"secret_key":"zz"}"#,
        r#"{"version":9}"#,
    ] {
        std::fs::write(&path, text).unwrap();
        let err = store.identity().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{text}: {err}");
        let message = err.to_string();
        assert!(message.contains(IDENTITY_FILE), "{message}");
        assert!(message.contains("paired again"), "{message}");
    }
}

#[test]
fn a_record_round_trips_with_mode_0600_and_no_temporary_file() {
    let (_root, store) = store();
    let r = record("4c47000000000001", 1);
    let claim = store.claim(r.lock).unwrap();
    assert!(claim.load().unwrap().is_none());
    claim.save(&r).unwrap();
    let back = claim.load().unwrap().unwrap();
    assert_eq!(back.auth_id, 1);
    assert_eq!(back.channel, r.channel);
    assert_eq!(back.session_key, r.session_key);
    assert_eq!(back.lock_key, r.lock_key);
    let path = store.dir().join(LOCKS_DIR).join("4c47000000000001.json");
    assert_eq!(mode(&path).unwrap(), 0o600);
    let names = crate::fsutil::file_names(&store.dir().join(LOCKS_DIR));
    assert_eq!(names, ["4c47000000000001.json", "4c47000000000001.lock"]);
}

#[test]
fn debug_output_leaves_the_keys_out() {
    let text = format!("{:?}", record("4c47000000000001", 1));
    assert!(!text.contains("abab"), "{text}");
    assert!(!text.contains("0707"), "{text}");
}

#[test]
fn a_damaged_record_is_a_clear_error_not_a_panic() {
    let (_root, store) = store();
    let path = store.dir().join(LOCKS_DIR).join("4c47000000000001.json");
    for text in [
        "not json",
        "{}",
        r#"{"version":1,"lock":"4c47000000000001"}"#,
    ] {
        std::fs::write(&path, text).unwrap();
        let err = store.locks().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("4c47000000000001.json"), "{err}");
        let claim = store.claim("4c47000000000001".parse().unwrap()).unwrap();
        assert!(claim.load().is_err());
    }
}

#[test]
fn a_record_under_another_lock_s_name_is_refused() {
    let (_root, store) = store();
    let text = to_json(&Versioned {
        version: STORE_VERSION,
        body: record("4c47000000000002", 2),
    });
    let path = store.dir().join(LOCKS_DIR).join("4c47000000000001.json");
    std::fs::write(&path, text).unwrap();
    let err = store.locks().unwrap_err().to_string();
    assert!(err.contains("it holds lock 4c47000000000002"), "{err}");
}

#[test]
fn locks_are_found_by_id_or_a_unique_prefix() {
    let (_root, store) = store();
    for (id, auth) in [
        ("4c47000000000001", 1),
        ("4c47000000000002", 2),
        ("aa00000000000003", 3),
    ] {
        store
            .claim(id.parse().unwrap())
            .unwrap()
            .save(&record(id, auth))
            .unwrap();
    }
    let listed: Vec<u32> = store.locks().unwrap().iter().map(|r| r.auth_id).collect();
    assert_eq!(listed, [1, 2, 3]);
    assert_eq!(store.find("aa00").unwrap().to_string(), "aa00000000000003");
    assert_eq!(
        store.find("4C47000000000002").unwrap().to_string(),
        "4c47000000000002"
    );
    assert!(matches!(
        store.find("4c47"),
        Err(StoreError::Ambiguous { .. })
    ));
    assert!(matches!(
        store.find("bb00"),
        Err(StoreError::UnknownLock(_))
    ));
    assert!(matches!(store.find("aa"), Err(StoreError::UnknownLock(_))));
}

#[test]
fn a_claimed_lock_waits_for_its_holder() {
    let (_root, store) = store();
    let lock: LockId = "4c47000000000001".parse().unwrap();
    let held = store.claim(lock).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let other = store.clone();
    let waiter = std::thread::spawn(move || {
        let claim = other.claim(lock).unwrap();
        tx.send(()).unwrap();
        drop(claim);
    });
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    drop(held);
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    waiter.join().unwrap();
}
