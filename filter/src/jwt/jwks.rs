//! JSON Web Key Sets (RFC 7517 §5): parsed once into keys that verify, and the
//! rule for which keys may check which token.
//!
//! Key selection: a token with a `kid` is checked only with the keys carrying
//! that `kid`; a token without `kid` is checked with every key that fits its
//! algorithm (kid or not). A key that carries an `alg` is used for that
//! algorithm only. Keys are matched to algorithms by type: RSA for RS*/PS*,
//! EC P-256 for ES256, OKP Ed25519 for EdDSA, oct for HS256.

use super::jwk::{self, Jwk, KeyProblem, Origin};
use crate::json::Json;
use crate::jwt::Algorithm;
use sha2::{Digest, Sha256};
use std::fmt;

/// Larger documents are refused unread. Identity providers publish a handful
/// of keys (a few KiB); the bound caps what a misbehaving endpoint can cost.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Usable keys beyond this many are skipped: a token without `kid` may be
/// tried against every key, and that work has to stay bounded.
pub const MAX_USABLE_KEYS: usize = 64;

/// A key of the set that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    pub kid: Option<String>,
    pub problem: KeyProblem,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "keys[{}] (kid {kid:?}) {}", self.index, self.problem),
            None => write!(f, "keys[{}] {}", self.index, self.problem),
        }
    }
}

/// Why a JWKS document cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    TooLarge {
        bytes: usize,
    },
    NotJson(String),
    DuplicateMembers,
    NoKeysArray,
    /// Every key was skipped (or there were none); the reasons, in order.
    NoUsableKey {
        skipped: Vec<SkippedKey>,
    },
    /// A `local_jwks` key that is broken or unsafe (see [`KeyProblem::is_defect`]).
    BadKey(SkippedKey),
    /// Two usable keys share a `kid`: which one a token means would be a guess.
    DuplicateKid(String),
    /// A `local_jwks` mixing shared secrets with public keys (Wycheproof
    /// "MixedKeySet"): such a set is one copy-paste away from publishing a secret.
    MixedSecretAndPublicKeys,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge { bytes } => write!(
                f,
                "the JWKS is {bytes} bytes; at most {MAX_JWKS_BYTES} are accepted"
            ),
            JwksError::NotJson(e) => write!(f, "not a JWKS: not valid JSON ({e})"),
            JwksError::DuplicateMembers => {
                write!(f, "the JWKS names a member twice in one object; which one counts would be a guess")
            }
            JwksError::NoKeysArray => write!(f, "not a JWKS: no \"keys\" array"),
            JwksError::NoUsableKey { skipped } if skipped.is_empty() => write!(f, "the JWKS holds no keys"),
            JwksError::NoUsableKey { skipped } => {
                write!(f, "the JWKS holds no usable key: ")?;
                for (i, s) in skipped.iter().take(5).enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{s}")?;
                }
                if skipped.len() > 5 {
                    write!(f, "; and {} more", skipped.len() - 5)?;
                }
                Ok(())
            }
            JwksError::BadKey(s) => write!(f, "{s}"),
            JwksError::DuplicateKid(kid) => write!(
                f,
                "two usable keys have kid {kid:?}; each key needs its own kid"
            ),
            JwksError::MixedSecretAndPublicKeys => write!(
                f,
                "the JWKS mixes shared-secret (oct) keys with public keys; keep HS256 secrets in a key set of their own"
            ),
        }
    }
}

impl std::error::Error for JwksError {}

/// The keys of one provider, ready to verify.
#[derive(Debug, Clone)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
    fingerprint: u64,
}

/// The keys a token may be checked with.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// At least one key; the token is valid if any of them verifies it.
    Candidates(Vec<&'a Jwk>),
    /// The token names a `kid` that no usable key of the set has: a refetch may
    /// find it (key rotation).
    KidNotFound,
    /// No key with the token's `kid` (or, without `kid`, none at all) fits its
    /// algorithm: a refetch would not change that.
    NoKeyForAlg,
}

/// Two sets are the same when they hold the same keys in the same order.
impl PartialEq for JwkSet {
    fn eq(&self, other: &JwkSet) -> bool {
        self.keys
            .iter()
            .map(|k| &k.material)
            .eq(other.keys.iter().map(|k| &k.material))
            && self.skipped == other.skipped
    }
}

impl JwkSet {
    /// A set with no keys, for tests that need a provider but never verify.
    #[cfg(test)]
    pub fn empty() -> JwkSet {
        JwkSet {
            keys: Vec::new(),
            skipped: Vec::new(),
            fingerprint: 0,
        }
    }

    /// A `local_jwks`: `oct` keys are allowed, and any broken key refuses the set
    /// (the operator wrote it for this filter and should hear about it at load).
    pub fn parse_local(bytes: &[u8]) -> Result<JwkSet, JwksError> {
        JwkSet::parse(bytes, Origin::Local)
    }

    /// A fetched JWKS: `oct` keys are dropped, and keys that cannot be used are
    /// skipped (see [`JwkSet::skipped`]) so one odd key does not take the rest down.
    pub fn parse_remote(bytes: &[u8]) -> Result<JwkSet, JwksError> {
        JwkSet::parse(bytes, Origin::Remote)
    }

    fn parse(bytes: &[u8], origin: Origin) -> Result<JwkSet, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge { bytes: bytes.len() });
        }
        let doc = Json::parse(bytes).map_err(|e| JwksError::NotJson(e.to_string()))?;
        if doc.has_duplicate_keys() {
            return Err(JwksError::DuplicateMembers);
        }
        let members = doc
            .get("keys")
            .and_then(Json::as_array)
            .ok_or(JwksError::NoKeysArray)?;
        let mut keys: Vec<Jwk> = Vec::new();
        let mut skipped = Vec::new();
        for (index, member) in members.iter().enumerate() {
            let kid = member.get("kid").and_then(Json::as_str).map(str::to_owned);
            let problem = match jwk::parse(member, origin) {
                Ok(_) if keys.len() >= MAX_USABLE_KEYS => KeyProblem::TooManyKeys,
                Ok(key) => {
                    if let Some(kid) = &key.kid {
                        if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                            return Err(JwksError::DuplicateKid(kid.clone()));
                        }
                    }
                    keys.push(key);
                    continue;
                }
                Err(problem) => problem,
            };
            let skip = SkippedKey {
                index,
                kid,
                problem,
            };
            if origin == Origin::Local && skip.problem.is_defect() {
                return Err(JwksError::BadKey(skip));
            }
            skipped.push(skip);
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey { skipped });
        }
        let secrets = keys.iter().filter(|k| k.key.kty() == "oct").count();
        if secrets > 0 && secrets < keys.len() {
            return Err(JwksError::MixedSecretAndPublicKeys);
        }
        let mut hash = Sha256::new();
        for key in &keys {
            hash.update((key.material.len() as u64).to_be_bytes());
            hash.update(&key.material);
        }
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        Ok(JwkSet {
            keys,
            skipped,
            fingerprint: u64::from_be_bytes(first),
        })
    }

    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Keys that were not used, with the reason, for the glue to log.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Equal for two sets with the same usable keys (material, kid and alg, in
    /// order): a refresh that brings the same keys keeps cached verifications.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether any key of the set can check `alg` tokens.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.keys.iter().any(|k| k.accepts(alg))
    }

    /// The keys a token with this `kid` and `alg` may be checked with (see the
    /// module documentation for the rule).
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup<'_> {
        let named: Vec<&Jwk> = match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect(),
            None => self.keys.iter().collect(),
        };
        if named.is_empty() && kid.is_some() {
            return KeyLookup::KidNotFound;
        }
        let fitting: Vec<&Jwk> = named.into_iter().filter(|k| k.accepts(alg)).collect();
        if fitting.is_empty() {
            KeyLookup::NoKeyForAlg
        } else {
            KeyLookup::Candidates(fitting)
        }
    }
}

#[cfg(test)]
mod tests;
