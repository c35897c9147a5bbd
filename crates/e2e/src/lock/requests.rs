//! The lock side of sessions: authenticate a request, check who may do what, execute it and
//! seal the response.

use super::auth::{role_permits, InviteRecord, Via, MAX_INVITES};
use super::{refuse, Effect, LockMachine, Output};
use crate::command::{
    Action, AuthEntry, Grant, LockStatus, Opcode, Request, Response, ResponseBody, Role,
    CHALLENGE_LEN, MAX_FIRMWARE_LEN, MAX_INVITE_TTL_SECS,
};
use crate::error_code::ErrorCode;
use crate::event::EventCause;
use crate::replay::ReplayError;
use crate::session::SessionError;
use crate::setup_code::{InviteCode, INVITE_ID_LIMIT};
use lockgate_wire::envelope::Header;
use rand_core::{CryptoRng, RngCore};

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn session_error_code(e: &SessionError) -> ErrorCode {
    match e {
        SessionError::Replay(ReplayError::Exhausted(_)) | SessionError::CounterExhausted => {
            ErrorCode::CounterExhausted
        }
        SessionError::Replay(_) => ErrorCode::Replayed,
        SessionError::WrongAddress { .. } => ErrorCode::UnknownAuthorization,
        SessionError::Authentication => ErrorCode::AuthenticationFailed,
    }
}

impl<R: RngCore + CryptoRng> LockMachine<R> {
    pub(super) fn on_session(
        &mut self,
        now: u64,
        via: Via,
        header: &Header,
        body: &[u8],
        out: &mut Output,
    ) {
        let Some(auth) = self.auths.get_mut(&header.auth_id) else {
            refuse(out, header, ErrorCode::UnknownAuthorization);
            return;
        };
        let plaintext = match auth.channel.open(header, body) {
            Ok(p) => p,
            Err(e) => {
                refuse(out, header, session_error_code(&e));
                return;
            }
        };
        let request = match Request::decode(&plaintext) {
            Ok(r) => r,
            Err(_) => {
                let known = plaintext
                    .first()
                    .and_then(|&b| Opcode::from_u8(b))
                    .is_some();
                let code = if known {
                    ErrorCode::Malformed
                } else {
                    ErrorCode::UnknownCommand
                };
                refuse(out, header, code);
                return;
            }
        };
        let opcode = request.opcode();
        // Record the counter durably before answering anything that could matter if replayed
        // after a reboot; reads need not be (section 11.5 of the specification).
        if !matches!(
            opcode,
            Opcode::Status | Opcode::Challenge | Opcode::AuthList | Opcode::Subscribe
        ) {
            out.persist = true;
        }
        let revokes_itself = request == Request::AuthRevoke { id: header.auth_id };
        let result = self.execute(now, via, header.auth_id, request, out);
        if let Err(code) = result {
            out.effects.push(Effect::Refused {
                auth_id: header.auth_id,
                code,
            });
        }
        let response = Response {
            opcode,
            in_reply_to: header.counter,
            result,
        };
        let Some(auth) = self.auths.get_mut(&header.auth_id) else {
            return;
        };
        match auth.channel.seal(&response.encode()) {
            Ok(sealed) => {
                out.persist |= sealed.persist.is_some();
                out.frames.push(sealed.frame);
            }
            Err(e) => refuse(out, header, session_error_code(&e)),
        }
        // An admin revoking itself gets its answer, then is gone.
        if revokes_itself && response.result.is_ok() {
            self.auths.remove(&header.auth_id);
        }
    }

    fn execute(
        &mut self,
        now: u64,
        via: Via,
        auth_id: u32,
        request: Request,
        out: &mut Output,
    ) -> Result<ResponseBody, ErrorCode> {
        let wall = self.wall_clock(now);
        let auth = self
            .auths
            .get(&auth_id)
            .ok_or(ErrorCode::UnknownAuthorization)?;
        auth.check_valid(wall, via)?;
        let role = auth.record.grant.role;
        if !role_permits(role, request.opcode()) {
            return Err(ErrorCode::Forbidden);
        }
        match request {
            Request::Status => Ok(ResponseBody::Status(self.status(now))),
            Request::Challenge => {
                let ttl = self.config.challenge_ttl_ms;
                let auth = self
                    .auths
                    .get_mut(&auth_id)
                    .ok_or(ErrorCode::UnknownAuthorization)?;
                let challenge = auth.issue_challenge(&mut self.rng, now, ttl);
                Ok(ResponseBody::Challenge {
                    challenge,
                    valid_ms: u32::try_from(ttl).unwrap_or(u32::MAX),
                })
            }
            Request::Actuate { action, challenge } => {
                self.actuate(now, auth_id, action, &challenge, out)
            }
            Request::InviteCreate { grant, ttl_secs } => {
                self.create_invite(now, wall, grant, ttl_secs, out)
            }
            Request::AuthList => Ok(ResponseBody::AuthList(self.list())),
            Request::AuthRevoke { id } => self.revoke(auth_id, id, out),
            Request::AuthRename { id, name } => self.rename(auth_id, role, id, name, out),
            Request::Subscribe { secs } => {
                let until = (secs > 0).then(|| now.saturating_add(u64::from(secs) * 1000));
                let status = self.status(now);
                self.auths
                    .get_mut(&auth_id)
                    .ok_or(ErrorCode::UnknownAuthorization)?
                    .subscribe(until);
                Ok(ResponseBody::Subscribed {
                    expires_in_secs: secs,
                    status,
                })
            }
            Request::SetTime { unix_ms } => {
                self.clock_offset_ms = Some(
                    (i128::from(unix_ms) - i128::from(now))
                        .clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                        as i64,
                );
                out.persist = true;
                Ok(ResponseBody::Done)
            }
        }
    }

    pub(super) fn status(&self, now: u64) -> LockStatus {
        LockStatus {
            state: self.mechanism.state(),
            door: self.mechanism.door,
            battery_percent: self.mechanism.battery_percent,
            pairing_window_open: self.window.is_open(now),
            clock_set: self.clock_offset_ms.is_some(),
            unlatch_supported: self.config.unlatch_supported,
            time_ms: self.wall_clock(now).unwrap_or(0),
            firmware: truncate_utf8(&self.config.firmware, MAX_FIRMWARE_LEN).to_owned(),
        }
    }

    fn actuate(
        &mut self,
        now: u64,
        auth_id: u32,
        action: Action,
        challenge: &[u8; CHALLENGE_LEN],
        out: &mut Output,
    ) -> Result<ResponseBody, ErrorCode> {
        let auth = self
            .auths
            .get_mut(&auth_id)
            .ok_or(ErrorCode::UnknownAuthorization)?;
        auth.redeem_challenge(challenge, now)?;
        if action == Action::Unlatch && !self.config.unlatch_supported {
            return Err(ErrorCode::UnlatchNotSupported);
        }
        let state =
            self.mechanism
                .start(action, EventCause::Remote, now, self.config.actuation_ms)?;
        out.effects.push(Effect::Mechanism(state));
        out.persist = true;
        self.notify(now, EventCause::Remote);
        Ok(ResponseBody::Actuation(state))
    }

    fn create_invite(
        &mut self,
        now: u64,
        wall: Option<u64>,
        grant: Grant,
        ttl_secs: u32,
        out: &mut Output,
    ) -> Result<ResponseBody, ErrorCode> {
        if ttl_secs > MAX_INVITE_TTL_SECS {
            return Err(ErrorCode::InvalidArgument);
        }
        if grant.is_time_limited() && wall.is_none() {
            return Err(ErrorCode::ClockNotSet);
        }
        self.invites.retain(|i| now <= i.expires_at);
        if self.invites.len() >= MAX_INVITES {
            return Err(ErrorCode::InvitesFull);
        }
        let id = loop {
            let candidate = (self.rng.next_u32() % u32::from(INVITE_ID_LIMIT)) as u16;
            if self.invites.iter().all(|i| i.id != candidate) {
                break candidate;
            }
        };
        let code = InviteCode::generate(&mut self.rng, id);
        let ttl_ms = match ttl_secs {
            0 => self.config.invite_ttl_ms,
            s => u64::from(s) * 1000,
        };
        let expires_at = now.saturating_add(ttl_ms);
        let expires_in_secs = u32::try_from(ttl_ms / 1000).unwrap_or(u32::MAX);
        let secret = code.digits()[4..]
            .parse()
            .map_err(|_| ErrorCode::InvalidArgument)?;
        self.invites.push(InviteRecord {
            id,
            secret,
            grant,
            expires_at,
            failures: 0,
        });
        out.persist = true;
        Ok(ResponseBody::InviteCreated {
            code,
            expires_in_secs,
        })
    }

    fn list(&self) -> Vec<AuthEntry> {
        self.auths
            .values()
            .map(|a| AuthEntry {
                id: a.record.id,
                grant: a.record.grant,
                public_key: a.record.public_key,
                name: a.record.name.clone(),
            })
            .collect()
    }

    /// Revokes `id`; a caller revoking itself is removed by the caller after its answer.
    fn revoke(
        &mut self,
        caller: u32,
        id: u32,
        out: &mut Output,
    ) -> Result<ResponseBody, ErrorCode> {
        let target = self.auths.get(&id).ok_or(ErrorCode::NotFound)?;
        let admins = self
            .auths
            .values()
            .filter(|a| a.record.grant.role == Role::Admin)
            .count();
        if target.record.grant.role == Role::Admin && admins == 1 {
            return Err(ErrorCode::LastAdmin);
        }
        if id != caller {
            self.auths.remove(&id);
        }
        out.effects.push(Effect::Revoked { auth_id: id });
        out.persist = true;
        Ok(ResponseBody::Done)
    }

    fn rename(
        &mut self,
        caller: u32,
        role: Role,
        id: u32,
        name: String,
        out: &mut Output,
    ) -> Result<ResponseBody, ErrorCode> {
        if role != Role::Admin && id != caller {
            return Err(ErrorCode::Forbidden);
        }
        let target = self.auths.get_mut(&id).ok_or(ErrorCode::NotFound)?;
        target.record.name = name;
        out.persist = true;
        Ok(ResponseBody::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_utf8;

    #[test]
    fn firmware_strings_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_utf8("abc", 64), "abc");
        assert_eq!(truncate_utf8("ééé", 5), "éé");
        assert_eq!(truncate_utf8(&"é".repeat(40), 64).len(), 64);
    }
}
