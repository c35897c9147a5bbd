//! Setup codes that key SPAKE2 pairing: the label code printed on a lock and admin invites.
//!
//! Codes are secrets: they zeroize on drop and their `Debug` output is redacted.

use lockgate_support::code::{self, is_trivial};
use rand_core::{CryptoRng, RngCore};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Minimum number of digits in a label code.
pub const LABEL_CODE_MIN_DIGITS: usize = 8;
/// Maximum number of digits in a label code.
pub const LABEL_CODE_MAX_DIGITS: usize = 16;
/// Digits of an invite code: 4 for the invite id, 12 for the secret.
pub const INVITE_CODE_DIGITS: usize = 16;
/// Exclusive upper bound of an invite id.
pub const INVITE_ID_LIMIT: u16 = 10_000;
/// Exclusive upper bound of an invite secret (12 decimal digits).
pub const INVITE_SECRET_LIMIT: u64 = 1_000_000_000_000;

const LABEL_PASSWORD_PREFIX: &[u8] = b"lockgate v1 label:";
const INVITE_PASSWORD_PREFIX: &[u8] = b"lockgate v1 invite:";

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodeError {
    /// Wrong number of digits.
    #[error("a label code has {LABEL_CODE_MIN_DIGITS} to {LABEL_CODE_MAX_DIGITS} digits, this one has {0}")]
    LabelLength(usize),
    /// Something other than a digit (spaces and dashes are allowed as separators).
    #[error("a code may contain only digits, spaces and dashes")]
    NotDigits,
    /// A code anyone would guess first.
    #[error(
        "the code is trivial (all one digit, a run up or down, or on Matter's forbidden list)"
    )]
    Trivial,
    /// Wrong number of digits for an invite.
    #[error("an invite code has {INVITE_CODE_DIGITS} digits, this one has {0}")]
    InviteLength(usize),
}

/// Keeps the digits of `input`, dropping spaces and dashes; refuses anything else.
fn digits_of(input: &str) -> Result<Zeroizing<String>, CodeError> {
    code::digits_of(input).map_err(|_| CodeError::NotDigits)
}

/// The pairing code printed on a lock's label: 8 to 16 digits, never trivial.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct LabelCode(String);

impl LabelCode {
    /// Draws a random valid code of `digits` digits (clamped to the allowed range).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng), digits: usize) -> Self {
        let n = digits.clamp(LABEL_CODE_MIN_DIGITS, LABEL_CODE_MAX_DIGITS);
        loop {
            let mut s = String::with_capacity(n);
            while s.len() < n {
                // Rejection sampling keeps every digit uniform.
                let byte = (rng.next_u32() & 0xff) as u8;
                if byte < 250 {
                    s.push(char::from(b'0' + byte % 10));
                }
            }
            if !is_trivial(&s) {
                return LabelCode(s);
            }
        }
    }

    /// The digits, for printing on a label.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The SPAKE2 password: `"lockgate v1 label:"` followed by the ASCII digits.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new([LABEL_PASSWORD_PREFIX, self.0.as_bytes()].concat())
    }
}

impl FromStr for LabelCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, CodeError> {
        let digits = digits_of(s)?;
        if !(LABEL_CODE_MIN_DIGITS..=LABEL_CODE_MAX_DIGITS).contains(&digits.len()) {
            return Err(CodeError::LabelLength(digits.len()));
        }
        if is_trivial(&digits) {
            return Err(CodeError::Trivial);
        }
        Ok(LabelCode(digits.to_string()))
    }
}

impl fmt::Debug for LabelCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LabelCode(<redacted>)")
    }
}

/// A single-use invite code: a 4-digit invite id then a 12-digit secret, shown as
/// `NNNN-NNNN-NNNN-NNNN`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct InviteCode {
    id: u16,
    secret: u64,
}

impl InviteCode {
    /// Builds a code; `None` if the id or the secret is out of range.
    pub fn new(id: u16, secret: u64) -> Option<Self> {
        (id < INVITE_ID_LIMIT && secret < INVITE_SECRET_LIMIT).then_some(InviteCode { id, secret })
    }

    /// Draws a random secret for invite `id` (which must be below [`INVITE_ID_LIMIT`]).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng), id: u16) -> Self {
        // Rejection sampling below the largest multiple of the limit keeps it uniform.
        let zone = u64::MAX - u64::MAX % INVITE_SECRET_LIMIT;
        let secret = loop {
            let v = rng.next_u64();
            if v < zone {
                break v % INVITE_SECRET_LIMIT;
            }
        };
        InviteCode {
            id: id % INVITE_ID_LIMIT,
            secret,
        }
    }

    /// The invite id: sent in clear so the lock knows which invite is meant.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The 16 digits without separators.
    pub fn digits(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{:04}{:012}", self.id, self.secret))
    }

    /// The code as people type it: `NNNN-NNNN-NNNN-NNNN`.
    pub fn display(&self) -> Zeroizing<String> {
        let d = self.digits();
        Zeroizing::new(format!(
            "{}-{}-{}-{}",
            &d[0..4],
            &d[4..8],
            &d[8..12],
            &d[12..16]
        ))
    }

    /// The SPAKE2 password: `"lockgate v1 invite:"` followed by the 16 ASCII digits.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new([INVITE_PASSWORD_PREFIX, self.digits().as_bytes()].concat())
    }

    /// Compares in constant time.
    pub fn ct_eq(&self, other: &InviteCode) -> bool {
        use subtle::ConstantTimeEq;
        let a = [self.id.to_le_bytes().as_slice(), &self.secret.to_le_bytes()].concat();
        let b = [
            other.id.to_le_bytes().as_slice(),
            &other.secret.to_le_bytes(),
        ]
        .concat();
        a.ct_eq(&b).into()
    }
}

impl FromStr for InviteCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, CodeError> {
        let digits = digits_of(s)?;
        if digits.len() != INVITE_CODE_DIGITS {
            return Err(CodeError::InviteLength(digits.len()));
        }
        let id = digits[..4].parse().map_err(|_| CodeError::NotDigits)?;
        let secret = digits[4..].parse().map_err(|_| CodeError::NotDigits)?;
        Ok(InviteCode { id, secret })
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteCode(id {:04}, <redacted>)", self.id)
    }
}

/// The code an endpoint pairs with.
#[derive(Debug, Clone)]
pub enum SetupCode {
    /// The lock's label code (only while the lock's own pairing window is open).
    Label(LabelCode),
    /// An invite created by an admin.
    Invite(InviteCode),
}

impl SetupCode {
    /// The SPAKE2 password bytes for this code.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        match self {
            SetupCode::Label(c) => c.password(),
            SetupCode::Invite(c) => c.password(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn label_codes_need_eight_to_sixteen_digits() {
        assert_eq!(
            "1357924".parse::<LabelCode>(),
            Err(CodeError::LabelLength(7))
        );
        assert_eq!(
            "13579246801357924".parse::<LabelCode>(),
            Err(CodeError::LabelLength(17))
        );
        assert!("1357-9246".parse::<LabelCode>().is_ok());
        assert_eq!("1357924a".parse::<LabelCode>(), Err(CodeError::NotDigits));
    }

    #[test]
    fn trivial_label_codes_are_refused() {
        for code in [
            "00000000",
            "77777777777",
            "12345678",
            "34567890",
            "890123456",
            "87654321",
            "3210987654",
        ] {
            assert_eq!(code.parse::<LabelCode>(), Err(CodeError::Trivial), "{code}");
        }
        for code in code::MATTER_FORBIDDEN {
            assert_eq!(code.parse::<LabelCode>(), Err(CodeError::Trivial), "{code}");
        }
    }

    #[test]
    fn generated_label_codes_are_valid() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for _ in 0..200 {
            let code = LabelCode::generate(&mut rng, 8);
            assert_eq!(code.digits().parse::<LabelCode>(), Ok(code.clone()));
        }
    }

    #[test]
    fn invite_codes_round_trip_through_their_display_form() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let code = InviteCode::generate(&mut rng, 42);
        assert_eq!(code.id(), 42);
        let parsed: InviteCode = code.display().parse().unwrap();
        assert!(parsed.ct_eq(&code));
        assert!(code.display().starts_with("0042-"));
        assert_eq!(
            "0042 1234".parse::<InviteCode>(),
            Err(CodeError::InviteLength(8))
        );
    }

    #[test]
    fn passwords_are_domain_separated() {
        let label: LabelCode = "2468013579246801".parse().unwrap();
        let invite: InviteCode = "2468013579246801".parse().unwrap();
        assert_ne!(*label.password(), *invite.password());
        assert_eq!(&label.password()[..], b"lockgate v1 label:2468013579246801");
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let label: LabelCode = "2468013579".parse().unwrap();
        assert!(!format!("{label:?}").contains("2468"));
        let invite: InviteCode = "0001-2468-0135-7924".parse().unwrap();
        assert!(!format!("{invite:?}").contains("2468"));
    }
}
