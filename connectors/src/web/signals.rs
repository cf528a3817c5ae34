//! Publisher permission signals and the consent decision: robots.txt verdicts, W3C TDMRep
//! (`/.well-known/tdmrep.json`, `tdm-*` headers, `<meta name="tdm-*">`), `X-Robots-Tag` and
//! robots meta directives. Pure functions; the crawler fetches, these decide.

use masa_record::{Consent, ConsentBasis};
use serde::Deserialize;

/// Robots directives that apply to us (`noindex`, `nofollow`, `noai`, `noimageai`; `none` is
/// `noindex, nofollow`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Directives {
    pub noindex: bool,
    pub nofollow: bool,
    pub noai: bool,
    pub noimageai: bool,
}

/// Directives that carry a value after a colon, so `name:` is not an agent scope.
const VALUED: [&str; 4] = [
    "unavailable_after",
    "max-snippet",
    "max-image-preview",
    "max-video-preview",
];

impl Directives {
    /// Adds a comma-separated directive list (`noindex, nofollow`).
    pub fn add_list(&mut self, list: &str) {
        for d in list.split(',') {
            match d.trim().to_ascii_lowercase().as_str() {
                "noindex" => self.noindex = true,
                "nofollow" => self.nofollow = true,
                "none" => {
                    self.noindex = true;
                    self.nofollow = true;
                }
                "noai" => self.noai = true,
                "noimageai" => self.noimageai = true,
                _ => {}
            }
        }
    }

    /// Adds one `X-Robots-Tag` header value: `noindex, nofollow` applies to every agent,
    /// `gptbot: noai` only when `gptbot` is one of `agents` (lower case).
    pub fn add_header(&mut self, value: &str, agents: &[String]) {
        if let Some((scope, rest)) = value.split_once(':') {
            let scope = scope.trim().to_ascii_lowercase();
            if !scope.contains(',') && !VALUED.contains(&scope.as_str()) {
                if agents.contains(&scope) {
                    self.add_list(rest);
                }
                return;
            }
        }
        self.add_list(value);
    }

    pub fn merge(self, o: Directives) -> Directives {
        Directives {
            noindex: self.noindex || o.noindex,
            nofollow: self.nofollow || o.nofollow,
            noai: self.noai || o.noai,
            noimageai: self.noimageai || o.noimageai,
        }
    }
}

/// One entry of a TDMRep well-known file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TdmRule {
    pub location: String,
    #[serde(rename = "tdm-reservation", deserialize_with = "reservation")]
    pub reservation: bool,
    #[serde(rename = "tdm-policy", default)]
    pub policy: Option<String>,
}

fn reservation<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Number(n) => Ok(n.as_i64() == Some(1)),
        serde_json::Value::String(s) => Ok(s.trim() == "1"),
        serde_json::Value::Bool(b) => Ok(b),
        _ => Err(serde::de::Error::custom("tdm-reservation must be 0 or 1")),
    }
}

/// A parsed `/.well-known/tdmrep.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TdmFile {
    pub rules: Vec<TdmRule>,
}

impl TdmFile {
    /// Parses the file; entries that do not parse are skipped (a partly broken file still
    /// states the reservations it can).
    pub fn parse(bytes: &[u8]) -> Result<TdmFile, String> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let arr = v.as_array().ok_or("not a JSON array")?;
        let rules = arr
            .iter()
            .filter_map(|e| serde_json::from_value::<TdmRule>(e.clone()).ok())
            .collect();
        Ok(TdmFile { rules })
    }

    /// The first rule whose location matches `path` (a URL path with its query).
    pub fn lookup(&self, path: &str) -> Option<&TdmRule> {
        self.rules
            .iter()
            .find(|r| location_matches(&r.location, path))
    }
}

/// TDMRep locations use robots.txt path patterns: a prefix, `*` for any run of characters,
/// `$` at the end for the end of the path.
fn location_matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            at = part.len();
        } else if i == parts.len() - 1 && anchored {
            return path.len() >= at + part.len() && path.ends_with(part);
        } else {
            match path[at..].find(part) {
                Some(j) => at += j + part.len(),
                None => return false,
            }
        }
    }
    !anchored || at == path.len()
}

/// The TDM reservation in force for a page: the well-known file's first matching rule,
/// overridden by the `tdm-*` headers, overridden by the page's `tdm-*` meta.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tdm {
    pub reserved: bool,
    pub policy: Option<String>,
    /// Where the deciding statement came from (`file`, `header`, `meta`), or `None` when no
    /// statement was found.
    pub source: Option<&'static str>,
}

impl Tdm {
    pub fn from_file(rule: Option<&TdmRule>) -> Tdm {
        match rule {
            Some(r) => Tdm {
                reserved: r.reservation,
                policy: r.policy.clone(),
                source: Some("file"),
            },
            None => Tdm::default(),
        }
    }

    /// Applies a `tdm-reservation` statement (header or meta) and its policy.
    pub fn statement(
        self,
        reservation: Option<bool>,
        policy: Option<String>,
        source: &'static str,
    ) -> Tdm {
        match reservation {
            Some(reserved) => Tdm {
                reserved,
                policy: policy.or(if reserved { self.policy } else { None }),
                source: Some(source),
            },
            None => self,
        }
    }
}

/// The robots.txt verdict for one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotsVerdict {
    /// `allowed`, `disallowed`, `unavailable` (robots.txt failed with 5xx or a network
    /// error, which RFC 9309 treats as a full disallow), or `unknown` (nobody can tell any
    /// more: an archived page whose archive holds no robots.txt of its origin).
    pub state: &'static str,
    /// What decided, e.g. `gptbot: disallow` or `no robots.txt (404)`.
    pub rule: String,
}

impl RobotsVerdict {
    pub fn allowed(&self) -> bool {
        self.state == "allowed"
    }

    /// robots.txt could not be consulted, so it neither allows nor refuses; recorded as
    /// `unknown`, never as `allowed`.
    pub fn unknown(rule: impl Into<String>) -> RobotsVerdict {
        RobotsVerdict {
            state: "unknown",
            rule: rule.into(),
        }
    }

    /// The verdict refuses the URL: disallowed, or unavailable (RFC 9309). An unknown
    /// verdict does not refuse; whoever recorded it also records why it is unknown.
    pub fn refuses(&self) -> bool {
        matches!(self.state, "disallowed" | "unavailable")
    }
}

/// Publisher signals the contributor chose to override, each with its own flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overrides {
    pub robots: bool,
    pub tdm: bool,
    /// `noai`, `noimageai`, `noindex` and `none` (meta and `X-Robots-Tag`).
    pub noai: bool,
}

/// Why a page is not contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub detail: String,
}

/// The consent decision for a fetched page: the evidence to record, or the first signal
/// that refuses it (robots, then TDM, then noai, then noindex). An overridden signal lets
/// the page through and marks the evidence `overridden`.
pub fn decide(
    robots: &RobotsVerdict,
    tdm: &Tdm,
    directives: Directives,
    overrides: Overrides,
) -> Result<Consent, Refusal> {
    let mut overridden = false;
    let mut check = |refused: bool, flag: bool, reason: &'static str, detail: String| {
        if !refused {
            Ok(())
        } else if flag {
            overridden = true;
            Ok(())
        } else {
            Err(Refusal { reason, detail })
        }
    };
    check(
        robots.refuses(),
        overrides.robots,
        "robots",
        format!("robots.txt {}: {}", robots.state, robots.rule),
    )?;
    check(
        tdm.reserved,
        overrides.tdm,
        "tdm",
        format!(
            "TDM rights reserved ({}{})",
            tdm.source.unwrap_or("?"),
            tdm.policy
                .as_deref()
                .map(|p| format!(", policy {p}"))
                .unwrap_or_default()
        ),
    )?;
    let noai = directives.noai || directives.noimageai;
    check(
        noai,
        overrides.noai,
        "noai",
        "noai/noimageai directive".into(),
    )?;
    check(
        directives.noindex,
        overrides.noai,
        "noindex",
        "noindex/none directive".into(),
    )?;
    Ok(Consent {
        basis: ConsentBasis::PublisherSignals,
        robots: Some(robots.state.to_owned()),
        robots_rule: Some(robots.rule.clone()),
        tdm_reserved: Some(tdm.reserved),
        tdm_policy: tdm.policy.clone(),
        noai: Some(noai),
        declaration: None,
        overridden,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents() -> Vec<String> {
        vec!["masa".into(), "gptbot".into()]
    }

    #[test]
    fn x_robots_tag_applies_unscoped_and_our_agents_only() {
        let mut d = Directives::default();
        d.add_header("googlebot: noindex", &agents());
        assert_eq!(d, Directives::default());
        d.add_header("GPTBot: noai", &agents());
        assert!(d.noai);
        d.add_header("unavailable_after: 25 Jun 2010 15:00:00 PST", &agents());
        assert!(!d.noindex);
        d.add_header("noindex, nofollow", &agents());
        assert!(d.noindex && d.nofollow);
        let mut d = Directives::default();
        d.add_header("none", &agents());
        assert!(d.noindex && d.nofollow && !d.noai);
    }

    #[test]
    fn tdmrep_first_matching_location_wins_with_robots_patterns() {
        let f = TdmFile::parse(
            br#"[
              {"location": "/public/*.html$", "tdm-reservation": 0},
              {"location": "/public/", "tdm-reservation": 1, "tdm-policy": "https://s.test/p.json"},
              {"location": "/", "tdm-reservation": "0"},
              {"location": 5}
            ]"#,
        )
        .unwrap();
        assert_eq!(f.rules.len(), 3, "a broken entry is skipped, the rest kept");
        assert!(!f.lookup("/public/a.html").unwrap().reservation);
        assert!(f.lookup("/public/a.html?x=1").unwrap().reservation);
        assert!(f.lookup("/public/data.csv").unwrap().reservation);
        assert!(!f.lookup("/other").unwrap().reservation);
        assert!(TdmFile::parse(b"{}").is_err());
        assert!(TdmFile::parse(b"<html>").is_err());
    }

    #[test]
    fn location_patterns() {
        assert!(location_matches("/", "/anything"));
        assert!(location_matches("/a*c$", "/abc"));
        assert!(!location_matches("/a*c$", "/abcd"));
        assert!(location_matches("/a*c", "/abcd"));
        assert!(location_matches("/x$", "/x"));
        assert!(!location_matches("/x$", "/xy"));
        assert!(!location_matches("/b", "/a"));
    }

    #[test]
    fn headers_override_the_file_and_meta_overrides_headers() {
        let rule = TdmRule {
            location: "/".into(),
            reservation: true,
            policy: Some("p".into()),
        };
        let file = Tdm::from_file(Some(&rule));
        assert!(file.reserved);
        let header = file.clone().statement(Some(false), None, "header");
        assert!(!header.reserved && header.policy.is_none());
        let meta = header.statement(Some(true), Some("m".into()), "meta");
        assert_eq!(
            (meta.reserved, meta.policy.as_deref(), meta.source),
            (true, Some("m"), Some("meta"))
        );
        assert_eq!(file.clone().statement(None, None, "meta"), file);
    }

    fn allowed() -> RobotsVerdict {
        RobotsVerdict {
            state: "allowed",
            rule: "masa: allow".into(),
        }
    }

    #[test]
    fn decision_refuses_in_order_and_records_overrides() {
        let denied = RobotsVerdict {
            state: "disallowed",
            rule: "gptbot: disallow".into(),
        };
        let reserved = Tdm {
            reserved: true,
            policy: None,
            source: Some("header"),
        };
        let noai = Directives {
            noai: true,
            ..Default::default()
        };
        let none = Overrides::default();
        let r = |v: &RobotsVerdict, t: &Tdm, d, o| decide(v, t, d, o).map_err(|e| e.reason);
        let (allowed, unreserved) = (allowed(), Tdm::default());
        assert_eq!(r(&denied, &reserved, noai, none), Err("robots"));
        assert_eq!(r(&allowed, &reserved, noai, none), Err("tdm"));
        assert_eq!(r(&allowed, &unreserved, noai, none), Err("noai"));
        let noindex = Directives {
            noindex: true,
            ..Default::default()
        };
        assert_eq!(r(&allowed, &unreserved, noindex, none), Err("noindex"));
        let ok = decide(&allowed, &Tdm::default(), Directives::default(), none).unwrap();
        assert!(!ok.overridden);
        assert_eq!(ok.robots.as_deref(), Some("allowed"));
        assert_eq!((ok.tdm_reserved, ok.noai), (Some(false), Some(false)));
        let all = Overrides {
            robots: true,
            tdm: true,
            noai: true,
        };
        let forced = decide(&denied, &reserved, noai, all).unwrap();
        assert!(forced.overridden);
        assert_eq!(forced.robots.as_deref(), Some("disallowed"));
        assert_eq!(forced.tdm_reserved, Some(true));
        // An unknown verdict (an archive without robots.txt) neither refuses nor passes as
        // allowed.
        let unknown = decide(
            &RobotsVerdict::unknown("no capture"),
            &Tdm::default(),
            Directives::default(),
            none,
        )
        .unwrap();
        assert_eq!(unknown.robots.as_deref(), Some("unknown"));
        assert_eq!(
            r(&RobotsVerdict::unknown("x"), &reserved, noai, none),
            Err("tdm")
        );
        // An override flag for a signal that did not refuse is not recorded as used.
        let unused = decide(&allowed, &Tdm::default(), Directives::default(), all).unwrap();
        assert!(!unused.overridden);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tdmrep_files_and_directives_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024),
            path in "/[ -~]{0,30}",
            header in "[ -~]{0,60}",
        ) {
            if let Ok(f) = TdmFile::parse(&body) {
                let _ = f.lookup(&path);
            }
            let mut d = Directives::default();
            d.add_header(&header, &agents());
            d.add_list(&header);
        }

        #[test]
        fn location_patterns_never_panic(pattern in "[/*$a-z]{0,12}", path in "/[a-z/]{0,12}") {
            let _ = location_matches(&pattern, &path);
        }
    }
}
