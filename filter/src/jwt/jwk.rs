//! One JSON Web Key (RFC 7517) turned into a key that can verify, or the reason
//! it cannot be used.

use super::base64url;
use super::ecdsa::{P256Key, PointError};
use super::roca;
use super::rsa::{strip_leading_zeros, RsaPublicKey};
use super::signature::{Ed25519PublicKey, VerifyingKey};
use crate::json::Json;
use crate::jwt::Algorithm;
use jwt_compact::alg::Hs256Key;
use std::fmt;

/// RFC 7518 §3.3: RSA keys of 2048 bits or more.
pub const MIN_RSA_BITS: usize = 2048;
/// Bounds the cost of one verification (the rsa crate's limit too).
pub const MAX_RSA_BITS: usize = 4096;
/// RFC 7518 §3.2: an HS256 key at least as long as the hash output.
pub const MIN_HMAC_BYTES: usize = 32;

/// A usable key from a JWKS.
#[derive(Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`: when present it is the only algorithm the key is used
    /// for (RFC 7517 §4.4), so a key published for RS256 never checks a PS256 token.
    pub alg: Option<Algorithm>,
    pub key: VerifyingKey,
    /// The key material (and kid/alg) in one canonical form, for the set's fingerprint.
    pub(crate) material: Vec<u8>,
}

impl fmt::Debug for Jwk {
    // `material` is left out: for an `oct` key it is the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Whether this key may check a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.key.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// Why a key of a JWKS is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    NotAnObject,
    MissingMember(&'static str),
    BadMember {
        member: &'static str,
        expected: &'static str,
    },
    UnsupportedKeyType(String),
    UnsupportedCurve(String),
    NotForSignatures(String),
    NoVerifyOperation,
    UnsupportedAlgorithm(String),
    AlgorithmDoesNotFit {
        alg: &'static str,
        kty: &'static str,
    },
    PrivateKeyMaterial,
    RsaTooSmall {
        bits: usize,
    },
    RsaTooLarge {
        bits: usize,
    },
    RsaInvalid(String),
    RsaRocaVulnerable,
    EcBadCoordinateLength,
    EcCoordinateOutOfRange,
    EcNotOnCurve,
    Ed25519Invalid,
    SecretTooShort {
        bytes: usize,
    },
    SecretFromRemote,
    /// The set already holds [`super::jwks::MAX_USABLE_KEYS`] usable keys.
    TooManyKeys,
}

impl KeyProblem {
    /// True if the key is broken or unsafe, false if it is merely not meant for
    /// this filter (an encryption key, another curve or algorithm). A
    /// `local_jwks` with a broken key is refused at load, since the operator
    /// wrote it for this filter; a fetched JWKS is the identity provider's, so
    /// its unusable keys are skipped either way.
    pub fn is_defect(&self) -> bool {
        !matches!(
            self,
            KeyProblem::UnsupportedKeyType(_)
                | KeyProblem::UnsupportedCurve(_)
                | KeyProblem::NotForSignatures(_)
                | KeyProblem::NoVerifyOperation
                | KeyProblem::UnsupportedAlgorithm(_)
                | KeyProblem::SecretFromRemote
                | KeyProblem::TooManyKeys
        )
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::NotAnObject => write!(f, "is not a JSON object"),
            KeyProblem::MissingMember(m) => write!(f, "has no {m:?}"),
            KeyProblem::BadMember { member, expected } => write!(f, "{member:?} must be {expected}"),
            KeyProblem::UnsupportedKeyType(kty) => {
                write!(f, "kty {kty:?} is not supported (RSA, EC, OKP and oct are)")
            }
            KeyProblem::UnsupportedCurve(crv) => {
                write!(f, "curve {crv:?} is not supported (P-256 for EC, Ed25519 for OKP)")
            }
            KeyProblem::NotForSignatures(use_) => write!(f, "is for {use_:?}, not \"sig\""),
            KeyProblem::NoVerifyOperation => write!(f, "its key_ops do not include \"verify\""),
            KeyProblem::UnsupportedAlgorithm(alg) => write!(f, "alg {alg:?} is not one toolguard verifies"),
            KeyProblem::AlgorithmDoesNotFit { alg, kty } => write!(f, "alg {alg:?} cannot be used with a {kty} key"),
            KeyProblem::PrivateKeyMaterial => write!(
                f,
                "holds private key material (\"d\" or RSA primes); publish and configure only the public key"
            ),
            KeyProblem::RsaTooSmall { bits } => {
                write!(f, "RSA modulus has {bits} bits; at least {MIN_RSA_BITS} are required")
            }
            KeyProblem::RsaTooLarge { bits } => {
                write!(f, "RSA modulus has {bits} bits; at most {MAX_RSA_BITS} are supported")
            }
            KeyProblem::RsaInvalid(why) => write!(f, "is not a valid RSA public key ({why})"),
            KeyProblem::RsaRocaVulnerable => write!(
                f,
                "RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be computed; replace the key"
            ),
            KeyProblem::EcBadCoordinateLength => write!(f, "\"x\" and \"y\" must each be 32 bytes for P-256"),
            KeyProblem::EcCoordinateOutOfRange => {
                write!(f, "\"x\" or \"y\" is not below the P-256 field prime")
            }
            KeyProblem::EcNotOnCurve => write!(f, "\"x\" and \"y\" are not a point on P-256"),
            KeyProblem::Ed25519Invalid => write!(f, "\"x\" is not a valid Ed25519 public key"),
            KeyProblem::SecretTooShort { bytes } => {
                write!(f, "\"k\" is {bytes} bytes; HS256 needs at least {MIN_HMAC_BYTES}")
            }
            KeyProblem::SecretFromRemote => write!(
                f,
                "is a shared secret (oct); those are accepted only from local_jwks, never from a fetched key set"
            ),
            KeyProblem::TooManyKeys => write!(
                f,
                "is past the first {} usable keys of the set",
                super::jwks::MAX_USABLE_KEYS
            ),
        }
    }
}

/// Where a key set came from, which decides whether shared secrets may be in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Local,
    Remote,
}

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Parses one member of a JWKS `keys` array.
pub fn parse(value: &Json, origin: Origin) -> Result<Jwk, KeyProblem> {
    if !matches!(value, Json::Object(_)) {
        return Err(KeyProblem::NotAnObject);
    }
    let kty = string(value, "kty")?.ok_or(KeyProblem::MissingMember("kty"))?;
    let kid = string(value, "kid")?.map(str::to_owned);
    if let Some(use_) = string(value, "use")? {
        if use_ != "sig" {
            return Err(KeyProblem::NotForSignatures(use_.to_owned()));
        }
    }
    if let Some(ops) = value.get("key_ops") {
        let ops = ops.as_array().ok_or(KeyProblem::BadMember {
            member: "key_ops",
            expected: "an array of strings",
        })?;
        let mut verify = false;
        for op in ops {
            let op = op.as_str().ok_or(KeyProblem::BadMember {
                member: "key_ops",
                expected: "an array of strings",
            })?;
            verify |= op == "verify";
        }
        if !verify {
            return Err(KeyProblem::NoVerifyOperation);
        }
    }
    let alg = match string(value, "alg")? {
        None => None,
        Some(name) => Some(
            Algorithm::from_name(name)
                .ok_or_else(|| KeyProblem::UnsupportedAlgorithm(name.to_owned()))?,
        ),
    };
    let (key, material) = match kty {
        "RSA" => rsa(value)?,
        "EC" => ec(value)?,
        "OKP" => okp(value)?,
        "oct" => oct(value, origin)?,
        other => return Err(KeyProblem::UnsupportedKeyType(other.to_owned())),
    };
    if let Some(alg) = alg {
        if !key.fits(alg) {
            return Err(KeyProblem::AlgorithmDoesNotFit {
                alg: alg.name(),
                kty: key.kty(),
            });
        }
    }
    let mut canonical = Vec::with_capacity(material.len() + 64);
    for part in [
        kid.as_deref().unwrap_or(""),
        alg.map_or("", Algorithm::name),
        key.kty(),
    ] {
        canonical.extend_from_slice(&(part.len() as u64).to_be_bytes());
        canonical.extend_from_slice(part.as_bytes());
    }
    canonical.extend_from_slice(&material);
    Ok(Jwk {
        kid,
        alg,
        key,
        material: canonical,
    })
}

fn rsa(value: &Json) -> Result<(VerifyingKey, Vec<u8>), KeyProblem> {
    refuse_private_members(value)?;
    let n = bytes(value, "n")?;
    let e = bytes(value, "e")?;
    let n_digits = strip_leading_zeros(&n);
    let bits = bit_length(n_digits);
    if bits < MIN_RSA_BITS {
        return Err(KeyProblem::RsaTooSmall { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyProblem::RsaTooLarge { bits });
    }
    if roca::has_fingerprint(n_digits) {
        return Err(KeyProblem::RsaRocaVulnerable);
    }
    // Refuses an even modulus and an exponent that is even, 1, or above 2^32 - 1.
    let key =
        RsaPublicKey::new(n_digits, &e).map_err(|err| KeyProblem::RsaInvalid(err.to_string()))?;
    let mut material = n_digits.to_vec();
    material.extend_from_slice(strip_leading_zeros(&e));
    Ok((VerifyingKey::Rsa(Box::new(key)), material))
}

fn ec(value: &Json) -> Result<(VerifyingKey, Vec<u8>), KeyProblem> {
    refuse_private_members(value)?;
    let crv = string(value, "crv")?.ok_or(KeyProblem::MissingMember("crv"))?;
    if crv != "P-256" {
        return Err(KeyProblem::UnsupportedCurve(crv.to_owned()));
    }
    let x = bytes(value, "x")?;
    let y = bytes(value, "y")?;
    // RFC 7518 §6.2.1.2: coordinates are full-length, leading zeros included.
    let (Ok(x), Ok(y)) = (
        <[u8; 32]>::try_from(x.as_slice()),
        <[u8; 32]>::try_from(y.as_slice()),
    ) else {
        return Err(KeyProblem::EcBadCoordinateLength);
    };
    // Checks that the point is on the curve (so of order n: the cofactor is
    // 1) and builds its table of multiples, once per key.
    let key = P256Key::new(&x, &y).map_err(|err| match err {
        PointError::CoordinateOutOfRange => KeyProblem::EcCoordinateOutOfRange,
        PointError::NotOnCurve => KeyProblem::EcNotOnCurve,
    })?;
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04); // uncompressed point
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    Ok((VerifyingKey::P256(key), sec1))
}

fn okp(value: &Json) -> Result<(VerifyingKey, Vec<u8>), KeyProblem> {
    refuse_private_members(value)?;
    let crv = string(value, "crv")?.ok_or(KeyProblem::MissingMember("crv"))?;
    if crv != "Ed25519" {
        return Err(KeyProblem::UnsupportedCurve(crv.to_owned()));
    }
    let x = bytes(value, "x")?;
    let key = Ed25519PublicKey::from_slice(&x).map_err(|_| KeyProblem::Ed25519Invalid)?;
    // Refuse non-canonical encodings and small-order points once, here;
    // verification would refuse them on every request otherwise.
    key.validate().map_err(|_| KeyProblem::Ed25519Invalid)?;
    Ok((VerifyingKey::Ed25519(key), x))
}

fn oct(value: &Json, origin: Origin) -> Result<(VerifyingKey, Vec<u8>), KeyProblem> {
    // A secret served over the network is known to whoever else can fetch it.
    if origin == Origin::Remote {
        return Err(KeyProblem::SecretFromRemote);
    }
    let k = bytes(value, "k")?;
    if k.len() < MIN_HMAC_BYTES {
        return Err(KeyProblem::SecretTooShort { bytes: k.len() });
    }
    Ok((VerifyingKey::Hmac(Hs256Key::new(&k)), k))
}

fn refuse_private_members(value: &Json) -> Result<(), KeyProblem> {
    if PRIVATE_MEMBERS.iter().any(|m| value.get(m).is_some()) {
        return Err(KeyProblem::PrivateKeyMaterial);
    }
    Ok(())
}

fn string<'a>(value: &'a Json, member: &'static str) -> Result<Option<&'a str>, KeyProblem> {
    match value.get(member) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyProblem::BadMember {
            member,
            expected: "a string",
        }),
    }
}

fn bytes(value: &Json, member: &'static str) -> Result<Vec<u8>, KeyProblem> {
    let text = string(value, member)?.ok_or(KeyProblem::MissingMember(member))?;
    base64url::decode(text).ok_or(KeyProblem::BadMember {
        member,
        expected: "unpadded base64url",
    })
}

/// Bits of a big-endian number without leading zero bytes.
fn bit_length(digits: &[u8]) -> usize {
    match digits.first() {
        None => 0,
        Some(&top) => digits.len() * 8 - top.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn jwk(text: &str, origin: Origin) -> Result<Jwk, KeyProblem> {
        parse(&Json::parse(text.as_bytes()).unwrap(), origin)
    }

    /// RFC 7515 A.2's 2048-bit modulus.
    const N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    /// RFC 7515 A.3's P-256 point.
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    /// RFC 8037 A.2's Ed25519 public key.
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    #[wasm_bindgen_test]
    fn parses_each_supported_key_type() {
        let rsa = jwk(
            &format!(r#"{{"kty":"RSA","kid":"r","n":"{N}","e":"AQAB","alg":"RS256"}}"#),
            Origin::Remote,
        )
        .unwrap();
        assert_eq!(
            (rsa.kid.as_deref(), rsa.alg, rsa.key.kty()),
            (Some("r"), Some(Algorithm::RS256), "RSA")
        );
        let ec = jwk(
            &format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"{Y}"}}"#),
            Origin::Remote,
        )
        .unwrap();
        assert_eq!((ec.kid, ec.alg, ec.key.kty()), (None, None, "EC"));
        let ed = jwk(
            &format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","use":"sig"}}"#),
            Origin::Remote,
        )
        .unwrap();
        assert_eq!(ed.key.kty(), "OKP");
        let oct = jwk(
            r#"{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
            Origin::Local,
        )
        .unwrap();
        assert_eq!(oct.key.kty(), "oct");
    }

    #[test]
    #[wasm_bindgen_test]
    fn key_alg_restricts_the_key() {
        let rsa = jwk(
            &format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","alg":"PS256"}}"#),
            Origin::Remote,
        )
        .unwrap();
        assert!(rsa.accepts(Algorithm::PS256));
        assert!(!rsa.accepts(Algorithm::RS256));
        assert!(!rsa.accepts(Algorithm::HS256));
        let any = jwk(
            &format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB"}}"#),
            Origin::Remote,
        )
        .unwrap();
        let fitting: Vec<_> = Algorithm::ALL
            .into_iter()
            .filter(|a| any.accepts(*a))
            .map(Algorithm::name)
            .collect();
        assert_eq!(
            fitting,
            ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn problems_are_named_and_classified() {
        use KeyProblem::*;
        let oct32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let cases: Vec<(String, KeyProblem, bool)> = vec![
            (r#""RSA""#.into(), NotAnObject, true),
            (r#"{"n":"AQAB"}"#.into(), MissingMember("kty"), true),
            (r#"{"kty":1}"#.into(), BadMember { member: "kty", expected: "a string" }, true),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","kid":5}}"#), BadMember { member: "kid", expected: "a string" }, true),
            (r#"{"kty":"RSA","n":"1234567890","e":"AQAB"}"#.into(), BadMember { member: "n", expected: "unpadded base64url" }, true),
            (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.into(), RsaTooSmall { bits: 17 }, true),
            (format!(r#"{{"kty":"RSA","n":"{N}"}}"#), MissingMember("e"), true),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","d":"AQAB"}}"#), PrivateKeyMaterial, true),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAA"}}"#), RsaInvalid(String::new()), true),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","alg":"ES256"}}"#), AlgorithmDoesNotFit { alg: "ES256", kty: "RSA" }, true),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","alg":"RSA-OAEP"}}"#), UnsupportedAlgorithm("RSA-OAEP".into()), false),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","alg":"none"}}"#), UnsupportedAlgorithm("none".into()), false),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","use":"enc"}}"#), NotForSignatures("enc".into()), false),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","key_ops":["encrypt"]}}"#), NoVerifyOperation, false),
            (format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","key_ops":"verify"}}"#), BadMember { member: "key_ops", expected: "an array of strings" }, true),
            (format!(r#"{{"kty":"EC","crv":"P-384","x":"{X}","y":"{Y}"}}"#), UnsupportedCurve("P-384".into()), false),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"{}"}}"#, &Y[1..]), BadMember { member: "y", expected: "unpadded base64url" }, true),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"{}"}}"#, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), EcNotOnCurve, true),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"AQAB"}}"#), EcBadCoordinateLength, true),
            // y = p: a coordinate that is not a field element.
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"_____wAAAAEAAAAAAAAAAAAAAAD_______________8"}}"#), EcCoordinateOutOfRange, true),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"{Y}","d":"AQAB"}}"#), PrivateKeyMaterial, true),
            (format!(r#"{{"kty":"OKP","crv":"X25519","x":"{ED_X}"}}"#), UnsupportedCurve("X25519".into()), false),
            // The identity point: small order.
            (r#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.into(), Ed25519Invalid, true),
            (r#"{"kty":"OKP","crv":"Ed25519","x":"AQAB"}"#.into(), Ed25519Invalid, true),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#.into(), SecretTooShort { bytes: 6 }, true),
            (r#"{"kty":"oct","k":""}"#.into(), SecretTooShort { bytes: 0 }, true),
            (format!(r#"{{"kty":"oct","k":"{oct32}","alg":"A256GCM"}}"#), UnsupportedAlgorithm("A256GCM".into()), false),
            (format!(r#"{{"kty":"oct","k":"{oct32}","alg":"RS256"}}"#), AlgorithmDoesNotFit { alg: "RS256", kty: "oct" }, true),
            (r#"{"kty":"PQC"}"#.into(), UnsupportedKeyType("PQC".into()), false),
        ];
        for (text, want, defect) in cases {
            let got = jwk(&text, Origin::Local).unwrap_err();
            match (&got, &want) {
                (RsaInvalid(_), RsaInvalid(_)) => {}
                _ => assert_eq!(got, want, "{text}"),
            }
            assert_eq!(got.is_defect(), defect, "{text}: {got}");
            assert!(!got.to_string().is_empty());
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn shared_secrets_are_refused_from_the_network() {
        let text = r#"{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert!(jwk(text, Origin::Local).is_ok());
        assert_eq!(
            jwk(text, Origin::Remote).unwrap_err(),
            KeyProblem::SecretFromRemote
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn rsa_size_limits() {
        // 2047 bits: a leading byte 0x7f then 255 bytes.
        let mut n = vec![0x7f];
        n.extend(std::iter::repeat_n(0xff, 255));
        let text = |n: &[u8]| {
            format!(
                r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#,
                base64url::encode(n)
            )
        };
        assert_eq!(
            jwk(&text(&n), Origin::Remote).unwrap_err(),
            KeyProblem::RsaTooSmall { bits: 2047 }
        );
        // Leading zero bytes do not count.
        let mut padded = vec![0, 0];
        padded.extend(&n);
        assert_eq!(
            jwk(&text(&padded), Origin::Remote).unwrap_err(),
            KeyProblem::RsaTooSmall { bits: 2047 }
        );
        let big = vec![0xff; 513];
        assert_eq!(
            jwk(&text(&big), Origin::Remote).unwrap_err(),
            KeyProblem::RsaTooLarge { bits: 4104 }
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn debug_output_never_shows_a_secret() {
        let secret = [0xabu8; 32];
        let text = format!(
            r#"{{"kty":"oct","kid":"hs","k":"{}"}}"#,
            base64url::encode(&secret)
        );
        let key = jwk(&text, Origin::Local).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(
            shown,
            r#"Jwk { kid: Some("hs"), alg: None, key: VerifyingKey(oct), .. }"#
        );
        let set =
            crate::jwt::JwkSet::parse_local(format!(r#"{{"keys":[{text}]}}"#).as_bytes()).unwrap();
        assert!(
            !format!("{set:?}").contains("171, 171"),
            "no bytes of the secret (0xab = 171)"
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn material_differs_by_kid_and_alg() {
        let a = jwk(
            &format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","kid":"a"}}"#),
            Origin::Remote,
        )
        .unwrap();
        let b = jwk(
            &format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB","kid":"b"}}"#),
            Origin::Remote,
        )
        .unwrap();
        let a2 = jwk(
            &format!(r#"{{"kid":"a","e":"AQAB","n":"{N}","kty":"RSA","use":"sig"}}"#),
            Origin::Remote,
        )
        .unwrap();
        assert_ne!(a.material, b.material);
        assert_eq!(a.material, a2.material);
    }
}
