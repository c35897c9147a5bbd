//! How [`SupportService`] turns the state machine's output into publications, durable
//! state, audit lines and actions, and answers `logs` and `config` itself.

use super::{action_for, audit, party_of, state, Handled, Pending, Publish, SupportService};
use lockgate_support::gateway::{Event, Outgoing, Output, Ticket};
use lockgate_support::message::MAX_PLAINTEXT;
use lockgate_support::Request;
use serde_json::{json, Value};

/// Room kept in a record for the response around the `logs` data.
const RESPONSE_OVERHEAD: usize = 128;

impl SupportService {
    /// Handles one MQTT message. Messages on other topics, and retained ones (a stale message
    /// never acts), are ignored. At most one action results.
    pub fn handle(&mut self, now_ms: u64, topic: &str, payload: &[u8], retained: bool) -> Handled {
        if !self.enabled || !self.is_support_topic(topic) {
            return Handled::default();
        }
        if retained {
            log::debug!("support: ignored a retained message on {topic}");
            return Handled::default();
        }
        let out = self.machine.handle(now_ms, payload);
        self.finish(now_ms, out)
    }

    /// Answers the action `ticket` names: `Ok(data)` or `Err(what went wrong)`. Nothing is
    /// sent if its session has ended meanwhile.
    pub fn answer(
        &mut self,
        now_ms: u64,
        ticket: Ticket,
        result: Result<Value, String>,
    ) -> Vec<Publish> {
        let out = self.machine.respond(now_ms, ticket, result);
        self.finish(now_ms, out).publish
    }

    /// Persists, audits, routes. If the throttle cannot be saved nothing is sent: an
    /// attempt is never answered before it is durably charged.
    pub(super) fn finish(&mut self, now_ms: u64, out: Output) -> Handled {
        let Output {
            send,
            persist,
            events,
        } = out;
        let saved = persist.map_or(Ok(()), |s| state::save(&self.state_path, s));
        let mut handled = Handled::default();
        let mut answers = Vec::new();
        for event in &events {
            if let Some(party) = party_of(event) {
                self.last_party = Some(party);
            }
            audit::record(event, &self.operator_for(event));
            if let Event::Request { ticket, request } = event {
                match request {
                    Request::Logs { lines } => answers.push((*ticket, Ok(self.logs(*lines)))),
                    Request::Config => answers.push((*ticket, Ok(self.config.clone()))),
                    other => {
                        handled.action = action_for(other).map(|action| Pending {
                            ticket: *ticket,
                            action,
                        });
                    }
                }
            }
        }
        if let Err(e) = saved {
            log::error!(
                "support: cannot save {}: {e}; support answers nothing until it can",
                self.state_path.display()
            );
            return Handled::default();
        }
        handled.publish = send.into_iter().map(|o| self.publish(o)).collect();
        for (ticket, result) in answers {
            let out = self.machine.respond(now_ms, ticket, result);
            handled.publish.extend(self.finish(now_ms, out).publish);
        }
        handled
    }

    fn publish(&self, outgoing: Outgoing) -> Publish {
        Publish {
            topic: self.topics.response(&outgoing.session_id),
            payload: outgoing.bytes,
        }
    }

    /// The operator behind the session an event names, for its audit line.
    fn operator_for(&self, event: &Event) -> String {
        let session_id = match event {
            Event::Request { ticket, .. } => ticket.session_id,
            Event::SessionEnded { session_id, .. }
            | Event::Forbidden { session_id, .. }
            | Event::Rejected { session_id, .. } => *session_id,
            _ => return String::new(),
        };
        self.machine
            .operator(session_id)
            .map(str::to_owned)
            .or_else(|| {
                self.last_party
                    .as_ref()
                    .filter(|p| p.session_id == session_id)
                    .map(|p| p.operator.clone())
            })
            .unwrap_or_default()
    }

    /// The `logs` answer: the last `lines` lines that fit in one record, oldest first;
    /// `omitted` counts those left out to fit.
    fn logs(&self, lines: u32) -> Value {
        let mut recent = self.log.recent(lines as usize);
        let mut omitted = 0usize;
        loop {
            let value = json!({"lines": recent, "omitted": omitted});
            if value.to_string().len() + RESPONSE_OVERHEAD <= MAX_PLAINTEXT || recent.is_empty() {
                return value;
            }
            let drop = (recent.len() / 8).max(1);
            recent.drain(..drop);
            omitted += drop;
        }
    }
}
