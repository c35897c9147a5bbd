//! The parser for received topics: from a topic string back to a [`Topic`].
//!
//! Strict: the topic must be under the base, use only the levels of the topic table, contain
//! no wildcard, control character or empty level, and write auth ids in canonical decimal.

use super::{check_levels, Part, Topic, TopicError, BRIDGE, MAX_TOPIC_LEN};

/// Decodes `topic` received under `base`.
pub(super) fn parse(base: &str, topic: &str) -> Result<Topic, TopicError> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong {
            part: Part::Topic,
            len: topic.len(),
        });
    }
    check_levels(Part::Topic, topic)?;
    let rest = topic
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| TopicError::OtherBase {
            topic: topic.to_owned(),
            base: base.to_owned(),
        })?;
    let levels: Vec<&str> = rest.split('/').collect();
    let unknown = || TopicError::Unknown {
        topic: topic.to_owned(),
    };
    match levels.as_slice() {
        [BRIDGE, bridge @ ..] => parse_bridge(bridge).ok_or_else(unknown),
        [lock, suffix @ ..] => parse_lock(lock, suffix)?.ok_or_else(unknown),
        [] => Err(unknown()),
    }
}

/// Decodes the levels after `<base>/bridge/`.
fn parse_bridge(levels: &[&str]) -> Option<Topic> {
    Some(match levels {
        ["state"] => Topic::BridgeState,
        ["info"] => Topic::BridgeInfo,
        ["locks"] => Topic::BridgeLocks,
        ["event"] => Topic::BridgeEvent,
        ["health"] => Topic::BridgeHealth,
        ["request", cmd @ ..] if !cmd.is_empty() => Topic::BridgeRequest { cmd: cmd.join("/") },
        ["response", cmd @ ..] if !cmd.is_empty() => Topic::BridgeResponse { cmd: cmd.join("/") },
        _ => return None,
    })
}

/// Decodes the levels after `<base>/<lock>/`; `Ok(None)` if they are not a lock topic.
fn parse_lock(lock: &str, levels: &[&str]) -> Result<Option<Topic>, TopicError> {
    let lock = lock.to_owned();
    Ok(Some(match levels {
        ["availability"] => Topic::Availability { lock },
        ["link"] => Topic::Link { lock },
        ["up", auth_id] => Topic::Up {
            lock,
            auth_id: parse_auth_id(auth_id)?,
        },
        ["down"] => Topic::Down { lock },
        ["delivery"] => Topic::Delivery { lock },
        _ => return Ok(None),
    }))
}

/// Reads a canonical decimal u32: digits only, no sign, no leading zero (except `0` itself).
fn parse_auth_id(level: &str) -> Result<u32, TopicError> {
    let canonical = level.bytes().all(|b| b.is_ascii_digit()) && !level.starts_with('0');
    let parsed = if level == "0" {
        Some(0)
    } else {
        level.parse().ok().filter(|_| canonical)
    };
    parsed.ok_or_else(|| TopicError::BadAuthId {
        value: level.to_owned(),
    })
}

#[cfg(test)]
mod tests;
