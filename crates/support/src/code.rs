//! One-time support codes, and the rules for decimal codes that people read and type, shared
//! with the pairing codes of `lockgate-e2e` (docs/PROTOCOL.md §5.1).
//!
//! A support code is [`SUPPORT_CODE_DIGITS`] decimal digits drawn uniformly by the gateway,
//! shown in groups of three (`123-456-789-012`) to be read aloud over the phone, and typed
//! with or without spaces and dashes. Trivial codes are never generated and never accepted.
//! Codes are secrets: they zeroize on drop and their `Debug` output is redacted.

use rand_core::{CryptoRng, RngCore};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Digits in a support code (10^12 codes, ~40 bits; 5 attempts per code).
pub const SUPPORT_CODE_DIGITS: usize = 12;
/// Digits per group in the display form.
pub const GROUP_DIGITS: usize = 3;

const PASSWORD_PREFIX: &[u8] = b"lockgate v1 support:";

/// Passcodes the Matter specification forbids (section 5.1.7.1), refused for every code.
pub const MATTER_FORBIDDEN: [&str; 12] = [
    "00000000", "11111111", "22222222", "33333333", "44444444", "55555555", "66666666", "77777777",
    "88888888", "99999999", "12345678", "87654321",
];

/// Why a typed code was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodeError {
    /// Something other than a digit (spaces and dashes are allowed as separators).
    #[error("a code may contain only digits, spaces and dashes")]
    NotDigits,
    /// Wrong number of digits.
    #[error("a support code has {SUPPORT_CODE_DIGITS} digits, this one has {0}; check it with the owner")]
    Length(usize),
    /// A code the gateway never gives out: the code was mistyped.
    #[error("this is not a code the gateway gives out (too regular); check it with the owner")]
    Trivial,
}

/// Keeps the digits of `input`, dropping spaces and dashes; refuses anything else.
pub fn digits_of(input: &str) -> Result<Zeroizing<String>, CodeError> {
    let mut digits = Zeroizing::new(String::with_capacity(input.len()));
    for c in input.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => return Err(CodeError::NotDigits),
        }
    }
    Ok(digits)
}

/// Whether a string of ASCII digits is trivial in the sense of docs/PROTOCOL.md §5.1: all
/// digits equal, an ascending or descending run (modulo 10), or on Matter's forbidden list.
pub fn is_trivial(digits: &str) -> bool {
    let d = digits.as_bytes();
    let next = |b: u8| b.wrapping_sub(b'0').wrapping_add(1) % 10;
    let all_equal = d.windows(2).all(|w| w[0] == w[1]);
    let ascending = d.windows(2).all(|w| next(w[0]) == w[1].wrapping_sub(b'0'));
    let descending = d.windows(2).all(|w| next(w[1]) == w[0].wrapping_sub(b'0'));
    all_equal || ascending || descending || MATTER_FORBIDDEN.contains(&digits)
}

/// Stricter than [`is_trivial`], for support codes: also a short block repeated
/// (`121212121212`, `123412341234`, period up to 6) or fewer than 4 distinct digits.
pub fn is_trivial_support_code(digits: &str) -> bool {
    let d = digits.as_bytes();
    let periodic = (1..=6).any(|p| d.len() > p && d.iter().zip(&d[p..]).all(|(a, b)| a == b));
    let mut seen = [false; 10];
    for &b in d {
        if let Some(slot) = seen.get_mut(usize::from(b.wrapping_sub(b'0'))) {
            *slot = true;
        }
    }
    let distinct = seen.iter().filter(|s| **s).count();
    is_trivial(digits) || periodic || distinct < 4
}

/// A one-time support code: [`SUPPORT_CODE_DIGITS`] digits, never trivial.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SupportCode(String);

impl SupportCode {
    /// Draws a uniformly random non-trivial code. The gateway passes the OS RNG.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        loop {
            let mut s = String::with_capacity(SUPPORT_CODE_DIGITS);
            while s.len() < SUPPORT_CODE_DIGITS {
                // Rejection sampling keeps every digit uniform.
                let byte = (rng.next_u32() & 0xff) as u8;
                if byte < 250 {
                    s.push(char::from(b'0' + byte % 10));
                }
            }
            if !is_trivial_support_code(&s) {
                return SupportCode(s);
            }
            s.zeroize();
        }
    }

    /// The digits without separators.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The code as it is read aloud and shown: groups of three digits joined by dashes.
    pub fn grouped(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(SUPPORT_CODE_DIGITS + 4));
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % GROUP_DIGITS == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    /// The SPAKE2 password: `"lockgate v1 support:"` followed by the 12 ASCII digits.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new([PASSWORD_PREFIX, self.0.as_bytes()].concat())
    }

    /// Compares in constant time.
    pub fn ct_eq(&self, other: &SupportCode) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl FromStr for SupportCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, CodeError> {
        let digits = digits_of(s)?;
        if digits.len() != SUPPORT_CODE_DIGITS {
            return Err(CodeError::Length(digits.len()));
        }
        if is_trivial_support_code(&digits) {
            return Err(CodeError::Trivial);
        }
        Ok(SupportCode(digits.to_string()))
    }
}

impl fmt::Debug for SupportCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SupportCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn generated_codes_parse_back_from_their_grouped_form() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        for _ in 0..500 {
            let code = SupportCode::generate(&mut rng);
            assert_eq!(code.digits().len(), SUPPORT_CODE_DIGITS);
            assert!(!is_trivial_support_code(code.digits()));
            let grouped = code.grouped();
            assert_eq!(grouped.len(), 15);
            assert_eq!(grouped.matches('-').count(), 3);
            let parsed: SupportCode = grouped.parse().unwrap();
            assert!(parsed.ct_eq(&code));
        }
    }

    #[test]
    fn parsing_tolerates_spaces_and_dashes_only() {
        let code: SupportCode = "  407 193-852 - 618 ".parse().unwrap();
        assert_eq!(code.digits(), "407193852618");
        assert_eq!(*code.grouped(), "407-193-852-618");
        assert_eq!(
            "407.193.852.618".parse::<SupportCode>(),
            Err(CodeError::NotDigits)
        );
        assert_eq!(
            "４07193852618".parse::<SupportCode>(),
            Err(CodeError::NotDigits)
        );
    }

    #[test]
    fn codes_need_exactly_twelve_digits() {
        assert_eq!(
            "40719385261".parse::<SupportCode>(),
            Err(CodeError::Length(11))
        );
        assert_eq!(
            "4071938526180".parse::<SupportCode>(),
            Err(CodeError::Length(13))
        );
        assert_eq!("".parse::<SupportCode>(), Err(CodeError::Length(0)));
    }

    #[test]
    fn trivial_codes_are_refused() {
        for code in [
            "000000000000",
            "777777777777",
            "123456789012",
            "890123456789",
            "987654321098",
            "121212121212",
            "123123123123",
            "123412341234",
            "407193407193",
            "112211221122",
            "100000000001",
            "123321123321",
        ] {
            assert_eq!(
                code.parse::<SupportCode>(),
                Err(CodeError::Trivial),
                "{code}"
            );
        }
        for code in MATTER_FORBIDDEN {
            assert!(is_trivial(code), "{code}");
        }
        assert!(!is_trivial("40719385"));
    }

    #[test]
    fn the_password_is_domain_separated() {
        let code: SupportCode = "407193852618".parse().unwrap();
        assert_eq!(&code.password()[..], b"lockgate v1 support:407193852618");
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let code: SupportCode = "407193852618".parse().unwrap();
        assert!(!format!("{code:?}").contains("407"));
    }
}
