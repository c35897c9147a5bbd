//! The lock side of pairing: checks the code's eligibility (window or invite), answers
//! `PairStart` with `PairReply`, verifies `PairConfirm`, enrolls the endpoint and answers with
//! `PairDone`. Attempts are charged at `PairStart` (see `window.rs` for why).

use super::auth::{AuthRecord, Authorization, MAX_AUTHORIZATIONS, MAX_INVITE_FAILURES};
use super::{refuse, Effect, LockMachine, Output, WindowClosed};
use crate::command::{Grant, Role};
use crate::endpoint::pairing_frame;
use crate::error_code::ErrorCode;
use crate::keys::{PublicKey, SessionKey};
use crate::pairing::{
    macs_equal, spake_start, transcript, valid_spake_message, CodeKind, PairConfirm, PairDone,
    PairGrant, PairReply, PairStart, PairingKeys, Step,
};
use crate::session::ChannelState;
use lockgate_wire::envelope::{is_pairing_id, Header};
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Most pairing attempts in progress at once.
pub const MAX_PENDING_PAIRINGS: usize = 4;
/// Most finished exchanges remembered for retransmissions.
const MAX_COMPLETED_PAIRINGS: usize = 8;
/// Highest authorization id.
const MAX_AUTH_ID: u32 = 0x7FFF_FFFF;

/// An attempt waiting for `PairConfirm`.
pub(super) struct Pending {
    keys: PairingKeys,
    code_kind: CodeKind,
    invite_id: u16,
    name: String,
    start_body: Vec<u8>,
    spake_b: [u8; crate::pairing::SPAKE_MSG_LEN],
    started: u64,
    reply_frame: Vec<u8>,
}

/// A finished attempt, kept briefly so a retransmitted `PairConfirm` gets the same answer.
pub(super) struct Completed {
    confirm_body: Vec<u8>,
    done_frame: Vec<u8>,
    started: u64,
}

/// Attempts in progress and recently finished.
#[derive(Default)]
pub(super) struct Pairings {
    pending: BTreeMap<u32, Pending>,
    completed: BTreeMap<u32, Completed>,
}

impl Pairings {
    pub(super) fn deadline(&self, timeout_ms: u64) -> Option<u64> {
        let pending = self.pending.values().map(|p| p.started);
        let completed = self.completed.values().map(|c| c.started);
        pending
            .chain(completed)
            .min()
            .map(|t| t.saturating_add(timeout_ms))
    }
}

impl<R: RngCore + CryptoRng> LockMachine<R> {
    pub(super) fn on_pairing(&mut self, now: u64, header: &Header, body: &[u8], out: &mut Output) {
        if !is_pairing_id(header.auth_id) {
            out.effects
                .push(Effect::Dropped(super::DropReason::UnexpectedFrame));
            return;
        }
        match Step::from_counter(header.counter) {
            Some(Step::Start) => self.on_pair_start(now, header, body, out),
            Some(Step::Confirm) => self.on_pair_confirm(now, header, body, out),
            Some(Step::Abort) if body.is_empty() => {
                // The attempt stays charged: its guess was tested.
                if let Some(p) = self.pairings.pending.remove(&header.auth_id) {
                    self.pairing_failed(header.auth_id, &p, ErrorCode::PairingFailed, out);
                }
            }
            _ => refuse(out, header, ErrorCode::Malformed),
        }
    }

    /// The password for `start`, if the code it names may be tried now.
    fn eligible_password(
        &mut self,
        now: u64,
        start: &PairStart,
    ) -> Result<Zeroizing<Vec<u8>>, ErrorCode> {
        match start.code_kind {
            CodeKind::Label => {
                if !self.window.is_open(now) {
                    return Err(ErrorCode::NotInPairingMode);
                }
                Ok(self.label.password())
            }
            CodeKind::Invite => {
                let pos = self
                    .invites
                    .iter()
                    .position(|i| i.id == start.invite_id)
                    .ok_or(ErrorCode::InviteUnknown)?;
                if now > self.invites[pos].expires_at {
                    self.invites.remove(pos);
                    return Err(ErrorCode::InviteExpired);
                }
                let code = self.invites[pos].code().ok_or(ErrorCode::InviteUnknown)?;
                Ok(code.password())
            }
        }
    }

    /// Charges one attempt against the window or the invite.
    fn charge(&mut self, now: u64, start: &PairStart, out: &mut Output) -> Result<(), ErrorCode> {
        match start.code_kind {
            CodeKind::Label => self.window.charge(now),
            CodeKind::Invite => {
                let invite = self
                    .invites
                    .iter_mut()
                    .find(|i| i.id == start.invite_id)
                    .ok_or(ErrorCode::InviteUnknown)?;
                if invite.failures >= MAX_INVITE_FAILURES {
                    return Err(ErrorCode::TooManyAttempts);
                }
                invite.failures += 1;
                out.persist = true;
                Ok(())
            }
        }
    }

    fn on_pair_start(&mut self, now: u64, header: &Header, body: &[u8], out: &mut Output) {
        let pid = header.auth_id;
        if let Some(p) = self.pairings.pending.get(&pid) {
            // A retransmitted start gets the same reply; anything else under this id is refused.
            match p.start_body == body {
                true => out.frames.push(p.reply_frame.clone()),
                false => refuse(out, header, ErrorCode::PairingBusy),
            }
            return;
        }
        if let Err(code) = self.start_pairing(now, pid, body, out) {
            refuse(out, header, code);
            out.effects.push(Effect::PairingFailed {
                pairing_id: pid,
                code,
            });
        }
    }

    fn start_pairing(
        &mut self,
        now: u64,
        pid: u32,
        body: &[u8],
        out: &mut Output,
    ) -> Result<(), ErrorCode> {
        let start = PairStart::decode(body).map_err(|_| ErrorCode::Malformed)?;
        if self.pairings.pending.len() >= MAX_PENDING_PAIRINGS {
            return Err(ErrorCode::PairingBusy);
        }
        let password = self.eligible_password(now, &start)?;
        let (spake, spake_b) =
            spake_start(false, &password, &start.name, &self.lock_id, &mut self.rng);
        if !valid_spake_message(&start.spake, true, &spake_b) {
            return Err(ErrorCode::Malformed);
        }
        let spake_key = Zeroizing::new(
            spake
                .finish(&start.spake)
                .map_err(|_| ErrorCode::Malformed)?,
        );
        self.charge(now, &start, out)?;
        let keys = PairingKeys::derive(&spake_key);
        let reply = PairReply {
            spake: spake_b,
            sealed_lock_key: keys.seal(Step::Reply, self.key.public_key().as_bytes()),
        };
        let reply_frame = pairing_frame(pid, Step::Reply, &reply.encode());
        out.frames.push(reply_frame.clone());
        self.pairings.pending.insert(
            pid,
            Pending {
                keys,
                code_kind: start.code_kind,
                invite_id: start.invite_id,
                name: start.name,
                start_body: body.to_vec(),
                spake_b,
                started: now,
                reply_frame,
            },
        );
        Ok(())
    }

    fn on_pair_confirm(&mut self, now: u64, header: &Header, body: &[u8], out: &mut Output) {
        let pid = header.auth_id;
        if let Some(done) = self.pairings.completed.get(&pid) {
            match done.confirm_body == body {
                true => out.frames.push(done.done_frame.clone()),
                false => refuse(out, header, ErrorCode::PairingFailed),
            }
            return;
        }
        let Some(pending) = self.pairings.pending.remove(&pid) else {
            refuse(out, header, ErrorCode::PairingUnknown);
            return;
        };
        match self.finish_pairing(now, pid, &pending, body, out) {
            Ok(()) => {}
            Err(code) => {
                refuse(out, header, code);
                self.pairing_failed(pid, &pending, code, out);
            }
        }
    }

    fn finish_pairing(
        &mut self,
        now: u64,
        pid: u32,
        p: &Pending,
        body: &[u8],
        out: &mut Output,
    ) -> Result<(), ErrorCode> {
        if p.code_kind == CodeKind::Label && !self.window.is_open(now) {
            // The window closed since PairStart (timeout, button, budget, another pairing).
            return Err(ErrorCode::NotInPairingMode);
        }
        let confirm = PairConfirm::decode(body).map_err(|_| ErrorCode::Malformed)?;
        let endpoint_key = p
            .keys
            .open(Step::Confirm, &confirm.sealed_endpoint_key)
            .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
            .map(PublicKey)
            .ok_or(ErrorCode::PairingFailed)?;
        let lock_key = self.key.public_key();
        let t = transcript(
            pid,
            &self.lock_id,
            &p.start_body,
            &p.spake_b,
            &lock_key,
            &endpoint_key,
        );
        let box_key = self
            .key
            .box_key(&endpoint_key)
            .map_err(|_| ErrorCode::InvalidArgument)?;
        let bound = p.keys.bind(&box_key);
        if !macs_equal(&bound.endpoint_confirmation(&t), &confirm.confirm) {
            return Err(ErrorCode::PairingFailed);
        }
        let granted = self.enroll(p, endpoint_key, bound.session_key.clone())?;
        let grant_bytes = granted.encode();
        let done = PairDone {
            sealed_grant: p.keys.seal(Step::Done, &grant_bytes),
            confirm: bound.lock_confirmation(&t, &grant_bytes),
        };
        let done_frame = pairing_frame(pid, Step::Done, &done.encode());
        out.frames.push(done_frame.clone());
        out.persist = true;
        if self.pairings.completed.len() >= MAX_COMPLETED_PAIRINGS {
            let oldest = self
                .pairings
                .completed
                .iter()
                .min_by_key(|(_, c)| c.started);
            if let Some(&pid) = oldest.map(|(pid, _)| pid) {
                self.pairings.completed.remove(&pid);
            }
        }
        self.pairings.completed.insert(
            pid,
            Completed {
                confirm_body: body.to_vec(),
                done_frame,
                started: now,
            },
        );
        out.effects.push(Effect::Paired {
            auth_id: granted.auth_id,
            role: granted.grant.role,
            name: p.name.clone(),
        });
        match p.code_kind {
            CodeKind::Label => {
                // One press of the button admits one endpoint.
                self.window.close();
                out.effects
                    .push(Effect::PairingWindowClosed(WindowClosed::Paired));
            }
            CodeKind::Invite => self.invites.retain(|i| i.id != p.invite_id),
        }
        Ok(())
    }

    /// Adds the endpoint. If this key is already enrolled (the endpoint proved it holds the
    /// key's secret), its authorization keeps its id and name, takes the new session key with
    /// fresh counters and no challenges, and, for an invite, the invite's grant.
    fn enroll(
        &mut self,
        p: &Pending,
        key: PublicKey,
        session_key: SessionKey,
    ) -> Result<PairGrant, ErrorCode> {
        let invite_grant = self
            .invites
            .iter()
            .find(|i| i.id == p.invite_id)
            .map(|i| i.grant);
        if p.code_kind == CodeKind::Invite && invite_grant.is_none() {
            return Err(ErrorCode::InviteUnknown);
        }
        let admins = self
            .auths
            .values()
            .filter(|a| a.record.grant.role == Role::Admin)
            .count();
        if let Some(a) = self.auths.values_mut().find(|a| a.record.public_key == key) {
            let grant = invite_grant.unwrap_or(a.record.grant);
            let demotes_last_admin =
                a.record.grant.role == Role::Admin && grant.role != Role::Admin && admins == 1;
            if demotes_last_admin {
                return Err(ErrorCode::LastAdmin);
            }
            let record = AuthRecord {
                session_key,
                grant,
                channel: ChannelState::default(),
                ..a.record.clone()
            };
            *a = Authorization::new(record);
            return Ok(PairGrant {
                auth_id: a.record.id,
                grant,
            });
        }
        if self.auths.len() >= MAX_AUTHORIZATIONS || self.next_auth_id > MAX_AUTH_ID {
            return Err(ErrorCode::AuthorizationsFull);
        }
        let grant = match p.code_kind {
            CodeKind::Label => {
                let has_admin = self
                    .auths
                    .values()
                    .any(|a| a.record.grant.role == Role::Admin);
                Grant::unlimited(if has_admin { Role::User } else { Role::Admin })
            }
            CodeKind::Invite => invite_grant.ok_or(ErrorCode::InviteUnknown)?,
        };
        let record = AuthRecord {
            id: self.next_auth_id,
            name: p.name.clone(),
            grant,
            public_key: key,
            session_key,
            channel: ChannelState::default(),
        };
        let auth_id = self.next_auth_id;
        self.auths.insert(auth_id, Authorization::new(record));
        self.next_auth_id += 1;
        Ok(PairGrant { auth_id, grant })
    }

    fn pairing_failed(&mut self, pid: u32, p: &Pending, code: ErrorCode, out: &mut Output) {
        out.effects.push(Effect::PairingFailed {
            pairing_id: pid,
            code,
        });
        match p.code_kind {
            CodeKind::Label => {
                if let Some(reason) = self.window.after_failure() {
                    out.effects.push(Effect::PairingWindowClosed(reason));
                }
            }
            CodeKind::Invite => {
                let burned = self
                    .invites
                    .iter()
                    .any(|i| i.id == p.invite_id && i.failures >= MAX_INVITE_FAILURES);
                if burned {
                    self.invites.retain(|i| i.id != p.invite_id);
                    out.persist = true;
                    out.effects.push(Effect::InviteBurned {
                        invite_id: p.invite_id,
                    });
                }
            }
        }
    }

    pub(super) fn expire_pairings(&mut self, now: u64, out: &mut Output) {
        let timeout = self.config.pairing_step_timeout_ms;
        let expired: Vec<u32> = self
            .pairings
            .pending
            .iter()
            .filter(|(_, p)| now >= p.started.saturating_add(timeout))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in expired {
            if let Some(p) = self.pairings.pending.remove(&pid) {
                self.pairing_failed(pid, &p, ErrorCode::PairingUnknown, out);
            }
        }
        self.pairings
            .completed
            .retain(|_, c| now < c.started.saturating_add(timeout));
    }
}
