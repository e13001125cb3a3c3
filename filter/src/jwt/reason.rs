//! Why a token was refused: the SPEC `reason` values and the words sent with them.

/// One SPEC "Request answers" `reason`. Messages never contain token text: they
/// go to the client, to logs and into a `WWW-Authenticate` quoted string.
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
    /// An API key (SPEC "API keys") whose hash is not in `api_keys.keys`.
    UnknownApiKey,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
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
        Reason::UnknownApiKey,
    ];

    /// The SPEC string: the body's `reason` and the `toolguard.jwt.denied.<reason>` metric.
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
            Reason::UnknownApiKey => "unknown_api_key",
        }
    }

    /// A sentence for the body's `message` and the `error_description`: plain
    /// ASCII without `"` or `\`, so it can be quoted in a header as it is.
    pub fn message(self) -> &'static str {
        match self {
            Reason::Malformed => "the token is not a well-formed signed JWT",
            Reason::AlgNotAllowed => "the token's signing algorithm is not accepted",
            Reason::UnknownIssuer => "the token's issuer is not accepted here",
            Reason::UnknownKid => "no key of the issuer matches the token's key id and algorithm",
            Reason::BadSignature => "the token's signature is not valid",
            Reason::Expired => "the token has expired",
            Reason::NotYetValid => "the token is not valid yet",
            Reason::MissingExp => "the token has no expiry time (exp)",
            Reason::BadAudience => "the token is not meant for this audience",
            Reason::BadTokenUse => "the token's token_use is not accepted",
            Reason::UnknownApiKey => "the API key is not known here",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[test]
    #[wasm_bindgen_test]
    fn strings_are_the_spec_reasons() {
        let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "malformed",
                "alg_not_allowed",
                "unknown_issuer",
                "unknown_kid",
                "bad_signature",
                "expired",
                "not_yet_valid",
                "missing_exp",
                "bad_audience",
                "bad_token_use",
                "unknown_api_key"
            ]
        );
    }

    #[test]
    #[wasm_bindgen_test]
    fn messages_can_be_quoted_in_a_header() {
        for r in Reason::ALL {
            let m = r.message();
            assert!(!m.is_empty());
            assert!(
                m.bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'),
                "{r}: {m}"
            );
        }
    }
}
