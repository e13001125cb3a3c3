//! Fixtures, keys and token minting for the JWT tests.

use crate::jwt::base64url;
use crate::jwt::JwkSet;
use crate::jwt::{Algorithm, ClaimPath, HeaderSource, JwksSource, Provider};
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use serde_json::{json, Value};

pub const RFC7515_A1_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7515/A1_HS256.jwk.json");
pub const RFC7515_A1_JWS: &str = include_str!("../../../../fixtures/jose/rfc7515/A1_HS256.jws");
pub const RFC7515_A2_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7515/A2_RS256.jwk.json");
pub const RFC7515_A2_JWS: &str = include_str!("../../../../fixtures/jose/rfc7515/A2_RS256.jws");
pub const RFC7515_A3_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7515/A3_ES256.jwk.json");
pub const RFC7515_A3_JWS: &str = include_str!("../../../../fixtures/jose/rfc7515/A3_ES256.jws");
pub const RFC7515_A4_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7515/A4_ES512.jwk.json");
pub const RFC7515_A4_JWS: &str = include_str!("../../../../fixtures/jose/rfc7515/A4_ES512.jws");
pub const RFC7515_A5_JWS: &str = include_str!("../../../../fixtures/jose/rfc7515/A5_none.jws");
pub const RFC7520_RSA_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_1.rsa_v15_signature.RS256.jwk.json");
pub const RFC7520_4_1_JWS: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_1.rsa_v15_signature.RS256.jws");
pub const RFC7520_4_2_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_2.rsa-pss_signature.PS384.jwk.json");
pub const RFC7520_4_2_JWS: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_2.rsa-pss_signature.PS384.jws");
pub const RFC7520_4_3_JWK: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_3.ecdsa_signature.ES512.jwk.json");
pub const RFC7520_4_3_JWS: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_3.ecdsa_signature.ES512.jws");
pub const RFC7520_4_4_JWK: &str = include_str!(
    "../../../../fixtures/jose/rfc7520/4_4.hmac-sha2_integrity_protection.HS256.jwk.json"
);
pub const RFC7520_4_4_JWS: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_4.hmac-sha2_integrity_protection.HS256.jws");
pub const RFC7520_4_5_JWS: &str =
    include_str!("../../../../fixtures/jose/rfc7520/4_5.signature_with_detached_content.HS256.jws");
pub const COGNITO_HEADER: &str =
    include_str!("../../../../fixtures/jose/cognito/id_token_header.aws_docs.json");
pub const COGNITO_BASELINE: &str =
    include_str!("../../../../fixtures/jose/cognito/id_token_baseline_scenario.aws_docs.json");
pub const COGNITO_GROUPS: &str =
    include_str!("../../../../fixtures/jose/cognito/id_token_groups_scenario.aws_docs.json");
pub const COGNITO_DEFAULT: &str =
    include_str!("../../../../fixtures/jose/cognito/id_token_default_payload.aws_docs.json");
pub const COGNITO_JWKS: &str =
    include_str!("../../../../fixtures/jose/cognito/jwks_sample.aws_docs_legacy.json");

/// RFC 8037 A.1/A.2: an Ed25519 key pair.
pub const RFC8037_ED25519_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
/// RFC 8037 A.4: "Example of Ed25519 signing" signed with that key.
pub const RFC8037_ED25519_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/// A time inside the validity of the RFC 7515 examples (their `exp` is 1300819380).
pub const RFC7515_NOW: u64 = 1_300_000_000;
/// "Now" for tokens minted here: 2030-01-01.
pub const NOW: u64 = 1_893_456_000;
pub const ISSUER: &str = "https://issuer.example";

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The public half of a JWK: private members removed (an `oct` key is kept
/// whole, its secret is the key).
pub fn public_jwk(jwk: &str) -> Value {
    let mut v = json(jwk);
    if v["kty"] != "oct" {
        let obj = v.as_object_mut().unwrap();
        for m in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            obj.remove(m);
        }
    }
    v
}

/// `{"keys":[...]}`.
pub fn jwks_text(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

pub fn local_set(keys: &[Value]) -> JwkSet {
    JwkSet::parse_local(jwks_text(keys).as_bytes()).unwrap()
}

pub fn remote_set(keys: &[Value]) -> JwkSet {
    JwkSet::parse_remote(jwks_text(keys).as_bytes()).unwrap()
}

/// With a member added or replaced.
pub fn with(mut jwk: Value, member: &str, value: Value) -> Value {
    jwk.as_object_mut().unwrap().insert(member.into(), value);
    jwk
}

/// A private key that can sign test tokens.
pub enum Signer {
    Rsa(Box<RsaPrivateKey>),
    Ec(Box<<Es256 as jwt_compact::Algorithm>::SigningKey>),
    Ed(Box<<Ed25519 as jwt_compact::Algorithm>::SigningKey>),
    Hmac(Vec<u8>),
}

impl Signer {
    /// From a JWK holding the private key.
    pub fn from_jwk(jwk: &str) -> Signer {
        let parsed: JsonWebKey<'_> = serde_json::from_str(jwk).unwrap();
        match json(jwk)["kty"].as_str().unwrap() {
            "RSA" => Signer::Rsa(Box::new(RsaPrivateKey::try_from(&parsed).unwrap())),
            "EC" => Signer::Ec(Box::new((&parsed).try_into().unwrap())),
            "OKP" => Signer::Ed(Box::new((&parsed).try_into().unwrap())),
            "oct" => Signer::Hmac(base64url::decode(json(jwk)["k"].as_str().unwrap()).unwrap()),
            other => panic!("kty {other}"),
        }
    }

    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        match self {
            Signer::Rsa(key) => {
                // A name that is not an RSA algorithm (tests of refused `alg`
                // values) still gets a signature, an RS256 one.
                let rsa: Rsa = alg.parse().unwrap_or(Rsa::rs256());
                rsa.sign(key, input).as_bytes().to_vec()
            }
            Signer::Ec(key) => Es256.sign(key, input).as_bytes().to_vec(),
            // Without noise: deterministic RFC 8032 signatures (jwt-compact adds noise).
            Signer::Ed(key) => key.sign(input, None).to_vec(),
            Signer::Hmac(secret) => Hs256
                .sign(&Hs256Key::new(secret), input)
                .as_bytes()
                .to_vec(),
        }
    }
}

/// A compact JWS of exactly this header and payload text, signed by `signer`
/// with the header's `alg`.
pub fn mint(header: &str, claims: &str, signer: &Signer) -> String {
    let alg = json(header)["alg"].as_str().unwrap_or("RS256").to_owned();
    let input = format!(
        "{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(claims.as_bytes())
    );
    let signature = signer.sign(&alg, input.as_bytes());
    format!("{input}.{}", base64url::encode(&signature))
}

/// Claims valid at [`NOW`] for [`ISSUER`], with `extra` members added or replaced.
pub fn claims(extra: Value) -> String {
    let mut c = json!({"iss": ISSUER, "sub": "user-1", "iat": NOW - 60, "exp": NOW + 3600});
    for (k, v) in extra.as_object().unwrap() {
        c.as_object_mut().unwrap().insert(k.clone(), v.clone());
    }
    c.to_string()
}

/// The RFC 7515 A.2 RSA key (2048 bits), kid `rsa`.
pub fn rsa_signer() -> Signer {
    Signer::from_jwk(RFC7515_A2_JWK)
}
pub fn rsa_public() -> Value {
    with(public_jwk(RFC7515_A2_JWK), "kid", json!("rsa"))
}
/// The RFC 7515 A.3 P-256 key, kid `ec`.
pub fn ec_signer() -> Signer {
    Signer::from_jwk(RFC7515_A3_JWK)
}
pub fn ec_public() -> Value {
    with(public_jwk(RFC7515_A3_JWK), "kid", json!("ec"))
}
/// The RFC 8037 Ed25519 key, kid `ed`.
pub fn ed_signer() -> Signer {
    Signer::from_jwk(RFC8037_ED25519_JWK)
}
pub fn ed_public() -> Value {
    with(public_jwk(RFC8037_ED25519_JWK), "kid", json!("ed"))
}
/// The RFC 7520 RSA key (another 2048-bit key), kid `rsa-2`.
pub fn rsa2_signer() -> Signer {
    Signer::from_jwk(RFC7520_RSA_JWK)
}
pub fn rsa2_public() -> Value {
    with(public_jwk(RFC7520_RSA_JWK), "kid", json!("rsa-2"))
}

/// The asymmetric keys above, as a fetched JWKS would hold them.
pub fn idp_set() -> JwkSet {
    remote_set(&[rsa_public(), ec_public(), ed_public()])
}

/// A provider for [`ISSUER`] accepting every algorithm, with default headers.
pub fn provider() -> Provider {
    Provider {
        name: "p".into(),
        issuer: ISSUER.into(),
        audiences: vec![],
        token_use: vec![],
        algorithms: Algorithm::ALL.to_vec(),
        jwks: JwksSource::Local(crate::jwt::JwkSet::empty()),
        from_headers: vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        }],
        from_params: vec![],
        clock_skew_seconds: 60,
        roles_claim: None,
    }
}

pub fn roles_claim(path: &str) -> Option<ClaimPath> {
    Some(ClaimPath::parse(path).unwrap())
}

pub fn header(alg: &str, kid: &str) -> String {
    json!({"alg": alg, "kid": kid}).to_string()
}
