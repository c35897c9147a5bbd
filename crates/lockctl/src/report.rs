//! What commands report: one type per result, printed as JSON with `--json` (the type's
//! fields plus `"ok": true`; stable: fields are added, never renamed) and as text otherwise
//! (`Display`). No report holds a key; an invite report holds its code, which is the point.

use crate::store::LockRecord;
use lockgate_e2e::command::{AuthEntry, DoorState, LockStatus, NO_END, NO_START};
use lockgate_e2e::{MechanismState, Role};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

/// The JSON line for a successful `report`.
pub fn to_json<T: Serialize>(report: &T) -> String {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("ok".into(), serde_json::Value::Bool(true));
    }
    value.to_string()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::User => "user",
    }
}

fn state_name(state: MechanismState) -> String {
    format!("{state:?}").to_lowercase()
}

/// A wall-clock time in Unix milliseconds as RFC 3339.
pub(crate) fn time_text(unix_ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `pair` and `join`: the authorization the lock granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paired {
    /// The lock id.
    pub lock: String,
    /// The gateway it is reached through.
    pub gateway: String,
    /// The gateway's base topic.
    pub base_topic: String,
    /// This endpoint's authorization id.
    pub auth_id: u32,
    /// Its role.
    pub role: Role,
    /// Its name on the lock.
    pub name: String,
}

impl From<&LockRecord> for Paired {
    fn from(r: &LockRecord) -> Self {
        Paired {
            lock: r.lock.to_string(),
            gateway: r.gateway.clone(),
            base_topic: r.base_topic.clone(),
            auth_id: r.auth_id,
            role: r.grant.role,
            name: r.name.clone(),
        }
    }
}

impl fmt::Display for Paired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "paired with lock {} through gateway {} as {:?}, {} (user {})",
            self.lock,
            self.gateway,
            self.name,
            role_name(self.role),
            self.auth_id
        )
    }
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The lock id.
    pub lock: String,
    /// The mechanism.
    pub state: MechanismState,
    /// The door sensor.
    pub door: DoorState,
    /// Battery, 0 to 100 %.
    pub battery_percent: u8,
    /// The lock's own pairing window is open.
    pub pairing_window_open: bool,
    /// The lock's clock is set.
    pub clock_set: bool,
    /// The lock can unlatch.
    pub unlatch_supported: bool,
    /// The lock's clock (Unix ms), when set.
    pub time_ms: Option<u64>,
    /// Firmware version.
    pub firmware: String,
}

impl Status {
    /// The report for `status` of `lock`.
    pub fn new(lock: &str, s: &LockStatus) -> Self {
        Status {
            lock: lock.to_owned(),
            state: s.state,
            door: s.door,
            battery_percent: s.battery_percent,
            pairing_window_open: s.pairing_window_open,
            clock_set: s.clock_set,
            unlatch_supported: s.unlatch_supported,
            time_ms: s.clock_set.then_some(s.time_ms),
            firmware: s.firmware.clone(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lock {}: {}", self.lock, state_name(self.state))?;
        writeln!(
            f,
            "  door:     {}",
            format!("{:?}", self.door).to_lowercase()
        )?;
        writeln!(f, "  battery:  {} %", self.battery_percent)?;
        let clock = self.time_ms.map_or("not set".into(), time_text);
        writeln!(f, "  clock:    {clock}")?;
        let pairing = if self.pairing_window_open {
            "open"
        } else {
            "closed"
        };
        writeln!(f, "  pairing:  {pairing}")?;
        writeln!(
            f,
            "  unlatch:  {}",
            if self.unlatch_supported { "yes" } else { "no" }
        )?;
        writeln!(f, "  firmware: {}", self.firmware)
    }
}

/// `lock`, `unlock`, `unlatch`: the mechanism right after the lock accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actuated {
    /// The lock id.
    pub lock: String,
    /// `lock`, `unlock` or `unlatch`.
    pub action: String,
    /// The mechanism right after (`locking`, `unlocking`, `unlatching`).
    pub state: MechanismState,
}

impl fmt::Display for Actuated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lock {}: {}", self.lock, state_name(self.state))
    }
}

/// One authorization in `users list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Authorization id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// May use the lock through a gateway.
    pub remote_allowed: bool,
    /// Valid from (Unix ms), if limited.
    pub not_before: Option<u64>,
    /// Valid until (Unix ms), if limited.
    pub not_after: Option<u64>,
    /// This endpoint.
    pub this_endpoint: bool,
}

/// `users list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    /// The lock id.
    pub lock: String,
    /// Its authorizations, by id.
    pub users: Vec<User>,
}

impl Users {
    /// The report of `entries` of `lock`, `me` being this endpoint's id.
    pub fn new(lock: &str, entries: &[AuthEntry], me: u32) -> Self {
        let users = entries
            .iter()
            .map(|e| User {
                id: e.id,
                name: e.name.clone(),
                role: e.grant.role,
                remote_allowed: e.grant.remote_allowed,
                not_before: (e.grant.not_before != NO_START).then_some(e.grant.not_before),
                not_after: (e.grant.not_after != NO_END).then_some(e.grant.not_after),
                this_endpoint: e.id == me,
            })
            .collect();
        Users {
            lock: lock.to_owned(),
            users,
        }
    }
}

impl fmt::Display for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:>4}  {:<6} {:<32} valid", "id", "role", "name")?;
        for u in &self.users {
            let from = u.not_before.map(|t| format!("from {} ", time_text(t)));
            let until = u.not_after.map(|t| format!("until {}", time_text(t)));
            let valid = format!("{}{}", from.unwrap_or_default(), until.unwrap_or_default());
            let valid = if valid.is_empty() {
                "always".into()
            } else {
                valid
            };
            let me = if u.this_endpoint {
                "  (this endpoint)"
            } else {
                ""
            };
            let name = &u.name;
            writeln!(
                f,
                "{:>4}  {:<6} {name:<32} {valid}{me}",
                u.id,
                role_name(u.role)
            )?;
        }
        Ok(())
    }
}

/// `users invite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    /// The lock id.
    pub lock: String,
    /// The gateway the invitee reaches the lock through.
    pub gateway: String,
    /// Its base topic.
    pub base_topic: String,
    /// The invite code, `NNNN-NNNN-NNNN-NNNN` (single use; a secret until used).
    pub code: String,
    /// The role it grants.
    pub role: Role,
    /// Access granted until (Unix ms), if limited.
    pub valid_until: Option<u64>,
    /// Seconds until the invite expires.
    pub expires_in_secs: u32,
    /// The command the invitee runs.
    pub join: String,
}

impl fmt::Display for Invited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invite code: {}", self.code)?;
        writeln!(f, "  role {}, single use", role_name(self.role))?;
        if let Some(until) = self.valid_until {
            writeln!(f, "  access until {}", time_text(until))?;
        }
        let expires = humantime::format_duration(Duration::from_secs(self.expires_in_secs.into()));
        writeln!(f, "  the invite expires in {expires}")?;
        writeln!(f, "the invitee runs:\n  {}", self.join)
    }
}

/// `users revoke` and `users rename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserChanged {
    /// The lock id.
    pub lock: String,
    /// The authorization id.
    pub user: u32,
    /// `revoked` or `renamed`.
    pub change: String,
    /// The new name, for `renamed`.
    pub name: Option<String>,
}

impl fmt::Display for UserChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => writeln!(f, "user {} {} to {name:?}", self.user, self.change),
            None => writeln!(f, "user {} {}", self.user, self.change),
        }
    }
}

/// `set-time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSet {
    /// The lock id.
    pub lock: String,
    /// The time sent (Unix ms).
    pub unix_ms: u64,
}

impl fmt::Display for TimeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lock {}: clock set to {}",
            self.lock,
            time_text(self.unix_ms)
        )
    }
}

/// `locks`: what the key store knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locks {
    /// The paired locks, by id.
    pub locks: Vec<Paired>,
}

impl fmt::Display for Locks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.locks.is_empty() {
            return writeln!(
                f,
                "no paired locks; `lockctl pair` or `lockctl join` pairs one"
            );
        }
        writeln!(
            f,
            "{:<16}  {:<16} {:<6} {:>5}  name",
            "lock", "gateway", "role", "user"
        )?;
        for l in &self.locks {
            let role = role_name(l.role);
            writeln!(
                f,
                "{:<16}  {:<16} {role:<6} {:>5}  {}",
                l.lock, l.gateway, l.auth_id, l.name
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reports_carry_ok_and_snake_case_names() {
        let report = Actuated {
            lock: "4c47000000000001".into(),
            action: "unlock".into(),
            state: MechanismState::Unlocking,
        };
        let value: serde_json::Value = serde_json::from_str(&to_json(&report)).unwrap();
        assert_eq!(value["ok"], true);
        assert_eq!(value["state"], "unlocking");
        let back: Actuated = serde_json::from_value(value).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn unlimited_grants_show_no_times() {
        let entry = AuthEntry {
            id: 2,
            grant: lockgate_e2e::Grant::unlimited(Role::User),
            public_key: lockgate_e2e::PublicKey([1; 32]),
            name: "guest".into(),
        };
        let users = Users::new("4c47000000000001", &[entry], 1);
        assert_eq!(users.users[0].not_after, None);
        assert!(!users.users[0].this_endpoint);
        let text = users.to_string();
        assert!(text.contains("user   guest"), "{text}");
        assert!(text.contains("always"), "{text}");
        assert!(!to_json(&users).contains("0101"), "no key in the report");
    }
}
