//! Pairing this endpoint with a lock through a blind gateway (PROTOCOL.md §7): with the
//! label code while the lock's button has it in pairing mode (the first endpoint becomes
//! admin), or with an invite code from an admin. The endpoint's key is its own; what the lock
//! grants is stored in the key store only once the lock's confirmation has verified.

use crate::advice::Stage;
use crate::error::Error;
use crate::progress::Progress;
use crate::relay::Relay;
use crate::store::{KeyStore, LockRecord};
use crate::Settings;
use lockgate_e2e::endpoint::PairingError;
use lockgate_e2e::{EndpointPairing, PairedLock, PairingStep, SetupCode};
use lockgate_wire::{LockId, Topics};

/// What to pair with, and how.
#[derive(Debug, Clone)]
pub struct PairRequest {
    /// The gateway id the lock is reached through.
    pub gateway: String,
    /// The gateway's base topic, when it is not `lockgate/<gateway>`.
    pub base_topic: Option<String>,
    /// The lock.
    pub lock: LockId,
    /// The label code or the invite code.
    pub code: SetupCode,
    /// This endpoint's name on the lock (sent in clear: no secrets in it).
    pub name: String,
}

impl PairRequest {
    /// The step the lock may refuse, for wording its refusals.
    pub fn stage(&self) -> Stage {
        match self.code {
            SetupCode::Label(_) => Stage::LabelPairing,
            SetupCode::Invite(_) => Stage::InvitePairing,
        }
    }
}

/// The topics of `gateway`: under `base` if given, else under `lockgate/<gateway>`.
pub fn gateway_topics(gateway: &str, base: Option<&str>) -> Result<Topics, Error> {
    let topics = match base {
        Some(base) => Topics::new(base),
        None => Topics::for_gateway(gateway),
    };
    topics.map_err(|e| Error::Usage(format!("gateway {gateway:?}: {e}")))
}

/// Pairs with the lock of `request` and stores the result; returns the stored record.
pub async fn pair(
    store: &KeyStore,
    settings: &Settings,
    request: &PairRequest,
    progress: &dyn Progress,
) -> Result<LockRecord, Error> {
    let topics = gateway_topics(&request.gateway, request.base_topic.as_deref())?;
    if !lockgate_e2e::command::is_valid_name(&request.name) {
        return Err(Error::Usage(format!(
            "the name {:?} must be 1 to 32 bytes without control characters (--name)",
            request.name
        )));
    }
    let key = store.identity()?;
    let claim = store.claim(request.lock)?;
    let previous = claim.load()?;
    let mut relay =
        Relay::connect(settings, &request.gateway, &topics, request.lock, progress).await?;
    let paired = run(&mut relay, &key, request, progress).await;
    let paired = match paired {
        Ok(p) => p,
        Err(e) => {
            relay.close().await;
            return Err(e);
        }
    };
    progress.step("saving the lock's keys");
    if let Some(old) = previous.filter(|old| old.auth_id != paired.auth_id) {
        log::warn!(
            "lock {} gave a new authorization id ({} instead of {}): it was reset or the \
             old authorization revoked",
            request.lock,
            paired.auth_id,
            old.auth_id
        );
    }
    let record = LockRecord::new(paired, &request.gateway, topics.base(), &request.name);
    claim.save(&record)?;
    relay.close().await;
    Ok(record)
}

/// The exchange itself: `PairStart` → `PairReply`, `PairConfirm` → `PairDone`.
async fn run(
    relay: &mut Relay,
    key: &lockgate_e2e::StaticSecret,
    request: &PairRequest,
    progress: &dyn Progress,
) -> Result<PairedLock, Error> {
    let stage = request.stage();
    let lock = request.lock;
    let (mut pairing, start) =
        EndpointPairing::start(key, lock, &request.name, &request.code, rand_core::OsRng)
            .map_err(|e| Error::Usage(e.to_string()))?;
    let pairing_id = pairing.pairing_id();
    relay.listen(pairing_id).await?;
    progress.step(&format!("exchanging keys with lock {lock}"));
    let mut tampered = false;
    let reply = relay
        .exchange(start, pairing_id, |f| {
            handle(&mut pairing, f, (lock, stage), &mut tampered)
        })
        .await;
    let confirm = match reply {
        Ok(PairingStep::Send(confirm)) => confirm,
        Ok(PairingStep::Paired(_)) => {
            return Err(unexpected(lock, "pairing done before confirming"))
        }
        Err(e @ Error::WrongCode { .. }) => {
            // Tell the lock to drop the attempt now; the error stands either way.
            let _ = relay.send(pairing.abort_frame()).await;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    progress.step(&format!("confirming with lock {lock}"));
    let done = relay
        .exchange(confirm, pairing_id, |f| {
            handle(&mut pairing, f, (lock, stage), &mut tampered)
        })
        .await;
    match done {
        Ok(PairingStep::Paired(paired)) => Ok(paired),
        Ok(PairingStep::Send(_)) => Err(unexpected(lock, "a second pairing reply")),
        Err(Error::NoAnswer { .. }) if tampered => Err(Error::Tampered(lock)),
        Err(e) => Err(e),
    }
}

/// What a frame from the lock means for the exchange; `None` to keep waiting.
fn handle(
    pairing: &mut EndpointPairing,
    frame: &[u8],
    (lock, stage): (LockId, Stage),
    tampered: &mut bool,
) -> Option<Result<PairingStep, Error>> {
    match pairing.handle(frame) {
        Ok(step) => Some(Ok(step)),
        Err(PairingError::Refused(code)) => Some(Err(Error::Refused {
            code,
            stage,
            authenticated: false,
        })),
        Err(PairingError::WrongCodeOrLock) => Some(Err(Error::WrongCode { stage })),
        // A weak key from the lock: only tampering gives one.
        Err(PairingError::Key(_)) => Some(Err(Error::Tampered(lock))),
        Err(PairingError::ConfirmationFailed) => {
            // Ignored (a relay may inject frames), but remembered for the timeout's message.
            *tampered = true;
            None
        }
        Err(
            PairingError::NotForUs
            | PairingError::UnexpectedStep(_)
            | PairingError::Malformed(_)
            | PairingError::InvalidName,
        ) => None,
    }
}

fn unexpected(lock: LockId, what: &str) -> Error {
    Error::Unexpected {
        lock,
        what: what.to_owned(),
    }
}
