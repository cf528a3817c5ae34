//! Consent evidence recorded with every record: why Masa believes it may contribute it.

use serde::{Deserialize, Serialize};

/// On what ground an item is considered permissioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentBasis {
    /// The contributor declares they hold the rights to the item (local files, own exports).
    ContributorDeclaration,
    /// The publisher's machine-readable signals (robots.txt, TDMRep, meta tags) allow it.
    PublisherSignals,
}

impl ConsentBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentBasis::ContributorDeclaration => "contributor_declaration",
            ConsentBasis::PublisherSignals => "publisher_signals",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contributor_declaration" => Some(Self::ContributorDeclaration),
            "publisher_signals" => Some(Self::PublisherSignals),
            _ => None,
        }
    }
}

/// The evidence stored in the `consent` struct column. Fields a connector cannot observe stay
/// `None` (a local file has no robots.txt); they are never guessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub basis: ConsentBasis,
    /// robots.txt decision for our agents: `allowed`, `disallowed`, `unavailable`.
    pub robots: Option<String>,
    /// The robots.txt rule that decided, verbatim.
    pub robots_rule: Option<String>,
    /// W3C TDMRep reservation in force for the item.
    pub tdm_reserved: Option<bool>,
    pub tdm_policy: Option<String>,
    /// A `noai` directive was seen (meta or header).
    pub noai: Option<bool>,
    /// The contributor's own declaration, verbatim.
    pub declaration: Option<String>,
    /// A publisher signal was overridden by an explicit flag.
    pub overridden: bool,
}

impl Consent {
    /// Consent resting on the contributor's declaration alone.
    pub fn declared(declaration: impl Into<String>) -> Self {
        Consent {
            basis: ConsentBasis::ContributorDeclaration,
            robots: None,
            robots_rule: None,
            tdm_reserved: None,
            tdm_policy: None,
            noai: None,
            declaration: Some(declaration.into()),
            overridden: false,
        }
    }
}
