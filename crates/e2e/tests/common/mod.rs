//! A two-ended, in-memory world for protocol tests: one reference lock, endpoints, and a
//! relay the test controls completely (it may drop, replay, alter or hold back frames).

#![allow(dead_code)]

use lockgate_e2e::endpoint::{PairingError, ReceiveError};
use lockgate_e2e::lock::{Effect, LockSnapshot};
use lockgate_e2e::{
    ChannelState, EndpointPairing, EndpointSession, Incoming, LabelCode, LockConfig, LockIdentity,
    LockMachine, Output, PairedLock, PairingStep, Request, Response, SetupCode, StaticSecret, Via,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The lock's clock at the start of every test (a Unix time in ms).
pub const T0: u64 = 1_760_000_000_000;

pub struct World {
    pub lock: LockMachine<ChaCha20Rng>,
    pub now: u64,
    pub rng: ChaCha20Rng,
    /// Every frame the lock sent, in order.
    pub from_lock: Vec<Vec<u8>>,
    /// Every effect the lock reported, in order.
    pub effects: Vec<Effect>,
    /// The last snapshot the lock asked to persist.
    pub persisted: Option<LockSnapshot>,
}

#[derive(Debug)]
pub struct Endpoint {
    pub key: StaticSecret,
    pub session: EndpointSession,
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, LockConfig::default())
    }

    pub fn with_config(seed: u64, config: LockConfig) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let identity = LockIdentity::generate(&mut rng);
        let lock = LockMachine::new(config, identity, ChaCha20Rng::seed_from_u64(seed + 1000));
        World {
            lock,
            now: T0,
            rng,
            from_lock: Vec::new(),
            effects: Vec::new(),
            persisted: None,
        }
    }

    pub fn label(&self) -> SetupCode {
        SetupCode::Label(self.lock.label_code().clone())
    }

    pub fn wrong_label(&self) -> SetupCode {
        let right = self.lock.label_code().digits().to_owned();
        let candidates = ["24681357", "97531864", "13572468"];
        let wrong = candidates.iter().find(|c| **c != right).unwrap();
        SetupCode::Label(wrong.parse::<LabelCode>().unwrap())
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        let out = self.lock.poll(self.now);
        self.absorb(out);
    }

    pub fn press_button(&mut self) {
        let out = self.lock.press_button(self.now);
        self.absorb(out);
    }

    /// Collects the events the lock has waiting (a gateway linked to it); returns the frames.
    pub fn collect_events(&mut self) -> Vec<Vec<u8>> {
        let out = self.lock.collect_events(self.now);
        self.absorb(out)
    }

    /// Turns the lock's knob by hand.
    pub fn turn_knob(&mut self) {
        let out = self.lock.turn_knob(self.now);
        self.absorb(out);
    }

    pub fn absorb(&mut self, out: Output) -> Vec<Vec<u8>> {
        if out.persist {
            self.persisted = Some(self.lock.snapshot());
        }
        self.effects.extend(out.effects);
        self.from_lock.extend(out.frames.iter().cloned());
        out.frames
    }

    /// Delivers one frame to the lock through a gateway; returns what the lock answered.
    pub fn deliver(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        self.deliver_via(Via::Gateway, frame)
    }

    pub fn deliver_via(&mut self, via: Via, frame: &[u8]) -> Vec<Vec<u8>> {
        let out = self.lock.handle_frame(self.now, via, frame);
        self.absorb(out)
    }

    /// Starts a pairing exchange for `key` with this lock; returns the endpoint's state and
    /// its `PairStart` frame, for tests that move the frames themselves.
    pub fn start_pairing(
        &self,
        key: &StaticSecret,
        name: &str,
        code: &SetupCode,
        seed: u64,
    ) -> (EndpointPairing, Vec<u8>) {
        let rng = ChaCha20Rng::seed_from_u64(seed);
        EndpointPairing::start(key, self.lock.lock_id(), name, code, rng).unwrap()
    }

    /// Runs a whole pairing exchange with an honest relay.
    pub fn pair(&mut self, name: &str, code: &SetupCode) -> Result<Endpoint, PairingError> {
        let key = StaticSecret::generate(&mut self.rng);
        let paired = self.pair_key(&key, name, code)?;
        let session = EndpointSession::new(paired, ChannelState::default());
        Ok(Endpoint { key, session })
    }

    pub fn pair_key(
        &mut self,
        key: &StaticSecret,
        name: &str,
        code: &SetupCode,
    ) -> Result<PairedLock, PairingError> {
        let rng = ChaCha20Rng::from_rng(&mut self.rng).unwrap();
        let (mut pairing, first) =
            EndpointPairing::start(key, self.lock.lock_id(), name, code, rng)?;
        let mut outbound = vec![first];
        while let Some(frame) = outbound.pop() {
            for reply in self.deliver(&frame) {
                match pairing.handle(&reply) {
                    Ok(PairingStep::Send(next)) => outbound.push(next),
                    Ok(PairingStep::Paired(paired)) => return Ok(paired),
                    Err(e @ PairingError::WrongCodeOrLock) => {
                        // An honest endpoint tells the lock at once.
                        assert!(self.deliver(&pairing.abort_frame()).is_empty());
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        panic!("pairing stalled without an answer");
    }

    /// Sends a request and returns the endpoint's view of the answer.
    pub fn request(&mut self, ep: &mut Endpoint, request: &Request) -> Incoming {
        let sealed = ep.session.request(request).unwrap();
        let replies = self.deliver(&sealed.frame);
        assert_eq!(replies.len(), 1, "one answer per request");
        ep.session.receive(&replies[0]).unwrap()
    }

    /// Sends a request and expects an authenticated response.
    pub fn call(&mut self, ep: &mut Endpoint, request: &Request) -> Response {
        match self.request(ep, request) {
            Incoming::Response(r) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// Fetches a challenge and returns it.
    pub fn challenge(&mut self, ep: &mut Endpoint) -> [u8; 16] {
        match self.call(ep, &Request::Challenge).result {
            Ok(lockgate_e2e::ResponseBody::Challenge { challenge, .. }) => challenge,
            other => panic!("no challenge: {other:?}"),
        }
    }

    /// Restarts the lock from its last persisted snapshot (a reboot).
    pub fn reboot(&mut self, seed: u64) {
        let snapshot = self.persisted.clone().expect("something was persisted");
        let json = serde_json::to_string(&snapshot).unwrap();
        let restored: LockSnapshot = serde_json::from_str(&json).unwrap();
        self.lock = LockMachine::restore(
            LockConfig::default(),
            &restored,
            ChaCha20Rng::seed_from_u64(seed),
        )
        .unwrap();
    }
}

pub fn receive(ep: &mut Endpoint, frame: &[u8]) -> Result<Incoming, ReceiveError> {
    ep.session.receive(frame)
}
