//! The gateway stays blind through pairing, invites, commands and remote support (DESIGN.md
//! §2, docs/GATEWAY.md §7): after a `lockctl` endpoint pairs by the label code, invites and
//! joins a second one, both use the lock, one renames itself to a canary inside the E2E
//! session, a Home Assistant bridge relays a state event, and a support session reads what
//! it may, none of the secrets involved is on MQTT
//! (a subscriber to `#`), in lockgated's log, in its state directory or in its memory.

use anyhow::{ensure, Context, Result};
use lockgate_support::{Request, Status};
use lockgate_systest::blindness::{contains, files_containing, memory_containing};
use lockgate_systest::bridge::wait_payload;
use lockgate_systest::lockctl::Lockctl;
use lockgate_systest::support::attempt;
use lockgate_systest::testbed::GATEWAY_ID;
use lockgate_systest::{run, Mqtt, Settings, TestBed};
use rand_core::{OsRng, RngCore};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

/// A secret and the byte strings it may appear as.
struct Secret {
    what: String,
    forms: Vec<Vec<u8>>,
}

/// A setup code (label, invite or support code) in every form the protocol or a program
/// might write it: its digits, grouped by four with dashes or spaces, and the SPAKE2 password
/// (`lockgate v1 label:` / `invite:` then the digits, PROTOCOL.md §6; it contains the digits).
/// Codes are only ever encoded as ASCII digits (crates/e2e/src/setup_code.rs), never as a
/// binary number.
fn code(what: &str, digits: &str) -> Secret {
    let groups: Vec<String> = digits
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let forms = [digits.to_owned(), groups.join("-"), groups.join(" ")];
    Secret {
        what: what.to_owned(),
        forms: forms.into_iter().map(String::into_bytes).collect(),
    }
}

/// A 32-byte key given as 64 hex digits: the bytes, and the hex in both cases.
fn key(what: &str, hex_digits: &str) -> Result<Secret> {
    let bytes = hex::decode(hex_digits).with_context(|| format!("{what} is not hex"))?;
    ensure!(bytes.len() == 32, "{what}: {} bytes", bytes.len());
    let forms = vec![
        bytes,
        hex_digits.to_ascii_lowercase().into_bytes(),
        hex_digits.to_ascii_uppercase().into_bytes(),
    ];
    Ok(Secret {
        what: what.to_owned(),
        forms,
    })
}

/// Every string value of a field named `name` in `value`, at any depth.
fn fields(value: &Value, name: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v.as_str() {
                    Some(s) if k == name => found.push(s.to_owned()),
                    _ => fields(v, name, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| fields(v, name, found)),
        _ => {}
    }
}

/// The fields `name` of every JSON file under `dir`.
fn fields_in_files(dir: &Path, name: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path)?;
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    fields(&value, name, &mut found);
                }
            }
        }
    }
    Ok(found)
}

/// An endpoint's keys from its store: its static secret key and its session keys.
fn endpoint_keys(name: &str, endpoint: &Lockctl) -> Result<Vec<Secret>> {
    let dir = endpoint.config_dir();
    let mut keys = Vec::new();
    for hex_digits in fields_in_files(dir, "secret_key")? {
        keys.push(key(&format!("{name}'s static secret key"), &hex_digits)?);
    }
    for hex_digits in fields_in_files(&dir.join("locks"), "session_key")? {
        keys.push(key(&format!("{name}'s session key"), &hex_digits)?);
    }
    ensure!(
        keys.len() == 2,
        "{name}: {} keys in {}",
        keys.len(),
        dir.display()
    );
    Ok(keys)
}

/// Fails if any form of `secret` is in what the gateway published or relayed (`mqtt`), its
/// log, its state directory, or (with `memory`) its memory.
fn assert_unseen(bed: &mut TestBed, mqtt: &Mqtt, secret: &Secret, memory: bool) -> Result<()> {
    let messages = mqtt.messages();
    let log = bed.gateway.log_text();
    let pid = bed.gateway.pid().context("lockgated runs")?;
    for form in &secret.forms {
        let what = &secret.what;
        for m in messages.iter().chain(&bed.observer.messages()) {
            ensure!(!contains(&m.payload, form), "{what} on MQTT, {}", m.topic);
        }
        ensure!(!contains(log.as_bytes(), form), "{what} in lockgated's log");
        let stored = files_containing(&bed.gateway.state_dir(), form)?;
        ensure!(
            stored.is_empty(),
            "{what} in the gateway's state: {stored:?}"
        );
        if memory {
            let held = memory_containing(pid, form)?;
            ensure!(held.is_empty(), "{what} in lockgated's memory: {held:?}");
        }
    }
    Ok(())
}

/// Runs `lockctl <args> --json`; its report, which must be a success.
async fn ok(endpoint: &Lockctl, args: &[&str]) -> Result<Value> {
    endpoint.run(&[args, &["--json"]].concat()).await?.ok()
}

#[test]
fn pairing_invites_commands_and_support_leave_no_secret_with_the_gateway() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().start(&diag).await?;
        let everything = Mqtt::connect(
            &Settings::plain("everything", bed.broker.port()),
            Duration::from_secs(10),
        )
        .await?;
        everything.subscribe("#").await?;
        let lock = bed.lock_id(0).to_string();
        let label = bed.locks[0].label_code.clone();
        let (alice, bob) = (bed.lockctl("alice")?, bed.lockctl("bob")?);

        // Pairing by the label code, an invite joined by a second endpoint.
        bed.sim.press(&bed.lock_id(0)).await?;
        let target = ["--gateway", GATEWAY_ID, "--lock", &lock];
        ok(
            &alice,
            &[&["pair"][..], &target, &["--code", &label]].concat(),
        )
        .await?;
        let invite = ok(&alice, &["users", "invite", &lock]).await?;
        let invite_code = invite["code"]
            .as_str()
            .context("no invite code")?
            .to_owned();
        ok(
            &bob,
            &[&["join"][..], &target, &["--invite", &invite_code]].concat(),
        )
        .await?;

        // Commands. The pairing name travels in clear in PairStart, so the plaintext canary
        // is a new name set and read back inside the E2E session.
        let canary = format!("CANARY-{:012x}", OsRng.next_u64() & 0xffff_ffff_ffff);
        ok(&alice, &["users", "rename", &lock, "me", &canary]).await?;
        let users = ok(&alice, &["users", "list", &lock]).await?;
        ensure!(users.to_string().contains(&canary), "{users}");
        ok(&alice, &["lock", &lock]).await?;
        ok(&bob, &["status", &lock]).await?;

        // Bob also runs the Home Assistant bridge: a subscription, then a knob turned by hand
        // whose state event the gateway relays. The bridge's own output (lock states, in
        // clear by design) holds none of the secrets either.
        let settings = bob.config_dir().join("lockctl.toml");
        let shared = std::fs::read_to_string(&settings)? + "[ha]\nshare_gateway_broker = true\n";
        std::fs::write(&settings, shared)?;
        let _bridge = bob.spawn(&["ha"])?;
        let state = format!("lockctl/{lock}/state");
        wait_payload(&everything, &state, "LOCKED").await?;
        bed.sim.ctl(&["knob", &lock]).await?;
        wait_payload(&everything, &state, "UNLOCKED").await?;

        // A support session that reads what it may.
        let started = bed.lockgate(&["support", "start", "--json"]).await?;
        let started: Value = serde_json::from_slice(&started.stdout)?;
        let support_code = started["code"].as_str().context("no support code")?;
        let digits: String = support_code.chars().filter(char::is_ascii_digit).collect();
        let port = bed.broker.port();
        let operator = "alice@vendor";
        let mut session = attempt(port, &bed.topics, &digits, operator)
            .await?
            .open()?;
        let reads = [
            Request::Health,
            Request::Links,
            Request::Logs { lines: 200 },
            Request::Config,
        ];
        for request in reads {
            let answer = session.ask(&request).await?;
            ensure!(answer.status == Status::Ok, "{answer:?}");
        }

        let mut secrets = vec![
            code("the label code", &label),
            code("the invite code", &invite_code.replace('-', "")),
            code("the invite secret", &invite_code.replace('-', "")[4..]),
            Secret {
                what: "the new name (inside E2E only)".into(),
                forms: vec![canary.clone().into_bytes()],
            },
        ];
        secrets.extend(endpoint_keys("alice", &alice)?);
        secrets.extend(endpoint_keys("bob", &bob)?);
        let lock_keys = fields_in_files(&bed.sim.state_dir(), "secret_key")?;
        ensure!(lock_keys.len() == 1, "the lock's keys: {}", lock_keys.len());
        secrets.push(key("the lock's static secret key", &lock_keys[0])?);

        // Discovery is off by default: the gateway published nothing for Home Assistant
        // (the bridge did, under its own node ids).
        let gateway_configs: Vec<String> = everything
            .messages()
            .into_iter()
            .map(|m| m.topic)
            .filter(|t| t.starts_with("homeassistant/") && t.contains("/lockgate_"))
            .collect();
        ensure!(gateway_configs.is_empty(), "{gateway_configs:?}");
        ensure!(
            everything
                .messages()
                .iter()
                .any(|m| m.topic.starts_with("homeassistant/lock/lockctl_")),
            "the bridge's discovery is seen"
        );

        // The searches work: the lock holds the new name in memory and in its state.
        let needle = canary.as_bytes();
        ensure!(!memory_containing(bed.sim.pid(), needle)?.is_empty());
        ensure!(!files_containing(&bed.sim.state_dir(), needle)?.is_empty());
        for secret in &secrets {
            assert_unseen(&mut bed, &everything, secret, true)?;
        }
        // The gateway knows the support code (it runs the PAKE with it), so its memory is not
        // searched for it; it must still be nowhere on MQTT, in the log or on disk.
        assert_unseen(
            &mut bed,
            &everything,
            &code("the support code", &digits),
            false,
        )
    });
}
