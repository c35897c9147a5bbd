//! A session with one paired lock (PROTOCOL.md §8, §9): status, actuations (each with a fresh
//! challenge from the lock), users, invites, the lock's clock.
//!
//! The lock is claimed in the key store for the client's lifetime, so no other process sends
//! under the same counters. A counter reservation is stored before the frame that uses it is
//! sent; the replay window's top is stored when the client closes.

use crate::advice::Stage;
use crate::error::Error;
use crate::pairing::gateway_topics;
use crate::progress::Progress;
use crate::relay::Relay;
use crate::store::{KeyStore, LockClaim, LockRecord};
use crate::Settings;
use lockgate_e2e::command::{AuthEntry, LockStatus};
use lockgate_e2e::endpoint::ReceiveError;
use lockgate_e2e::{
    Action, EndpointSession, Grant, Incoming, InviteCode, MechanismState, Request, ResponseBody,
};
use lockgate_wire::LockId;

/// A connected session with one paired lock.
#[derive(Debug)]
pub struct LockClient {
    relay: Relay,
    session: EndpointSession,
    record: LockRecord,
    claim: LockClaim,
}

/// A new invite.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The code to hand to the invitee (a secret until used).
    pub code: InviteCode,
    /// Seconds until the lock deletes it.
    pub expires_in_secs: u32,
}

/// The kind of an answer, for messages (never its contents: they may hold keys or codes).
fn answer_kind(body: &ResponseBody) -> &'static str {
    match body {
        ResponseBody::Status(_) => "status",
        ResponseBody::Challenge { .. } => "challenge",
        ResponseBody::Actuation(_) => "actuation",
        ResponseBody::InviteCreated { .. } => "invite",
        ResponseBody::AuthList(_) => "user list",
        ResponseBody::Done => "done",
        ResponseBody::Subscribed { .. } => "subscription",
    }
}

impl LockClient {
    /// Claims `lock` in `store` and connects to it through the gateway it was paired through.
    pub async fn open(
        store: &KeyStore,
        settings: &Settings,
        lock: LockId,
        progress: &dyn Progress,
    ) -> Result<LockClient, Error> {
        let claim = store.claim(lock)?;
        let record = claim.load()?.ok_or(Error::NotPaired(lock))?;
        let topics = gateway_topics(&record.gateway, Some(&record.base_topic))?;
        let mut relay = Relay::connect(settings, &record.gateway, &topics, lock, progress).await?;
        relay.listen(record.auth_id).await?;
        let session = EndpointSession::new(record.paired_lock(), record.channel);
        Ok(LockClient {
            relay,
            session,
            record,
            claim,
        })
    }

    /// What the key store holds about the lock.
    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    /// Sends `request` and returns the lock's successful answer; a refusal is
    /// [`Error::Refused`].
    pub async fn request(&mut self, request: &Request) -> Result<ResponseBody, Error> {
        let lock = self.record.lock;
        let sealed = self.session.request(request).map_err(|e| Error::Refused {
            code: match e {
                lockgate_e2e::session::SessionError::CounterExhausted => {
                    lockgate_e2e::ErrorCode::CounterExhausted
                }
                _ => lockgate_e2e::ErrorCode::Malformed,
            },
            stage: Stage::Session,
            authenticated: true,
        })?;
        if let Some(state) = sealed.persist {
            self.record.channel = state;
            self.claim.save(&self.record)?;
        }
        let counter = sealed.counter;
        let session = &mut self.session;
        let answer = self
            .relay
            .exchange(sealed.frame, self.record.auth_id, |frame| {
                match session.receive(frame) {
                    Ok(Incoming::Response(r)) if r.in_reply_to == counter => {
                        Some(r.result.map_err(|code| Error::Refused {
                            code,
                            stage: Stage::Session,
                            authenticated: true,
                        }))
                    }
                    Ok(Incoming::Refused { counter: c, code }) if c == counter => {
                        Some(Err(Error::Refused {
                            code,
                            stage: Stage::Session,
                            authenticated: false,
                        }))
                    }
                    Ok(_) => None,
                    Err(ReceiveError::Malformed(e)) => Some(Err(Error::Unexpected {
                        lock,
                        what: e.to_string(),
                    })),
                    // Copies (at-least-once delivery), other sessions' frames, forgeries.
                    Err(_) => None,
                }
            })
            .await;
        self.record.channel.rx_top = self.session.state().rx_top;
        answer
    }

    /// The lock's status.
    pub async fn status(&mut self) -> Result<LockStatus, Error> {
        match self.request(&Request::Status).await? {
            ResponseBody::Status(status) => Ok(status),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Locks, unlocks or unlatches, with a fresh challenge; the mechanism right after.
    pub async fn actuate(&mut self, action: Action) -> Result<MechanismState, Error> {
        let challenge = match self.request(&Request::Challenge).await? {
            ResponseBody::Challenge { challenge, .. } => challenge,
            other => return Err(self.unexpected(&other)),
        };
        match self
            .request(&Request::Actuate { action, challenge })
            .await?
        {
            ResponseBody::Actuation(state) => Ok(state),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The lock's authorizations (admins only).
    pub async fn users(&mut self) -> Result<Vec<AuthEntry>, Error> {
        match self.request(&Request::AuthList).await? {
            ResponseBody::AuthList(entries) => Ok(entries),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks the lock for an invite granting `grant`, usable for `ttl_secs` (0: the lock's
    /// default, 48 h). A time-limited grant needs the lock's clock: if it is not set, it is
    /// set from this computer's clock first.
    pub async fn invite(
        &mut self,
        grant: Grant,
        ttl_secs: u32,
        progress: &dyn Progress,
    ) -> Result<Invite, Error> {
        let request = Request::InviteCreate { grant, ttl_secs };
        let answer = match self.request(&request).await {
            Err(Error::Refused {
                code: lockgate_e2e::ErrorCode::ClockNotSet,
                authenticated: true,
                ..
            }) => {
                progress.step("setting the lock's clock");
                self.set_time().await?;
                self.request(&request).await?
            }
            other => other?,
        };
        match answer {
            ResponseBody::InviteCreated {
                code,
                expires_in_secs,
            } => Ok(Invite {
                code,
                expires_in_secs,
            }),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Revokes authorization `id` (admins only). Revoking this endpoint's own authorization
    /// also forgets the lock here.
    pub async fn revoke(&mut self, id: u32) -> Result<(), Error> {
        self.request(&Request::AuthRevoke { id }).await?;
        if id == self.record.auth_id {
            self.claim.remove()?;
        }
        Ok(())
    }

    /// Renames authorization `id` (admins; a user only itself).
    pub async fn rename(&mut self, id: u32, name: &str) -> Result<(), Error> {
        if !lockgate_e2e::command::is_valid_name(name) {
            return Err(Error::Usage(format!(
                "the name {name:?} must be 1 to 32 bytes without control characters"
            )));
        }
        let name = name.to_owned();
        self.request(&Request::AuthRename { id, name }).await?;
        Ok(())
    }

    /// Sets the lock's clock from this computer's (admins only).
    pub async fn set_time(&mut self) -> Result<(), Error> {
        let unix_ms = crate::unix_now_ms();
        self.request(&Request::SetTime { unix_ms }).await?;
        Ok(())
    }

    fn unexpected(&self, body: &ResponseBody) -> Error {
        Error::Unexpected {
            lock: self.record.lock,
            what: format!("a {} answer", answer_kind(body)),
        }
    }

    /// Stores the session's state and disconnects.
    pub async fn close(self) -> Result<(), Error> {
        let LockClient {
            relay,
            record,
            claim,
            ..
        } = self;
        let stored = match claim.load()? {
            Some(_) => claim.save(&record),
            None => Ok(()), // revoked itself: forgotten
        };
        relay.close().await;
        Ok(stored?)
    }
}
