//! How [`GatewaySupport`] answers each message from a client (docs/SUPPORT.md §8.2).

use super::{
    confirmation_ok, valid_client_message, Event, Failure, GatewaySupport, Handshake, Output,
    Session, Ticket, MAX_ATTEMPTS,
};
use crate::channel::Channel;
use crate::command::{CloseReason, Notice, Request, Response};
use crate::message::{peek_header, Message, Reason, SessionId};
use crate::pake::{self, SessionKeys, CONFIRM_LEN, SPAKE_MSG_LEN};
use rand_core::{CryptoRng, RngCore};

impl<R: RngCore + CryptoRng> GatewaySupport<R> {
    /// Handles one message received on `<base>/support/request` at `now_ms`.
    pub fn handle(&mut self, now_ms: u64, bytes: &[u8]) -> Output {
        let mut out = self.tick(now_ms);
        let message = match Message::decode(bytes) {
            Ok(m) => m,
            Err(_) => {
                // Answer only what names a session (a readable header); drop the rest.
                if let Ok((_, sid)) = peek_header(bytes) {
                    out.refuse(sid, Reason::Malformed, 0);
                }
                return out;
            }
        };
        match message {
            Message::Hello {
                session_id,
                operator,
                spake,
            } => self.on_hello(now_ms, session_id, operator, &spake, bytes, &mut out),
            Message::Confirm {
                session_id,
                confirm,
            } => self.on_confirm(now_ms, session_id, &confirm, bytes, &mut out),
            Message::Abort { session_id } => {
                if self.handshake_is(session_id) {
                    self.fail_handshake(Failure::Aborted, &mut out);
                }
            }
            Message::Data {
                session_id,
                counter,
                sealed,
            } => self.on_data(session_id, counter, &sealed, &mut out),
            // Gateway-to-client types: never answered.
            Message::Reply { .. } | Message::Refusal { .. } => {}
        }
        out
    }

    fn handshake_is(&self, session_id: SessionId) -> bool {
        self.handshake
            .as_ref()
            .is_some_and(|h| h.session_id == session_id)
    }

    fn on_hello(
        &mut self,
        now_ms: u64,
        sid: SessionId,
        operator: String,
        msg_a: &[u8; SPAKE_MSG_LEN],
        raw: &[u8],
        out: &mut Output,
    ) {
        if let Some(h) = self.handshake.as_ref().filter(|h| h.session_id == sid) {
            if h.hello == raw {
                // A retransmission: the same answer, no new charge.
                out.send(sid, h.reply.clone());
            } else {
                out.refuse(sid, Reason::Busy, 0);
            }
            return;
        }
        if self.session.as_ref().is_some_and(|s| s.session_id == sid) {
            return; // A late copy of the Hello that opened this session.
        }
        if self.session.is_some() || self.handshake.is_some() {
            return out.refuse(sid, Reason::Busy, 0);
        }
        if self.code.is_none() {
            return out.refuse(sid, Reason::NoCode, 0);
        }
        if let Err(wait_ms) = self.limiter.check(now_ms) {
            let secs = u32::try_from(wait_ms.div_ceil(1000)).unwrap_or(u32::MAX);
            return out.refuse(sid, Reason::Throttled, secs);
        }
        let Some(code) = self.code.as_mut().filter(|c| c.charged < MAX_ATTEMPTS) else {
            self.code = None;
            out.events.push(Event::CodeBurned);
            return out.refuse(sid, Reason::CodeBurned, 0);
        };
        let id_a = pake::client_identity(&sid, &operator);
        let id_b = pake::gateway_identity(&self.gateway_id);
        let (spake, msg_b) = pake::start(false, &code.code.password(), &id_a, &id_b, &mut self.rng);
        if !valid_client_message(msg_a, &msg_b) {
            return out.refuse(sid, Reason::Malformed, 0);
        }
        let Ok(spake_key) = spake.finish(msg_a) else {
            return out.refuse(sid, Reason::Malformed, 0);
        };
        // Charged before anything is sent: the Reply lets its receiver test one guess.
        code.charged += 1;
        let attempt = code.charged;
        out.persist = Some(self.limiter.charge(now_ms));
        let transcript = pake::transcript(&self.gateway_id, raw, &msg_b);
        let keys = SessionKeys::derive(&spake_key, &transcript);
        let reply = Message::Reply {
            session_id: sid,
            spake: msg_b,
            confirm: keys.gateway_confirmation(&transcript),
        }
        .encode();
        out.send(sid, reply.clone());
        out.events.push(Event::HandshakeStarted {
            session_id: sid,
            operator: operator.clone(),
            attempt,
        });
        self.handshake = Some(Handshake {
            session_id: sid,
            operator,
            hello: raw.to_vec(),
            reply,
            transcript,
            keys,
            started_ms: now_ms,
        });
    }

    fn on_confirm(
        &mut self,
        now_ms: u64,
        sid: SessionId,
        confirm: &[u8; CONFIRM_LEN],
        raw: &[u8],
        out: &mut Output,
    ) {
        if let Some(s) = self.session.as_ref().filter(|s| s.session_id == sid) {
            if s.confirm == raw {
                out.send(sid, s.welcome.clone()); // A retransmission.
            }
            return;
        }
        if !self.handshake_is(sid) {
            return out.refuse(sid, Reason::NoSession, 0);
        }
        let Some(h) = self.handshake.as_ref() else {
            return;
        };
        if !confirmation_ok(&h.keys, &h.transcript, confirm) {
            out.refuse(sid, Reason::Failed, 0);
            return self.fail_handshake(Failure::BadConfirmation, out);
        }
        let Some(h) = self.handshake.take() else {
            return;
        };
        out.persist = Some(self.limiter.succeed());
        self.code = None; // Single use.
        let mut channel = Channel::gateway(&h.keys, sid);
        let welcome = channel.seal(&self.welcome().encode()).unwrap_or_default();
        out.send(sid, welcome.clone());
        let expires_at_ms = now_ms.saturating_add(self.session_ms);
        out.events.push(Event::SessionStarted {
            session_id: sid,
            operator: h.operator.clone(),
            expires_at_ms,
        });
        self.session = Some(Session {
            session_id: sid,
            operator: h.operator,
            channel,
            confirm: raw.to_vec(),
            welcome,
            expires_at_ms,
        });
    }

    fn on_data(&mut self, sid: SessionId, counter: u64, sealed: &[u8], out: &mut Output) {
        let Some(session) = self.session.as_mut().filter(|s| s.session_id == sid) else {
            return out.refuse(sid, Reason::NoSession, 0);
        };
        let plain = match session.channel.open(counter, sealed) {
            Ok(plain) => plain,
            Err(e) => {
                let why = e.to_string();
                return out.events.push(Event::Rejected {
                    session_id: sid,
                    why,
                });
            }
        };
        let reply = |r: Response| Notice::Response(r).encode();
        match Request::decode(&plain) {
            Ok(Request::Quit) => self.end_session(CloseReason::Quit, out),
            Ok(Request::Forbidden(f)) => {
                if let Ok(bytes) = session.channel.seal(&reply(Response::refused(counter, f))) {
                    out.send(sid, bytes);
                }
                out.events.push(Event::Forbidden {
                    session_id: sid,
                    command: f.name(),
                });
            }
            Ok(request) => out.events.push(Event::Request {
                ticket: Ticket {
                    session_id: sid,
                    in_reply_to: counter,
                },
                request,
            }),
            Err(e) => {
                let error = reply(Response::new(counter, Err(e.to_string())));
                if let Ok(bytes) = session.channel.seal(&error) {
                    out.send(sid, bytes);
                }
                out.events.push(Event::Rejected {
                    session_id: sid,
                    why: e.to_string(),
                });
            }
        }
    }
}
