//! URL normalization (one spelling per page, so the seen-set works) and the crawl scope.

use serde::{Deserialize, Serialize};
use url::Url;

/// The one spelling of a URL the crawler fetches and remembers, or `None` for URLs it never
/// fetches (other schemes, no host, user info).
///
/// Beyond what `url` already does (lowercase scheme and host, default port dropped, dot
/// segments removed, percent-encoding of unsafe bytes): the fragment is dropped, an empty
/// query is dropped, query parameters are sorted (stable, so repeated keys keep their order),
/// and percent-encoded unreserved characters (`%7E` → `~`) are decoded, with hex digits of
/// the rest in upper case.
pub fn normalize(u: &Url) -> Option<Url> {
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return None;
    }
    if !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    let mut u = u.clone();
    u.set_fragment(None);
    let path = canonical_escapes(u.path());
    if path != u.path() {
        u.set_path(&path);
    }
    match u.query() {
        None => {}
        Some("") => u.set_query(None),
        Some(q) => {
            let mut pairs: Vec<String> = q
                .split('&')
                .filter(|p| !p.is_empty())
                .map(canonical_escapes)
                .collect();
            pairs.sort_by(|a, b| key(a).cmp(key(b)));
            let q = pairs.join("&");
            u.set_query((!q.is_empty()).then_some(q.as_str()));
        }
    }
    Some(u)
}

/// Parses `href` against `base` and normalizes it.
pub fn resolve(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    normalize(&base.join(href).ok()?)
}

fn key(pair: &str) -> &str {
    pair.split('=').next().unwrap_or(pair)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` escapes of unreserved characters and upper-cases the hex of the others.
fn canonical_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let v = h * 16 + l;
            if is_unreserved(v) {
                out.push(v as char);
            } else {
                out.push('%');
                out.push(b[i + 1].to_ascii_uppercase() as char);
                out.push(b[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        // `s` is already percent-encoded ASCII (url guarantees it), so bytes are chars.
        out.push(b[i] as char);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// How far from the seeds a crawl may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// The seeds' hosts exactly.
    #[default]
    Host,
    /// The seeds' registrable domains (`docs.example.org` also reaches `www.example.org`):
    /// approximated as the last two labels of the host, or three when the second-to-last
    /// is short (`example.co.uk`).
    Domain,
    /// URLs that start with a seed URL (a site section).
    Prefix,
}

/// The crawl scope, fixed by the seeds and the include/exclude patterns.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Every URL is inside (for URLs a publisher listed, not links found by crawling).
    anywhere: bool,
    kind: ScopeKind,
    seeds: Vec<Url>,
    include: Vec<regex::Regex>,
    exclude: Vec<regex::Regex>,
}

impl Scope {
    pub fn new(
        kind: ScopeKind,
        seeds: &[Url],
        include: &[String],
        exclude: &[String],
    ) -> Result<Scope, String> {
        let compile = |pats: &[String]| {
            pats.iter()
                .map(|p| regex::Regex::new(p).map_err(|e| format!("pattern {p:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Scope {
            anywhere: false,
            kind,
            seeds: seeds.to_vec(),
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// A scope holding every URL: a feed's entries may live on any host, and each is still
    /// visited with every permission check.
    pub fn anywhere() -> Scope {
        Scope {
            anywhere: true,
            kind: ScopeKind::Host,
            seeds: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }

    /// Whether `u` is inside the scope (seeds are always inside unless excluded).
    pub fn contains(&self, u: &Url) -> bool {
        if self.anywhere {
            return true;
        }
        let s = u.as_str();
        if self.exclude.iter().any(|r| r.is_match(s)) {
            return false;
        }
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(s)) {
            return false;
        }
        self.seeds.iter().any(|seed| match self.kind {
            ScopeKind::Host => {
                seed.host_str() == u.host_str()
                    && seed.port_or_known_default() == u.port_or_known_default()
            }
            ScopeKind::Domain => match (seed.host_str(), u.host_str()) {
                (Some(a), Some(b)) => site(a) == site(b),
                _ => false,
            },
            ScopeKind::Prefix => s.starts_with(seed.as_str()),
        })
    }
}

/// The registrable part of a host, approximately (no public-suffix list).
fn site(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    let labels: Vec<&str> = host.rsplit('.').collect();
    let keep = match labels.as_slice() {
        [_, second, _, ..] if second.len() <= 3 && labels[0].len() == 2 => 3,
        _ => 2,
    };
    if labels.len() <= keep {
        return host;
    }
    let cut: usize = labels[..keep].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
    &host[host.len() - cut..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize(&Url::parse(s).unwrap()).map(|u| u.to_string())
    }

    #[test]
    fn normalization_gives_one_spelling_per_page() {
        let same = [
            "HTTP://Example.COM:80/a/./b/../c?b=2&a=1#frag",
            "http://example.com/a/c?a=1&b=2",
            "http://example.com/a/%63?a=1&b=2&",
        ];
        let want = Some("http://example.com/a/c?a=1&b=2".to_owned());
        for s in same {
            assert_eq!(n(s), want, "{s}");
        }
        assert_eq!(
            n("https://example.com"),
            Some("https://example.com/".into())
        );
        assert_eq!(
            n("https://example.com/?"),
            Some("https://example.com/".into())
        );
        assert_eq!(
            n("https://example.com:443/x"),
            Some("https://example.com/x".into())
        );
        assert_eq!(
            n("https://example.com:8443/x"),
            Some("https://example.com:8443/x".into())
        );
        assert_eq!(n("http://e.com/%7euser"), Some("http://e.com/~user".into()));
        assert_eq!(n("http://e.com/a%2fb"), Some("http://e.com/a%2Fb".into()));
        // Repeated keys keep their order; the sort is by key only.
        assert_eq!(
            n("http://e.com/?b=1&a=2&a=1"),
            Some("http://e.com/?a=2&a=1&b=1".into())
        );
    }

    #[test]
    fn urls_the_crawler_never_fetches_normalize_to_none() {
        for s in [
            "mailto:someone@example.com",
            "ftp://example.com/file",
            "javascript:alert(1)",
            "http://user:pw@example.com/",
            "data:text/html,hi",
        ] {
            assert_eq!(n(s), None, "{s}");
        }
    }

    #[test]
    fn relative_links_resolve_against_the_page_and_fragments_are_not_links() {
        let base = Url::parse("http://e.com/docs/page.html").unwrap();
        let r = |h| resolve(&base, h).map(|u| u.to_string());
        assert_eq!(
            r("other.html#x"),
            Some("http://e.com/docs/other.html".into())
        );
        assert_eq!(r("../up"), Some("http://e.com/up".into()));
        assert_eq!(r("//cdn.e.com/a"), Some("http://cdn.e.com/a".into()));
        assert_eq!(r("#top"), None);
        assert_eq!(r("  "), None);
    }

    #[test]
    fn scope_kinds_and_patterns() {
        let seed = Url::parse("http://docs.example.org/guide/").unwrap();
        let u = |s| Url::parse(s).unwrap();
        let host = Scope::new(ScopeKind::Host, std::slice::from_ref(&seed), &[], &[]).unwrap();
        assert!(host.contains(&u("http://docs.example.org/other")));
        assert!(!host.contains(&u("http://www.example.org/")));
        assert!(!host.contains(&u("http://docs.example.org:8080/")));
        let domain = Scope::new(ScopeKind::Domain, std::slice::from_ref(&seed), &[], &[]).unwrap();
        assert!(domain.contains(&u("http://www.example.org/")));
        assert!(!domain.contains(&u("http://example.com/")));
        let prefix = Scope::new(ScopeKind::Prefix, std::slice::from_ref(&seed), &[], &[]).unwrap();
        assert!(prefix.contains(&u("http://docs.example.org/guide/a")));
        assert!(!prefix.contains(&u("http://docs.example.org/other")));
        let pats = Scope::new(
            ScopeKind::Host,
            std::slice::from_ref(&seed),
            &["/guide/".into()],
            &[r"\.pdf$".into()],
        )
        .unwrap();
        assert!(pats.contains(&u("http://docs.example.org/guide/x")));
        assert!(!pats.contains(&u("http://docs.example.org/blog/x")));
        assert!(!pats.contains(&u("http://docs.example.org/guide/x.pdf")));
        assert!(Scope::new(ScopeKind::Host, &[seed], &["(".into()], &[]).is_err());
        assert_eq!(site("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(site("127.0.0.1"), "127.0.0.1");
    }

    proptest::proptest! {
        /// Normalizing is idempotent: a normalized URL is its own normal form.
        #[test]
        fn normalization_is_idempotent(
            path in "(/[a-zA-Z0-9%._~-]{0,6}){0,4}",
            query in proptest::option::of("[a-z]{1,3}=[a-z0-9%]{0,4}(&[a-z]{1,3}=[a-z0-9%]{0,4}){0,3}"),
        ) {
            let s = match &query {
                Some(q) => format!("http://Host.test{path}?{q}#f"),
                None => format!("http://Host.test{path}#f"),
            };
            if let Ok(u) = Url::parse(&s) {
                let once = normalize(&u).unwrap();
                proptest::prop_assert_eq!(normalize(&once).unwrap(), once);
            }
        }
    }
}
