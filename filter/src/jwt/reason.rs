//! Why a token was rejected: the `reason` of SPEC "Request answers".

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Malformed,
    AlgNotAllowed,
    UnknownIssuer,
    UnknownKid,
    BadSignature,
    Expired,
    NotYetValid,
    MissingExp,
    BadAudience,
    BadTokenUse,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::Malformed,
        Reason::AlgNotAllowed,
        Reason::UnknownIssuer,
        Reason::UnknownKid,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::MissingExp,
        Reason::BadAudience,
        Reason::BadTokenUse,
    ];

    /// The SPEC string, used in the body, in `toolguard.jwt.denied.<reason>` and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnknownIssuer => "unknown_issuer",
            Reason::UnknownKid => "unknown_kid",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::MissingExp => "missing_exp",
            Reason::BadAudience => "bad_audience",
            Reason::BadTokenUse => "bad_token_use",
        }
    }

    /// A sentence for the client; it never contains the token.
    pub fn message(self) -> &'static str {
        match self {
            Reason::Malformed => "the token is not a well-formed JWS compact JWT",
            Reason::AlgNotAllowed => "the token's signing algorithm is not allowed",
            Reason::UnknownIssuer => "the token's issuer is not a configured provider",
            Reason::UnknownKid => "no key of the issuer matches the token's key id",
            Reason::BadSignature => "the token's signature does not verify",
            Reason::Expired => "the token has expired",
            Reason::NotYetValid => "the token is not valid yet",
            Reason::MissingExp => "the token has no expiry (exp)",
            Reason::BadAudience => "the token was issued for another audience",
            Reason::BadTokenUse => "the token's token_use is not accepted",
        }
    }
}
