//! The command codec: requests an endpoint sends inside session frames and the lock's
//! responses. Binary, little-endian, every field fixed or length-prefixed (see
//! `docs/PROTOCOL.md`, "Commands").

use crate::codec::{put_short_str, DecodeError, Reader};
use crate::error_code::ErrorCode;
use crate::keys::PublicKey;
use crate::setup_code::InviteCode;

/// Length of a lock challenge.
pub const CHALLENGE_LEN: usize = 16;
/// Longest name of an authorization, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Longest firmware string in a status.
pub const MAX_FIRMWARE_LEN: usize = 64;
/// `not_before` of an authorization without a start.
pub const NO_START: u64 = 0;
/// `not_after` of an authorization without an end.
pub const NO_END: u64 = u64::MAX;
/// Longest invite lifetime an admin may ask for (30 days).
pub const MAX_INVITE_TTL_SECS: u32 = 30 * 24 * 3600;
/// Set in a response's opcode: `response opcode = request opcode | RESPONSE_FLAG`.
pub const RESPONSE_FLAG: u8 = 0x80;
/// Longest subscription to state events an endpoint may ask for (1 hour); it renews before.
pub const MAX_SUBSCRIPTION_SECS: u16 = 3600;

macro_rules! byte_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u8)]
        pub enum $name { $($(#[$vmeta])* $variant = $value,)* }

        impl $name {
            /// Decodes a wire byte.
            pub fn from_u8(value: u8) -> Option<Self> {
                match value { $($value => Some($name::$variant),)* _ => None }
            }

            fn read(
                r: &mut crate::codec::Reader<'_>,
                field: &'static str,
            ) -> Result<Self, crate::codec::DecodeError> {
                let v = r.u8(field)?;
                Self::from_u8(v)
                    .ok_or(crate::codec::DecodeError::InvalidValue { field, value: u64::from(v) })
            }
        }
    };
}
pub(crate) use byte_enum;

byte_enum! {
    /// Request opcodes.
    Opcode {
        /// Read the lock's status.
        Status = 0x01,
        /// Ask for a fresh single-use challenge (needed by every actuation).
        Challenge = 0x02,
        /// Lock.
        Lock = 0x03,
        /// Unlock.
        Unlock = 0x04,
        /// Unlock and pull the latch.
        Unlatch = 0x05,
        /// Subscribe to state events for a time (0 cancels).
        Subscribe = 0x06,
        /// Create an invite code (admin).
        InviteCreate = 0x10,
        /// List authorizations (admin).
        AuthList = 0x11,
        /// Revoke an authorization (admin).
        AuthRevoke = 0x12,
        /// Rename an authorization (admin, or a user renaming itself).
        AuthRename = 0x13,
        /// Set the lock's clock (admin).
        SetTime = 0x14,
    }
}

byte_enum! {
    /// What an authorization may do.
    Role {
        /// Everything, including managing authorizations.
        Admin = 1,
        /// Status and actuations; may rename itself.
        User = 2,
    }
}

byte_enum! {
    /// The lock mechanism.
    MechanismState {
        /// Bolt thrown.
        Locked = 1,
        /// Moving towards unlocked.
        Unlocking = 2,
        /// Bolt retracted.
        Unlocked = 3,
        /// Moving towards locked.
        Locking = 4,
        /// Pulling the latch.
        Unlatching = 5,
        /// Latch held open.
        Unlatched = 6,
        /// The last movement could not complete.
        Jammed = 7,
    }
}

byte_enum! {
    /// The door sensor.
    DoorState {
        /// No sensor or no reading.
        Unknown = 0,
        /// Door closed.
        Closed = 1,
        /// Door open.
        Open = 2,
    }
}

/// The three actuations; each needs a fresh challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Lock.
    Lock,
    /// Unlock.
    Unlock,
    /// Unlock and pull the latch.
    Unlatch,
}

impl Action {
    /// The request opcode of this action.
    pub fn opcode(self) -> Opcode {
        match self {
            Action::Lock => Opcode::Lock,
            Action::Unlock => Opcode::Unlock,
            Action::Unlatch => Opcode::Unlatch,
        }
    }
}

/// The validity window and rights of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// Role.
    pub role: Role,
    /// May this endpoint act through a gateway.
    pub remote_allowed: bool,
    /// Wall-clock milliseconds since the Unix epoch before which it is refused; 0 = no start.
    pub not_before: u64,
    /// Wall-clock milliseconds since the Unix epoch after which it is refused; max = no end.
    pub not_after: u64,
}

impl Grant {
    /// An unlimited grant with `role`, remote use allowed.
    pub fn unlimited(role: Role) -> Self {
        Grant {
            role,
            remote_allowed: true,
            not_before: NO_START,
            not_after: NO_END,
        }
    }

    /// Whether a validity window applies (so the lock needs a set clock).
    pub fn is_time_limited(&self) -> bool {
        self.not_before != NO_START || self.not_after != NO_END
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.role as u8);
        out.push(u8::from(self.remote_allowed));
        out.extend_from_slice(&self.not_before.to_le_bytes());
        out.extend_from_slice(&self.not_after.to_le_bytes());
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let role = Role::read(r, "role")?;
        let flags = r.u8("grant flags")?;
        if flags > 1 {
            return Err(DecodeError::InvalidValue {
                field: "grant flags",
                value: u64::from(flags),
            });
        }
        let not_before = r.u64("not_before")?;
        let not_after = r.u64("not_after")?;
        if not_after < not_before {
            return Err(DecodeError::InvalidValue {
                field: "not_after",
                value: not_after,
            });
        }
        Ok(Grant {
            role,
            remote_allowed: flags == 1,
            not_before,
            not_after,
        })
    }
}

/// A request from an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read the status.
    Status,
    /// Ask for a challenge.
    Challenge,
    /// Lock, unlock or unlatch, proving freshness with a challenge.
    Actuate {
        /// What to do.
        action: Action,
        /// A challenge from [`Request::Challenge`], unused and unexpired.
        challenge: [u8; CHALLENGE_LEN],
    },
    /// Create an invite.
    InviteCreate {
        /// Rights of whoever joins with it.
        grant: Grant,
        /// Seconds the invite stays usable, at most 30 days; 0 = the lock's default (48 h).
        ttl_secs: u32,
    },
    /// List authorizations.
    AuthList,
    /// Revoke an authorization.
    AuthRevoke {
        /// Its id.
        id: u32,
    },
    /// Rename an authorization.
    AuthRename {
        /// Its id.
        id: u32,
        /// The new name, 1 to 32 UTF-8 bytes.
        name: String,
    },
    /// Set the lock's wall clock.
    SetTime {
        /// Milliseconds since the Unix epoch.
        unix_ms: u64,
    },
    /// Receive state events for `secs` seconds from now (replacing any earlier
    /// subscription); 0 cancels.
    Subscribe {
        /// At most [`MAX_SUBSCRIPTION_SECS`].
        secs: u16,
    },
}

impl Request {
    /// The opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Status => Opcode::Status,
            Request::Challenge => Opcode::Challenge,
            Request::Actuate { action, .. } => action.opcode(),
            Request::InviteCreate { .. } => Opcode::InviteCreate,
            Request::AuthList => Opcode::AuthList,
            Request::AuthRevoke { .. } => Opcode::AuthRevoke,
            Request::AuthRename { .. } => Opcode::AuthRename,
            Request::SetTime { .. } => Opcode::SetTime,
            Request::Subscribe { .. } => Opcode::Subscribe,
        }
    }

    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.opcode() as u8];
        match self {
            Request::Status | Request::Challenge | Request::AuthList => {}
            Request::Actuate { challenge, .. } => out.extend_from_slice(challenge),
            Request::InviteCreate { grant, ttl_secs } => {
                grant.write(&mut out);
                out.extend_from_slice(&ttl_secs.to_le_bytes());
            }
            Request::AuthRevoke { id } => out.extend_from_slice(&id.to_le_bytes()),
            Request::AuthRename { id, name } => {
                out.extend_from_slice(&id.to_le_bytes());
                put_short_str(&mut out, name);
            }
            Request::SetTime { unix_ms } => out.extend_from_slice(&unix_ms.to_le_bytes()),
            Request::Subscribe { secs } => out.extend_from_slice(&secs.to_le_bytes()),
        }
        out
    }

    /// Decodes a request; unknown opcodes, bad values and trailing bytes are errors.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let request = match Opcode::read(&mut r, "opcode")? {
            Opcode::Status => Request::Status,
            Opcode::Challenge => Request::Challenge,
            op @ (Opcode::Lock | Opcode::Unlock | Opcode::Unlatch) => Request::Actuate {
                action: match op {
                    Opcode::Lock => Action::Lock,
                    Opcode::Unlock => Action::Unlock,
                    _ => Action::Unlatch,
                },
                challenge: r.array("challenge")?,
            },
            Opcode::InviteCreate => Request::InviteCreate {
                grant: Grant::read(&mut r)?,
                ttl_secs: r.u32("ttl_secs")?,
            },
            Opcode::AuthList => Request::AuthList,
            Opcode::AuthRevoke => Request::AuthRevoke { id: r.u32("id")? },
            Opcode::AuthRename => Request::AuthRename {
                id: r.u32("id")?,
                name: read_name(&mut r)?,
            },
            Opcode::SetTime => Request::SetTime {
                unix_ms: r.u64("unix_ms")?,
            },
            Opcode::Subscribe => {
                let secs = r.u16("secs")?;
                if secs > MAX_SUBSCRIPTION_SECS {
                    return Err(DecodeError::InvalidValue {
                        field: "secs",
                        value: u64::from(secs),
                    });
                }
                Request::Subscribe { secs }
            }
        };
        r.finish()?;
        Ok(request)
    }
}

fn read_name(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let name = r.short_str("name", 1, MAX_NAME_LEN)?;
    if name.chars().any(char::is_control) {
        return Err(DecodeError::InvalidText("name"));
    }
    Ok(name)
}

/// Whether `name` is a valid authorization name (1 to 32 UTF-8 bytes, no control characters).
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len()) && !name.chars().any(char::is_control)
}

/// The lock's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockStatus {
    /// The mechanism.
    pub state: MechanismState,
    /// The door sensor.
    pub door: DoorState,
    /// Battery charge, 0 to 100 %.
    pub battery_percent: u8,
    /// The lock's own pairing window is open.
    pub pairing_window_open: bool,
    /// The lock's clock has been set.
    pub clock_set: bool,
    /// The lock can unlatch.
    pub unlatch_supported: bool,
    /// The lock's wall clock in Unix milliseconds, 0 when not set.
    pub time_ms: u64,
    /// Firmware version, up to 64 UTF-8 bytes.
    pub firmware: String,
}

/// One authorization as listed to an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEntry {
    /// Authorization id.
    pub id: u32,
    /// Rights and validity.
    pub grant: Grant,
    /// The endpoint's static public key.
    pub public_key: PublicKey,
    /// Its name.
    pub name: String,
}

/// The body of a successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    /// Answer to [`Request::Status`].
    Status(LockStatus),
    /// Answer to [`Request::Challenge`].
    Challenge {
        /// The challenge to put in the actuation.
        challenge: [u8; CHALLENGE_LEN],
        /// How long it stays valid, in milliseconds.
        valid_ms: u32,
    },
    /// Answer to an actuation: the mechanism state right after accepting it.
    Actuation(MechanismState),
    /// Answer to [`Request::InviteCreate`].
    InviteCreated {
        /// The code to hand to the invitee.
        code: InviteCode,
        /// Seconds from now until it expires.
        expires_in_secs: u32,
    },
    /// Answer to [`Request::AuthList`].
    AuthList(Vec<AuthEntry>),
    /// Answer to revoke, rename and set-time: done, nothing to report.
    Done,
    /// Answer to [`Request::Subscribe`]: how long events will come, and the status now.
    Subscribed {
        /// Seconds until the subscription ends (0: cancelled).
        expires_in_secs: u16,
        /// The lock's status when the subscription started.
        status: LockStatus,
    },
}

/// A response from the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The opcode of the request answered.
    pub opcode: Opcode,
    /// The counter of the request answered.
    pub in_reply_to: u64,
    /// The outcome.
    pub result: Result<ResponseBody, ErrorCode>,
}

impl Response {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.opcode as u8 | RESPONSE_FLAG];
        out.extend_from_slice(&self.in_reply_to.to_le_bytes());
        match &self.result {
            Err(code) => out.push(*code as u8),
            Ok(body) => {
                out.push(0);
                write_body(body, &mut out);
            }
        }
        out
    }

    /// Decodes a response; its body must match its opcode.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let raw = r.u8("opcode")?;
        let opcode = Opcode::from_u8(raw & !RESPONSE_FLAG)
            .filter(|_| raw & RESPONSE_FLAG != 0)
            .ok_or(DecodeError::InvalidValue {
                field: "opcode",
                value: u64::from(raw),
            })?;
        let in_reply_to = r.u64("in_reply_to")?;
        let status = r.u8("result")?;
        let result = if status == 0 {
            Ok(read_body(opcode, &mut r)?)
        } else {
            Err(ErrorCode::from_u8(status).ok_or(DecodeError::InvalidValue {
                field: "result",
                value: u64::from(status),
            })?)
        };
        r.finish()?;
        Ok(Response {
            opcode,
            in_reply_to,
            result,
        })
    }
}

fn write_body(body: &ResponseBody, out: &mut Vec<u8>) {
    match body {
        ResponseBody::Status(s) => write_status(s, out),
        ResponseBody::Subscribed {
            expires_in_secs,
            status,
        } => {
            out.extend_from_slice(&expires_in_secs.to_le_bytes());
            write_status(status, out);
        }
        ResponseBody::Challenge {
            challenge,
            valid_ms,
        } => {
            out.extend_from_slice(challenge);
            out.extend_from_slice(&valid_ms.to_le_bytes());
        }
        ResponseBody::Actuation(state) => out.push(*state as u8),
        ResponseBody::InviteCreated {
            code,
            expires_in_secs,
        } => {
            out.extend_from_slice(code.digits().as_bytes());
            out.extend_from_slice(&expires_in_secs.to_le_bytes());
        }
        ResponseBody::AuthList(entries) => {
            out.push(entries.len().min(usize::from(u8::MAX)) as u8);
            for e in entries.iter().take(usize::from(u8::MAX)) {
                out.extend_from_slice(&e.id.to_le_bytes());
                e.grant.write(out);
                out.extend_from_slice(e.public_key.as_bytes());
                put_short_str(out, &e.name);
            }
        }
        ResponseBody::Done => {}
    }
}

pub(crate) fn write_status(s: &LockStatus, out: &mut Vec<u8>) {
    out.extend_from_slice(&[s.state as u8, s.door as u8, s.battery_percent]);
    let flags = u8::from(s.pairing_window_open)
        | u8::from(s.clock_set) << 1
        | u8::from(s.unlatch_supported) << 2;
    out.push(flags);
    out.extend_from_slice(&s.time_ms.to_le_bytes());
    put_short_str(out, &s.firmware);
}

fn read_body(opcode: Opcode, r: &mut Reader<'_>) -> Result<ResponseBody, DecodeError> {
    Ok(match opcode {
        Opcode::Status => ResponseBody::Status(read_status(r)?),
        Opcode::Challenge => ResponseBody::Challenge {
            challenge: r.array("challenge")?,
            valid_ms: r.u32("valid_ms")?,
        },
        Opcode::Lock | Opcode::Unlock | Opcode::Unlatch => {
            ResponseBody::Actuation(MechanismState::read(r, "state")?)
        }
        Opcode::InviteCreate => {
            let digits = r.take(crate::setup_code::INVITE_CODE_DIGITS, "invite code")?;
            let code = std::str::from_utf8(digits)
                .ok()
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse().ok())
                .ok_or(DecodeError::InvalidText("invite code"))?;
            ResponseBody::InviteCreated {
                code,
                expires_in_secs: r.u32("expires_in_secs")?,
            }
        }
        Opcode::AuthList => {
            let count = r.u8("count")?;
            let mut entries = Vec::with_capacity(usize::from(count).min(64));
            for _ in 0..count {
                entries.push(AuthEntry {
                    id: r.u32("id")?,
                    grant: Grant::read(r)?,
                    public_key: PublicKey(r.array("public_key")?),
                    name: read_name(r)?,
                });
            }
            ResponseBody::AuthList(entries)
        }
        Opcode::AuthRevoke | Opcode::AuthRename | Opcode::SetTime => ResponseBody::Done,
        Opcode::Subscribe => ResponseBody::Subscribed {
            expires_in_secs: r.u16("expires_in_secs")?,
            status: read_status(r)?,
        },
    })
}

pub(crate) fn read_status(r: &mut Reader<'_>) -> Result<LockStatus, DecodeError> {
    let state = MechanismState::read(r, "state")?;
    let door = DoorState::read(r, "door")?;
    let battery_percent = r.u8("battery")?;
    if battery_percent > 100 {
        return Err(DecodeError::InvalidValue {
            field: "battery",
            value: u64::from(battery_percent),
        });
    }
    let flags = r.u8("status flags")?;
    if flags & !0b111 != 0 {
        return Err(DecodeError::InvalidValue {
            field: "status flags",
            value: u64::from(flags),
        });
    }
    Ok(LockStatus {
        state,
        door,
        battery_percent,
        pairing_window_open: flags & 1 != 0,
        clock_set: flags & 2 != 0,
        unlatch_supported: flags & 4 != 0,
        time_ms: r.u64("time_ms")?,
        firmware: r.short_str("firmware", 0, MAX_FIRMWARE_LEN)?,
    })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
