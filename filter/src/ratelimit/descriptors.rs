//! Descriptors out of the configuration and the caller (SPEC "Rate limits"):
//! an entry's value is a literal or comes from a claim, a header, a role, the
//! tool or the path; a descriptor with an entry whose source is absent is left out.

use super::proto::{Entry, RateLimitDescriptor, UInt64Value};
use crate::config::{Descriptor, EntrySource};
use crate::json::Json;
use crate::jwt::claims;

/// What descriptors may be built from: the authenticated caller and its request.
pub struct Subject<'a> {
    /// The verified claims (a token's, or those an API key stands for).
    pub claims: Option<&'a Json>,
    pub roles: &'a [String],
    /// `:path` without the query.
    pub path: &'a str,
    /// A request header's value by lower-case name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
}

/// The descriptors of `config` for this subject (and tool, under `tools`), each
/// with its own `hits_addend` when one is given.
pub fn build(
    config: &[Descriptor],
    subject: &Subject<'_>,
    tool: Option<&str>,
    hits_addend: Option<u64>,
) -> Vec<RateLimitDescriptor> {
    let mut out = Vec::new();
    for descriptor in config {
        let has_role = descriptor.iter().any(|e| e.source == EntrySource::Role);
        // One descriptor per role; none when the caller has no role.
        let roles: Vec<Option<&str>> = if has_role {
            subject.roles.iter().map(|r| Some(r.as_str())).collect()
        } else {
            vec![None]
        };
        for role in roles {
            let entries: Option<Vec<Entry>> = descriptor
                .iter()
                .map(|e| {
                    let value = match &e.source {
                        EntrySource::Value(v) => Some(v.clone()),
                        EntrySource::Claim(path) => subject
                            .claims
                            .and_then(|c| claims::claim(c, path))
                            .map(claims::value_text),
                        EntrySource::Header(name) => (subject.header)(name),
                        EntrySource::Role => role.map(str::to_owned),
                        EntrySource::Tool => tool.map(str::to_owned),
                        EntrySource::Path => Some(subject.path.to_owned()),
                    };
                    value.filter(|v| !v.is_empty()).map(|value| Entry {
                        key: e.key.clone(),
                        value,
                    })
                })
                .collect();
            if let Some(entries) = entries {
                out.push(RateLimitDescriptor {
                    entries,
                    hits_addend: hits_addend.map(|value| UInt64Value { value }),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DescriptorEntry;
    use crate::jwt::ClaimPath;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn entry(key: &str, source: EntrySource) -> DescriptorEntry {
        DescriptorEntry {
            key: key.into(),
            source,
        }
    }

    fn pairs(d: &RateLimitDescriptor) -> Vec<(String, String)> {
        d.entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    #[test]
    #[wasm_bindgen_test]
    fn every_source_fills_its_entry_and_an_absent_one_drops_the_descriptor() {
        let claims = Json::parse(br#"{"sub":"alice","org":{"id":7}}"#).unwrap();
        let roles = vec!["analysts".to_owned(), "admins".to_owned()];
        let header = |name: &str| (name == "x-tenant").then(|| "t1".to_owned());
        let subject = Subject {
            claims: Some(&claims),
            roles: &roles,
            path: "/invocations",
            header: &header,
        };
        let config = vec![
            vec![
                entry("user", EntrySource::Claim(ClaimPath::parse("sub").unwrap())),
                entry(
                    "org",
                    EntrySource::Claim(ClaimPath::parse("org.id").unwrap()),
                ),
                entry("tenant", EntrySource::Header("x-tenant".into())),
                entry("path", EntrySource::Path),
                entry("kind", EntrySource::Value("requests".into())),
            ],
            vec![entry("role", EntrySource::Role)],
            vec![entry("missing", EntrySource::Header("x-none".into()))],
            vec![entry("tool", EntrySource::Tool)],
        ];
        let built = build(&config, &subject, None, None);
        assert_eq!(built.len(), 3, "{built:?}");
        assert_eq!(
            pairs(&built[0]),
            [
                ("user".to_owned(), "alice".to_owned()),
                ("org".to_owned(), "7".to_owned()),
                ("tenant".to_owned(), "t1".to_owned()),
                ("path".to_owned(), "/invocations".to_owned()),
                ("kind".to_owned(), "requests".to_owned()),
            ]
        );
        assert_eq!(
            pairs(&built[1]),
            [("role".to_owned(), "analysts".to_owned())]
        );
        assert_eq!(pairs(&built[2]), [("role".to_owned(), "admins".to_owned())]);
        assert!(built.iter().all(|d| d.hits_addend.is_none()));

        let with_tool = build(&config[3..], &subject, Some("search"), Some(0));
        assert_eq!(
            pairs(&with_tool[0]),
            [("tool".to_owned(), "search".to_owned())]
        );
        assert_eq!(with_tool[0].hits_addend, Some(UInt64Value { value: 0 }));
    }

    #[test]
    #[wasm_bindgen_test]
    fn no_roles_means_no_role_descriptor_and_no_claims_no_claim_descriptor() {
        let header = |_: &str| None;
        let subject = Subject {
            claims: None,
            roles: &[],
            path: "/",
            header: &header,
        };
        let config = vec![
            vec![entry("role", EntrySource::Role)],
            vec![entry(
                "user",
                EntrySource::Claim(ClaimPath::parse("sub").unwrap()),
            )],
        ];
        assert!(build(&config, &subject, None, None).is_empty());
    }
}
