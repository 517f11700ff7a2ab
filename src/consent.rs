//! Consent (DESIGN.md §10): the three answers a player can give to the
//! consent question, as the C API's `int32_t` values and as the names the
//! config, stats and the storage directory use. What each one does to hits
//! is the engine's business (`engine::state`), remembering it the storage
//! directory's (`queue::dir`).

use crate::error::{Error, Result};

/// Consent: the player agreed; hits are delivered.
pub const TRACKER_CONSENT_GRANTED: i32 = 0;
/// Consent: not answered yet; hits are kept, nothing is sent.
pub const TRACKER_CONSENT_PENDING: i32 = 1;
/// Consent: refused; the queue is purged and new hits are dropped.
pub const TRACKER_CONSENT_DENIED: i32 = 2;

/// The player's answer to the consent question (DESIGN.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Granted,
    Pending,
    Denied,
}

impl Consent {
    pub fn from_i32(value: i32) -> Result<Self> {
        match value {
            TRACKER_CONSENT_GRANTED => Ok(Consent::Granted),
            TRACKER_CONSENT_PENDING => Ok(Consent::Pending),
            TRACKER_CONSENT_DENIED => Ok(Consent::Denied),
            other => Err(Error::invalid(format!(
                "consent {other} is not one of TRACKER_CONSENT_GRANTED (0), \
                 TRACKER_CONSENT_PENDING (1), TRACKER_CONSENT_DENIED (2)"
            ))),
        }
    }
    pub fn as_i32(self) -> i32 {
        match self {
            Consent::Granted => TRACKER_CONSENT_GRANTED,
            Consent::Pending => TRACKER_CONSENT_PENDING,
            Consent::Denied => TRACKER_CONSENT_DENIED,
        }
    }
    /// The name used in the config, in stats and in the storage directory.
    pub fn name(self) -> &'static str {
        match self {
            Consent::Granted => "granted",
            Consent::Pending => "pending",
            Consent::Denied => "denied",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "granted" => Some(Consent::Granted),
            "pending" => Some(Consent::Pending),
            "denied" => Some(Consent::Denied),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names_round_trip() {
        for consent in [Consent::Granted, Consent::Pending, Consent::Denied] {
            assert_eq!(Consent::from_i32(consent.as_i32()), Ok(consent));
            assert_eq!(Consent::from_name(consent.name()), Some(consent));
        }
        assert_eq!(
            [
                TRACKER_CONSENT_GRANTED,
                TRACKER_CONSENT_PENDING,
                TRACKER_CONSENT_DENIED
            ],
            [0, 1, 2],
            "the values are the C API's (DESIGN.md §10)"
        );
    }

    #[test]
    fn other_values_and_names_are_refused() {
        for value in [-1, 3, i32::MAX, i32::MIN] {
            let err = Consent::from_i32(value).unwrap_err();
            assert_eq!(err.code, crate::error::TRACKER_ERROR_INVALID_ARGUMENT);
            assert!(err.message.contains(&value.to_string()), "{}", err.message);
        }
        for name in ["", "maybe", "Granted", "GRANTED", " denied"] {
            assert_eq!(Consent::from_name(name), None, "{name:?}");
        }
    }
}
