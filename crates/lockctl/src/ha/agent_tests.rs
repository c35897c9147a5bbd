//! Tests of `agent`, two-ended in memory: the agent against the reference lock.

use super::*;
use lockgate_e2e::command::MechanismState;
use lockgate_e2e::{
    EndpointPairing, LockConfig, LockIdentity, LockMachine, PairingStep, SetupCode, StaticSecret,
    Via,
};
use rand_core::OsRng;

struct World {
    lock: LockMachine<OsRng>,
    now_ms: u64,
    t0: Instant,
}

impl World {
    fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.now_ms)
    }

    /// Delivers what the agent sends; returns the lock's answers.
    fn deliver(&mut self, outs: &[Out]) -> Vec<Vec<u8>> {
        let mut answers = Vec::new();
        for out in outs {
            if let Out::Send(frame) = out {
                answers.extend(
                    self.lock
                        .handle_frame(self.now_ms, Via::Gateway, frame)
                        .frames,
                );
            }
        }
        answers
    }

    /// Runs the exchange the agent starts with `outs` to its end.
    fn converse(&mut self, agent: &mut Agent, mut outs: Vec<Out>) -> Vec<Out> {
        let mut all = outs.clone();
        loop {
            let answers = self.deliver(&outs);
            if answers.is_empty() {
                return all;
            }
            outs = answers
                .iter()
                .flat_map(|a| agent.frame(self.now(), a))
                .collect();
            all.extend(outs.clone());
        }
    }

    fn events(&mut self, agent: &mut Agent) -> Vec<Out> {
        let frames = self.lock.collect_events(self.now_ms).frames;
        frames
            .iter()
            .flat_map(|f| agent.frame(self.now(), f))
            .collect()
    }
}

fn paired(config: LockConfig) -> (World, Agent) {
    let identity = LockIdentity::generate(&mut OsRng);
    let mut lock = LockMachine::new(config, identity, OsRng);
    let now_ms = 1_760_000_000_000;
    lock.press_button(now_ms);
    let code = SetupCode::Label(lock.label_code().clone());
    let key = StaticSecret::generate(&mut OsRng);
    let (mut pairing, first) =
        EndpointPairing::start(&key, lock.lock_id(), "home-assistant", &code, OsRng).unwrap();
    let mut frame = first;
    let paired = loop {
        let answer = lock
            .handle_frame(now_ms, Via::Gateway, &frame)
            .frames
            .remove(0);
        match pairing.handle(&answer).unwrap() {
            PairingStep::Send(next) => frame = next,
            PairingStep::Paired(p) => break p,
        }
    };
    let session = EndpointSession::new(paired, lockgate_e2e::ChannelState::default());
    let world = World {
        lock,
        now_ms,
        t0: Instant::now(),
    };
    (world, Agent::new(session))
}

fn online(w: &mut World, agent: &mut Agent) {
    let outs = agent.gateway(w.now(), true);
    w.converse(agent, outs);
    assert!(agent.available());
}

#[test]
fn coming_online_subscribes_and_learns_the_state() {
    let (mut w, mut agent) = paired(LockConfig::default());
    assert!(!agent.available(), "nothing known yet");
    let outs = agent.gateway(w.now(), true);
    assert!(outs.iter().any(|o| matches!(o, Out::Send(_))));
    let all = w.converse(&mut agent, outs);
    assert!(all.contains(&Out::Changed));
    assert_eq!(agent.status().unwrap().state, MechanismState::Locked);
    assert!(agent.available());
}

#[test]
fn an_unlock_command_moves_the_bolt_and_events_bring_the_end_state() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    let outs = agent.command(w.now(), Command::Unlock);
    w.converse(&mut agent, outs);
    assert_eq!(w.lock.mechanism_state(), MechanismState::Unlocking);
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocking);
    w.now_ms += LockConfig::default().actuation_ms;
    w.lock.poll(w.now_ms);
    let outs = w.events(&mut agent);
    assert!(outs.contains(&Out::Changed));
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocked);
    assert_eq!(agent.cause(), Some(EventCause::Remote));
    assert_eq!(agent.last_error(), None);
}

#[test]
fn a_knob_turned_by_hand_reaches_the_agent() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    w.lock.turn_knob(w.now_ms);
    w.events(&mut agent);
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocked);
    assert_eq!(agent.cause(), Some(EventCause::Manual));
}

#[test]
fn open_on_a_lock_without_a_latch_fails_readably() {
    let config = LockConfig {
        unlatch_supported: false,
        ..LockConfig::default()
    };
    let (mut w, mut agent) = paired(config);
    online(&mut w, &mut agent);
    let outs = agent.command(w.now(), Command::Open);
    let all = w.converse(&mut agent, outs);
    assert!(all
        .iter()
        .any(|o| matches!(o, Out::Failed(m) if m.contains("unlatch"))));
    assert!(agent.last_error().unwrap().contains("Open"));
    assert_eq!(w.lock.mechanism_state(), MechanismState::Locked);
}

#[test]
fn a_lost_answer_fails_the_command_and_a_command_queued_behind_it_is_not_sent_late() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    let lost = agent.command(w.now(), Command::Unlock);
    assert!(lost.iter().any(|o| matches!(o, Out::Send(_))));
    // A second command while the first waits is queued, not sent.
    assert!(agent.command(w.now(), Command::Lock).is_empty());
    w.now_ms += ANSWER_TIMEOUT.as_millis() as u64;
    let outs = agent.tick(w.now());
    let failures = outs.iter().filter(|o| matches!(o, Out::Failed(_))).count();
    assert_eq!(
        failures, 2,
        "the lost one, and the queued one, now too old: {outs:?}"
    );
    assert!(!outs.iter().any(|o| matches!(o, Out::Send(_))));
    assert_eq!(w.lock.mechanism_state(), MechanismState::Locked);
    assert!(agent.last_error().unwrap().contains("busy too long"));
}

#[test]
fn a_command_queued_behind_a_quick_exchange_goes_through() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    let first = agent.command(w.now(), Command::Unlock);
    assert!(agent.command(w.now(), Command::Lock).is_empty(), "queued");
    // The unlock's exchanges complete at once; the queued lock follows, refused only because
    // the bolt is still moving.
    let all = w.converse(&mut agent, first);
    assert_eq!(w.lock.mechanism_state(), MechanismState::Unlocking);
    assert!(all
        .iter()
        .any(|o| matches!(o, Out::Failed(m) if m.contains("mechanism_busy"))));
}

#[test]
fn a_gap_in_event_numbers_reads_the_state_and_an_older_event_is_ignored() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    w.lock.turn_knob(w.now_ms); // seq 0: unlocked
    let first = w.lock.collect_events(w.now_ms).frames;
    w.lock.turn_knob(w.now_ms); // seq 1: locked, lost
    let _lost = w.lock.collect_events(w.now_ms);
    w.lock.turn_knob(w.now_ms); // seq 2: unlocked
    let third = w.lock.collect_events(w.now_ms).frames;
    agent.frame(w.now(), &first[0]);
    let outs = agent.frame(w.now(), &third[0]);
    assert!(
        outs.iter().any(|o| matches!(o, Out::Send(_))),
        "the gap makes it read the state: {outs:?}"
    );
    w.converse(&mut agent, outs);
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocked);
    // A relay delivering an older event late changes nothing.
    w.lock.turn_knob(w.now_ms); // seq 3: locked
    let fourth = w.lock.collect_events(w.now_ms).frames;
    w.lock.turn_knob(w.now_ms); // seq 4: unlocked
    let fifth = w.lock.collect_events(w.now_ms).frames;
    agent.frame(w.now(), &fifth[0]);
    assert!(agent.frame(w.now(), &fourth[0]).is_empty());
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocked);
}

#[test]
fn the_subscription_is_renewed_before_it_ends_and_offline_makes_it_unavailable() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    assert!(agent.tick(w.now()).is_empty(), "nothing to do yet");
    w.now_ms += (SUBSCRIPTION - RENEW_BEFORE).as_millis() as u64;
    let outs = agent.tick(w.now());
    assert!(outs.iter().any(|o| matches!(o, Out::Send(_))), "renewed");
    w.converse(&mut agent, outs);
    assert_eq!(agent.gateway(w.now(), false), vec![Out::Changed]);
    assert!(!agent.available());
    assert_eq!(agent.link(false), vec![Out::Changed]);
}

#[test]
fn commands_parse_home_assistants_payloads_only() {
    assert_eq!(Command::parse(b"LOCK"), Some(Command::Lock));
    assert_eq!(Command::parse(b"UNLOCK"), Some(Command::Unlock));
    assert_eq!(Command::parse(b"OPEN"), Some(Command::Open));
    assert_eq!(Command::parse(b"unlock"), None);
    assert_eq!(Command::parse(b""), None);
}

#[test]
fn a_lost_final_event_is_made_good_by_reading_the_state_again() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    let outs = agent.command(w.now(), Command::Unlock);
    w.converse(&mut agent, outs);
    w.now_ms += LockConfig::default().actuation_ms;
    w.lock.poll(w.now_ms);
    let _lost = w.lock.collect_events(w.now_ms); // the relay loses them
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocking);
    w.now_ms += CHECK_AFTER_ACTUATION.as_millis() as u64;
    let outs = agent.tick(w.now());
    assert!(
        outs.iter().any(|o| matches!(o, Out::Send(_))),
        "reads again"
    );
    w.converse(&mut agent, outs);
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocked);
    assert!(agent.tick(w.now()).is_empty(), "once");
}

#[test]
fn a_refresh_reads_the_state_at_once() {
    let (mut w, mut agent) = paired(LockConfig::default());
    online(&mut w, &mut agent);
    w.lock.turn_knob(w.now_ms);
    let _lost = w.lock.collect_events(w.now_ms);
    let outs = agent.refresh(w.now());
    w.converse(&mut agent, outs);
    assert_eq!(agent.status().unwrap().state, MechanismState::Unlocked);
}
