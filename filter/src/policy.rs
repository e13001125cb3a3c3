//! Which tools a caller may use: the union of its roles' entries and `tools.default`.

/// One allowlist entry: an exact, case-sensitive name, a prefix (`search_*`), or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolPattern {
    Exact(String),
    Prefix(String),
    Any,
}

impl ToolPattern {
    /// Parses one entry; a `*` anywhere but at the end is refused, since it would
    /// look like a glob that it is not.
    pub fn parse(entry: &str) -> Result<ToolPattern, String> {
        if entry.is_empty() {
            return Err("a tool entry cannot be empty".into());
        }
        if entry == "*" {
            return Ok(ToolPattern::Any);
        }
        let (head, star) = match entry.strip_suffix('*') {
            Some(head) => (head, true),
            None => (entry, false),
        };
        if head.contains('*') {
            return Err(format!(
                "{entry:?}: `*` may only end an entry (a prefix like \"search_*\") or stand alone"
            ));
        }
        Ok(if star {
            ToolPattern::Prefix(head.to_owned())
        } else {
            ToolPattern::Exact(head.to_owned())
        })
    }

    pub fn matches(&self, tool: &str) -> bool {
        match self {
            ToolPattern::Exact(name) => name == tool,
            ToolPattern::Prefix(prefix) => tool.starts_with(prefix.as_str()),
            ToolPattern::Any => true,
        }
    }

    /// The entry as written in the configuration.
    pub fn text(&self) -> String {
        match self {
            ToolPattern::Exact(name) => name.clone(),
            ToolPattern::Prefix(prefix) => format!("{prefix}*"),
            ToolPattern::Any => "*".to_owned(),
        }
    }
}

/// The tools one caller may use, resolved once per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    patterns: Vec<ToolPattern>,
}

impl Allowlist {
    /// The caller's allowlist: `default` plus the entries of each role it holds.
    /// Roles the configuration does not name grant nothing.
    pub fn for_roles<'a>(
        tools: &ToolsConfig,
        roles: impl IntoIterator<Item = &'a str>,
    ) -> Allowlist {
        let mut patterns: Vec<ToolPattern> = Vec::new();
        let mut add = |p: &ToolPattern| {
            if !patterns.contains(p) {
                patterns.push(p.clone());
            }
        };
        tools.default.iter().for_each(&mut add);
        for role in roles {
            for (name, entries) in &tools.roles {
                if name == role {
                    entries.iter().for_each(&mut add);
                }
            }
        }
        Allowlist { patterns }
    }

    pub fn allows(&self, tool: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(tool))
    }

    pub fn patterns(&self) -> &[ToolPattern] {
        &self.patterns
    }

    /// The entries joined with `,`, for the agent's allowed-tools header.
    pub fn joined(&self) -> String {
        let texts: Vec<String> = self.patterns.iter().map(ToolPattern::text).collect();
        texts.join(",")
    }
}

/// The validated `tools` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsConfig {
    pub roles: Vec<(String, Vec<ToolPattern>)>,
    pub default: Vec<ToolPattern>,
    pub max_frame_bytes: usize,
}

pub const DEFAULT_MAX_FRAME_BYTES: usize = 65536;

#[cfg(test)]
impl Allowlist {
    /// An allowlist of exactly these entries (as `tools.default`), for tests.
    pub fn of(entries: &[&str]) -> Allowlist {
        let tools = ToolsConfig {
            roles: vec![],
            default: entries
                .iter()
                .map(|e| ToolPattern::parse(e).unwrap())
                .collect(),
            max_frame_bytes: 65536,
        };
        Allowlist::for_roles(&tools, [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn tools(roles: &[(&str, &[&str])], default: &[&str]) -> ToolsConfig {
        let parse = |xs: &[&str]| xs.iter().map(|x| ToolPattern::parse(x).unwrap()).collect();
        ToolsConfig {
            roles: roles
                .iter()
                .map(|(r, xs)| (r.to_string(), parse(xs)))
                .collect(),
            default: parse(default),
            max_frame_bytes: 65536,
        }
    }

    #[test]
    #[wasm_bindgen_test]
    fn patterns_match_exactly_by_prefix_or_all() {
        assert!(ToolPattern::parse("get_weather")
            .unwrap()
            .matches("get_weather"));
        assert!(!ToolPattern::parse("get_weather")
            .unwrap()
            .matches("Get_weather"));
        assert!(!ToolPattern::parse("get_weather")
            .unwrap()
            .matches("get_weather2"));
        assert!(ToolPattern::parse("search_*")
            .unwrap()
            .matches("search_filings"));
        assert!(ToolPattern::parse("search_*").unwrap().matches("search_"));
        assert!(!ToolPattern::parse("search_*").unwrap().matches("research"));
        assert!(ToolPattern::parse("*").unwrap().matches("anything"));
    }

    #[test]
    #[wasm_bindgen_test]
    fn refuses_misplaced_stars_and_empty_entries() {
        assert!(ToolPattern::parse("").is_err());
        assert!(ToolPattern::parse("*_report").is_err());
        assert!(ToolPattern::parse("a*b*").is_err());
    }

    #[test]
    #[wasm_bindgen_test]
    fn union_of_roles_and_default() {
        let t = tools(
            &[
                ("analysts", &["search_filings", "generate_report"]),
                ("admins", &["*"]),
            ],
            &["time_now"],
        );
        let analyst = Allowlist::for_roles(&t, ["analysts", "unknown-role"]);
        assert!(analyst.allows("search_filings"));
        assert!(analyst.allows("time_now"));
        assert!(!analyst.allows("delete_everything"));
        assert_eq!(analyst.joined(), "time_now,search_filings,generate_report");
        assert!(Allowlist::for_roles(&t, ["admins"]).allows("delete_everything"));
        let nobody = Allowlist::for_roles(&t, []);
        assert!(nobody.allows("time_now") && !nobody.allows("search_filings"));
    }
}
