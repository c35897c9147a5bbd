//! The MQTT topics of remote support (docs/SUPPORT.md §2), under a gateway's base.
//!
//! * `<base>/support/request`: everything a client sends (the gateway subscribes);
//! * `<base>/support/response/<session id>`: everything the gateway sends to the client of
//!   one session, the session id in 16 lowercase hex digits (that client subscribes).
//!
//! `support` is not a lock id (16 hex digits), so these never collide with lock topics.

use crate::message::SessionId;
use lockgate_wire::Topics;

/// The level under the base that holds support topics.
pub const SUPPORT: &str = "support";

/// The support topics of one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportTopics {
    base: String,
}

impl SupportTopics {
    /// The support topics under `topics`' (validated) base.
    pub fn new(topics: &Topics) -> Self {
        SupportTopics {
            base: topics.base().to_owned(),
        }
    }

    /// `<base>/support/request`: client to gateway.
    pub fn request(&self) -> String {
        format!("{}/{SUPPORT}/request", self.base)
    }

    /// `<base>/support/response/<session id>`: gateway to the client of `session_id`.
    pub fn response(&self, session_id: &SessionId) -> String {
        format!("{}/{SUPPORT}/response/{session_id}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_live_under_the_base() {
        let t = SupportTopics::new(&Topics::for_gateway("gw1").unwrap());
        assert_eq!(t.request(), "lockgate/gw1/support/request");
        assert_eq!(
            t.response(&SessionId([0xab, 0, 0, 0, 0, 0, 0, 1])),
            "lockgate/gw1/support/response/ab00000000000001"
        );
        let parsed = Topics::for_gateway("gw1").unwrap().parse(&t.request());
        assert!(parsed.is_err(), "not a bridge or lock topic: {parsed:?}");
    }
}
