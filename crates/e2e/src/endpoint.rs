//! The endpoint side: pairing with a lock and the session that follows.
//!
//! Pure: no I/O, no clock. The caller moves frames (through the gateway and the broker) and
//! stores [`PairedLock`], the endpoint's secret key and the [`ChannelState`] it is told to
//! persist.

use crate::codec::DecodeError;
use crate::command::{Grant, Request, Response};
use crate::error_code::ErrorCode;
use crate::event::{Event, EVENT_TAG};
use crate::keys::{KeyError, PublicKey, SessionKey, StaticSecret};
use crate::pairing::{
    macs_equal, spake_start, transcript, valid_spake_message, BoundKeys, CodeKind, PairConfirm,
    PairDone, PairGrant, PairReply, PairStart, PairingKeys, Step, SPAKE_MSG_LEN,
};
use crate::session::{Channel, ChannelState, Direction, Sealed, SessionError};
use crate::setup_code::SetupCode;
use lockgate_wire::envelope::{build_frame, Header, Kind, PAIRING_ID_FLAG};
use lockgate_wire::LockId;
use rand_core::{CryptoRng, RngCore};
use spake2::{Ed25519Group, Spake2};
use thiserror::Error;

/// Why pairing failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PairingError {
    /// The lock refused, with a code (unauthenticated: shown, not trusted).
    #[error("the lock refused pairing: {0}")]
    Refused(ErrorCode),
    /// The frame belongs to another exchange; ignore it.
    #[error("frame is not part of this pairing")]
    NotForUs,
    /// A message arrived out of order.
    #[error("unexpected pairing message {0}")]
    UnexpectedStep(u64),
    /// A message could not be parsed.
    #[error("malformed pairing message: {0}")]
    Malformed(#[from] DecodeError),
    /// The lock's reply did not decrypt: wrong code, wrong lock, or tampering.
    #[error(
        "pairing failed: the code is wrong, it is another lock, or the exchange was tampered with"
    )]
    WrongCodeOrLock,
    /// The lock's final confirmation did not verify.
    #[error("the lock's confirmation did not verify: the exchange was tampered with")]
    ConfirmationFailed,
    /// A key was unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The endpoint name is empty, too long or has control characters.
    #[error("the endpoint name must be 1 to 32 bytes without control characters")]
    InvalidName,
}

/// What the endpoint knows about a lock after pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedLock {
    /// The lock.
    pub lock_id: LockId,
    /// The lock's static public key.
    pub lock_key: PublicKey,
    /// This endpoint's authorization id on the lock.
    pub auth_id: u32,
    /// What the lock granted.
    pub grant: Grant,
    /// The session key of this authorization (secret: store it like the endpoint's key).
    pub session_key: SessionKey,
}

/// The next thing to do after handling a pairing frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingStep {
    /// Send this frame to the lock.
    Send(Vec<u8>),
    /// Paired: store this (and the endpoint key) durably.
    Paired(PairedLock),
}

enum Stage {
    AwaitReply {
        spake: Box<Spake2<Ed25519Group>>,
        msg_a: [u8; SPAKE_MSG_LEN],
    },
    AwaitDone(Box<Confirmed>),
    Finished,
}

/// What the endpoint holds after sending `PairConfirm`.
struct Confirmed {
    keys: PairingKeys,
    bound: BoundKeys,
    transcript: [u8; 32],
    lock_key: PublicKey,
    confirm_frame: Vec<u8>,
}

/// An endpoint's pairing exchange with one lock.
pub struct EndpointPairing {
    key: StaticSecret,
    lock_id: LockId,
    pairing_id: u32,
    start_body: Vec<u8>,
    stage: Stage,
}

impl std::fmt::Debug for EndpointPairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPairing")
            .field("lock_id", &self.lock_id)
            .field("pairing_id", &self.pairing_id)
            .finish_non_exhaustive()
    }
}

impl EndpointPairing {
    /// Starts pairing `key` with `lock_id` using `code`; returns the first frame to send.
    pub fn start(
        key: &StaticSecret,
        lock_id: LockId,
        name: &str,
        code: &SetupCode,
        mut rng: impl RngCore + CryptoRng,
    ) -> Result<(Self, Vec<u8>), PairingError> {
        if !crate::command::is_valid_name(name) {
            return Err(PairingError::InvalidName);
        }
        let pairing_id = PAIRING_ID_FLAG | rng.next_u32();
        let (code_kind, invite_id) = match code {
            SetupCode::Label(_) => (CodeKind::Label, 0),
            SetupCode::Invite(c) => (CodeKind::Invite, c.id()),
        };
        let (spake, msg) = spake_start(true, &code.password(), name, &lock_id, &mut rng);
        let start_body = PairStart {
            code_kind,
            invite_id,
            name: name.to_owned(),
            spake: msg,
        }
        .encode();
        let frame = pairing_frame(pairing_id, Step::Start, &start_body);
        let pairing = EndpointPairing {
            key: key.clone(),
            lock_id,
            pairing_id,
            start_body,
            stage: Stage::AwaitReply {
                spake: Box::new(spake),
                msg_a: msg,
            },
        };
        Ok((pairing, frame))
    }

    /// The pairing id: the lock's answers arrive on `up/<pairing id>`.
    pub fn pairing_id(&self) -> u32 {
        self.pairing_id
    }

    /// Handles a frame from the lock.
    pub fn handle(&mut self, frame: &[u8]) -> Result<PairingStep, PairingError> {
        let (header, body) = Header::parse(frame).map_err(|_| PairingError::NotForUs)?;
        if header.auth_id != self.pairing_id {
            return Err(PairingError::NotForUs);
        }
        match header.kind {
            Kind::Error => {
                let code = body.first().and_then(|&b| ErrorCode::from_u8(b));
                Err(PairingError::Refused(code.unwrap_or(ErrorCode::Malformed)))
            }
            Kind::Session => Err(PairingError::NotForUs),
            Kind::Pairing => match Step::from_counter(header.counter) {
                Some(Step::Reply) => self.on_reply(body),
                Some(Step::Done) => self.on_done(body),
                _ => Err(PairingError::UnexpectedStep(header.counter)),
            },
        }
    }

    fn on_reply(&mut self, body: &[u8]) -> Result<PairingStep, PairingError> {
        let reply = PairReply::decode(body)?;
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        let Stage::AwaitReply { spake, msg_a } = stage else {
            self.stage = stage;
            return Err(PairingError::UnexpectedStep(Step::Reply as u64));
        };
        if !valid_spake_message(&reply.spake, false, &msg_a) {
            self.stage = Stage::AwaitReply { spake, msg_a };
            return Err(PairingError::Malformed(DecodeError::InvalidValue {
                field: "spake2 message",
                value: 0,
            }));
        }
        let spake_key = spake
            .finish(&reply.spake)
            .map_err(|_| PairingError::WrongCodeOrLock)?;
        let keys = PairingKeys::derive(&spake_key);
        let lock_key = keys
            .open(Step::Reply, &reply.sealed_lock_key)
            .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
            .map(PublicKey)
            .ok_or(PairingError::WrongCodeOrLock)?;
        let bound = keys.bind(&self.key.box_key(&lock_key)?);
        let my_key = self.key.public_key();
        let transcript = transcript(
            self.pairing_id,
            &self.lock_id,
            &self.start_body,
            &reply.spake,
            &lock_key,
            &my_key,
        );
        let confirm = PairConfirm {
            sealed_endpoint_key: keys.seal(Step::Confirm, my_key.as_bytes()),
            confirm: bound.endpoint_confirmation(&transcript),
        };
        let confirm_frame = pairing_frame(self.pairing_id, Step::Confirm, &confirm.encode());
        self.stage = Stage::AwaitDone(Box::new(Confirmed {
            keys,
            bound,
            transcript,
            lock_key,
            confirm_frame: confirm_frame.clone(),
        }));
        Ok(PairingStep::Send(confirm_frame))
    }

    fn on_done(&mut self, body: &[u8]) -> Result<PairingStep, PairingError> {
        let done = PairDone::decode(body)?;
        let Stage::AwaitDone(c) = &self.stage else {
            return Err(PairingError::UnexpectedStep(Step::Done as u64));
        };
        let grant_bytes = c
            .keys
            .open(Step::Done, &done.sealed_grant)
            .ok_or(PairingError::ConfirmationFailed)?;
        if !macs_equal(
            &c.bound.lock_confirmation(&c.transcript, &grant_bytes),
            &done.confirm,
        ) {
            return Err(PairingError::ConfirmationFailed);
        }
        let granted = PairGrant::decode(&grant_bytes)?;
        let paired = PairedLock {
            lock_id: self.lock_id,
            lock_key: c.lock_key,
            auth_id: granted.auth_id,
            grant: granted.grant,
            session_key: c.bound.session_key.clone(),
        };
        self.stage = Stage::Finished;
        Ok(PairingStep::Paired(paired))
    }

    /// A `PairAbort` frame: tells the lock to drop this attempt now (send it after a
    /// [`PairingError::WrongCodeOrLock`], or when the user cancels).
    pub fn abort_frame(&self) -> Vec<u8> {
        pairing_frame(self.pairing_id, Step::Abort, &[])
    }

    /// The last frame sent, to retransmit if no answer came (`None` once finished).
    pub fn retransmission(&self) -> Option<Vec<u8>> {
        match &self.stage {
            Stage::AwaitReply { .. } => Some(pairing_frame(
                self.pairing_id,
                Step::Start,
                &self.start_body,
            )),
            Stage::AwaitDone(c) => Some(c.confirm_frame.clone()),
            Stage::Finished => None,
        }
    }
}

pub(crate) fn pairing_frame(pairing_id: u32, step: Step, body: &[u8]) -> Vec<u8> {
    let header = Header {
        kind: Kind::Pairing,
        auth_id: pairing_id,
        counter: step as u64,
    };
    build_frame(&header, body)
}

/// A frame received by an endpoint session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An authenticated response.
    Response(Response),
    /// An authenticated state event (the endpoint subscribed with
    /// [`Request::Subscribe`](crate::command::Request::Subscribe)).
    Event(Event),
    /// A cleartext refusal of the request with this counter. Unauthenticated: a relay could
    /// have forged it, so show it, but do not treat it as proof of anything.
    Refused {
        /// The counter of the refused request.
        counter: u64,
        /// Why.
        code: ErrorCode,
    },
}

/// Why a received frame was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiveError {
    /// Not addressed to this session.
    #[error("frame is not for this session")]
    NotForUs,
    /// Refused by the session layer (replay, authentication).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Authenticated but not a valid response or event.
    #[error("malformed response: {0}")]
    Malformed(#[from] DecodeError),
}

/// An endpoint's session with one paired lock.
#[derive(Debug)]
pub struct EndpointSession {
    lock: PairedLock,
    channel: Channel,
}

impl EndpointSession {
    /// Opens the session, resuming from the persisted `state` (the default right after
    /// pairing).
    pub fn new(lock: PairedLock, state: ChannelState) -> Self {
        let channel = Channel::new(
            &lock.session_key,
            lock.auth_id,
            Direction::EndpointToLock,
            state,
        );
        EndpointSession { lock, channel }
    }

    /// The paired lock.
    pub fn lock(&self) -> &PairedLock {
        &self.lock
    }

    /// Seals a request. If `persist` is set, store it before sending the frame.
    pub fn request(&mut self, request: &Request) -> Result<Sealed, SessionError> {
        self.channel.seal(&request.encode())
    }

    /// Handles a frame from the lock.
    pub fn receive(&mut self, frame: &[u8]) -> Result<Incoming, ReceiveError> {
        let (header, body) = Header::parse(frame).map_err(|_| ReceiveError::NotForUs)?;
        if header.auth_id != self.lock.auth_id {
            return Err(ReceiveError::NotForUs);
        }
        match header.kind {
            Kind::Error => Ok(Incoming::Refused {
                counter: header.counter,
                code: body
                    .first()
                    .and_then(|&b| ErrorCode::from_u8(b))
                    .unwrap_or(ErrorCode::Malformed),
            }),
            Kind::Pairing => Err(ReceiveError::NotForUs),
            Kind::Session => {
                let plaintext = self.channel.open(&header, body)?;
                if plaintext.first() == Some(&EVENT_TAG) {
                    return Ok(Incoming::Event(Event::decode(&plaintext)?));
                }
                Ok(Incoming::Response(Response::decode(&plaintext)?))
            }
        }
    }

    /// The state to persist (also returned by [`request`](Self::request) when needed).
    pub fn state(&self) -> ChannelState {
        self.channel.state()
    }
}
