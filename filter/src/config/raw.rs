//! The configuration exactly as written: serde shapes of SPEC "Plugin configuration".
//! Unknown fields are refused here; every other rule is checked in `validate`.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub providers: OrderedMap<RawProvider>,
    #[serde(default)]
    pub bypass: Vec<RawBypass>,
    pub tools: Option<RawTools>,
    pub agentcore: Option<RawAgentCore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub issuer: String,
    pub audiences: Option<Vec<String>>,
    pub token_use: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub remote_jwks: Option<RawRemoteJwks>,
    pub local_jwks: Option<RawLocalJwks>,
    pub from_headers: Option<Vec<RawHeaderSource>>,
    pub clock_skew_seconds: Option<u64>,
    pub roles_claim: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteJwks {
    pub http_uri: RawHttpUri,
    pub cache_duration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpUri {
    pub uri: String,
    pub cluster: String,
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocalJwks {
    pub inline_string: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderSource {
    pub name: String,
    pub value_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBypass {
    pub path: Option<String>,
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTools {
    #[serde(default)]
    pub roles: OrderedMap<Vec<String>>,
    #[serde(default)]
    pub default: Vec<String>,
    pub max_frame_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentCore {
    #[serde(default)]
    pub forward_headers: OrderedMap<String>,
    #[serde(default)]
    pub claims_to_headers: OrderedMap<String>,
    pub allowed_tools_header: Option<String>,
    pub session: Option<RawSession>,
    #[serde(default)]
    pub trust_client_custom_headers: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    #[serde(default)]
    pub bind_to_subject: bool,
}

/// A JSON object kept in document order, refusing a name given twice.
/// Order matters: header mappings are dropped "in config order" when over the limits.
#[derive(Debug)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("{key:?} is given twice")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}
