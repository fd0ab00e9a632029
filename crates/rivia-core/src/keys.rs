//! Key generation and comparison. Syncano keys are 40 lowercase hex characters; the parity
//! of the last hex digit tells the kind: even = account or user key, odd = instance API key.

use rand::RngExt;
use subtle::ConstantTimeEq;

/// Which kind of key a 40-hex string is, decided by its last digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Even last digit: an admin account key (or, inside an instance, a user key).
    Account,
    /// Odd last digit: an instance API key.
    ApiKey,
}

fn random_hex40() -> String {
    let bytes: [u8; 20] = rand::rng().random();
    hex::encode(bytes)
}

fn with_parity(mut key: String, odd: bool) -> String {
    let last = key.pop().and_then(|c| c.to_digit(16)).unwrap_or(0);
    let fixed = if (last % 2 == 1) == odd {
        last
    } else {
        last ^ 1
    };
    key.push(char::from_digit(fixed, 16).unwrap_or('0'));
    key
}

/// A new account key or user key (even last digit) from the OS-seeded CSPRNG.
pub fn new_account_key() -> String {
    with_parity(random_hex40(), false)
}

/// A new instance API key (odd last digit).
pub fn new_api_key() -> String {
    with_parity(random_hex40(), true)
}

/// A random 40-hex token for invitations and one-time links.
pub fn new_token() -> String {
    random_hex40()
}

/// Classifies a presented key; `None` when it is not 40 hex characters.
pub fn classify(key: &str) -> Option<KeyKind> {
    if key.len() != 40 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let last = key.chars().last()?.to_digit(16)?;
    Some(if last % 2 == 0 {
        KeyKind::Account
    } else {
        KeyKind::ApiKey
    })
}

/// Compares two keys without leaking, through timing, how long their common prefix is.
pub fn keys_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_right_parity_and_shape() {
        for _ in 0..200 {
            let a = new_account_key();
            let k = new_api_key();
            assert_eq!(classify(&a), Some(KeyKind::Account));
            assert_eq!(classify(&k), Some(KeyKind::ApiKey));
            assert!(
                a.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        assert_ne!(new_account_key(), new_account_key());
    }

    #[test]
    fn classify_rejects_non_hex() {
        assert_eq!(classify("xyz"), None);
        assert_eq!(classify(&"g".repeat(40)), None);
    }

    #[test]
    fn equality_is_exact() {
        assert!(keys_equal("abc", "abc"));
        assert!(!keys_equal("abc", "abd"));
        assert!(!keys_equal("abc", "abcd"));
    }
}
