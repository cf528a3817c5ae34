//! Finding a page's main content: boilerplate is pruned by what elements say they are (tag,
//! ARIA role, class and id words, hidden), then text blocks score their ancestors by length,
//! commas and link density, and the best-scoring container is kept together with the
//! siblings that carry content of their own.

use super::attr;
use ego_tree::NodeId;
use ego_tree::iter::Edge;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use scraper::{ElementRef, Html, Node};

/// Elements never part of the main text.
const DROP_TAGS: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "iframe",
    "button",
    "select",
    "input",
    "textarea",
    "head",
    "menu",
    "dialog",
    "object",
    "embed",
    "canvas",
    "audio",
    "video",
    "map",
    "figcaption",
    "picture",
    // Ruby annotations give the reading of the characters they sit on, not more text.
    "rt",
    "rp",
];

/// Elements that are furniture unless they wrap the page: an `<aside>` is a side note, but
/// some templates put the whole article in one; a `<form>` is a search or login box, but
/// ASP.NET pages put the whole page in one.
const WRAPPING_TAGS: &[&str] = &["aside", "form"];

/// ARIA roles of page furniture.
const DROP_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "menu",
    "menubar",
    "dialog",
    "alertdialog",
    "tablist",
    "toolbar",
    "button",
];

/// Class or id words that name page furniture; matched inside longer words too, where
/// they touch an edge of the word (`site-footer`, `navbar`, `cookieConsent`; see
/// [`names_furniture`]).
const DROP_WORDS: &[&str] = &[
    "navbar",
    "navigation",
    "footer",
    "sidebar",
    "breadcrumb",
    "cookie-",
    "cookie_",
    "cookiebanner",
    "cookieconsent",
    "cookienotice",
    "cookiebar",
    "consent",
    "gdpr",
    "newsletter",
    "subscribe",
    "signup",
    "advert",
    "sponsor",
    "social",
    "sharing",
    "share-",
    "comment",
    "disqus",
    "related",
    "recommend",
    "popup",
    "modal",
    "masthead",
    "pagination",
    "pager",
    "toolbar",
    "promo",
    "banner",
    "skip-link",
    "skiplink",
    "menu",
    "docnav",
    "navheader",
    "navfooter",
    "sphinxsidebar",
    "toc-",
    "byline",
    "dialog",
    "login",
    "paywall",
    "readmore",
    "read-more",
    "screen-reader",
    "caption",
    "credit",
    "copyright",
    "disclaimer",
];

/// Whole class or id words (split on `-` and `_`) that name page furniture.
const DROP_EXACT: &[&str] = &[
    "nav", "ad", "ads", "adsense", "share", "tags", "tag", "related", "meta", "author", "date",
    "dateline", "none", "sr", "print", "time", "teaser", "btn", "button",
];

/// Class or id words of content containers.
const KEEP_WORDS: &[&str] = &[
    "content", "article", "main", "body", "post", "entry", "text", "story", "prose", "document",
    "section",
];

/// Furniture words that documentation also uses for boxed notes inside the content
/// (DocBook's `sidebar`): an element whose class is only these is kept when it reads as
/// prose; as an id (`id="sidebar"`) it names the page's one sidebar.
const SOFT_WORDS: &[&str] = &["sidebar"];

/// Soft furniture inside longer words: page builders call every content block a `widget`
/// (`elementor-widget-text-editor`), as blogs call their sidebar boxes.
const SOFT_PARTS: &[&str] = &["widget"];

/// What an element's own markup says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Content,
    /// Page furniture, with all it holds.
    Furniture,
    /// Furniture by its class or id words: pruned unless it wraps the content (templates
    /// give loose names to the wrappers of whole pages: `elementor-widget-wrap`,
    /// `padding-top-40`, `has-sidebar`; see [`first_look`] for when a block wraps).
    Named,
    /// Furniture by its tag, unless it wraps the content (see [`WRAPPING_TAGS`]).
    Wrapping,
    /// Furniture by name only (`sidebar`): kept if it turns out to hold prose.
    MaybeFurniture,
}

/// One automaton for all the furniture words, matched inside the class and id words.
static DROP_MATCHER: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(DROP_WORDS).expect("furniture words build an automaton")
    });

/// The class and id words of an element, lowercased, into `buf` (one allocation reused).
fn words_of<'b>(el: &scraper::node::Element, buf: &'b mut String) -> impl Iterator<Item = &'b str> {
    buf.clear();
    for v in attr(el, "class").into_iter().chain(attr(el, "id")) {
        buf.push_str(v);
        buf.push(' ');
    }
    buf.make_ascii_lowercase();
    buf.split_ascii_whitespace()
}

/// Whether a lowercased class or id word holds a furniture word that touches one of the
/// word's edges: its start or end, a `-`, `_` or digit, or a change to upper case in the
/// original spelling (`site-footer`, `submenu`, `cookieConsent`, `commentlist`; not the
/// `pager` inside `APageRoot`). `original` is the word as written.
fn names_furniture(lower: &str, original: &str) -> bool {
    let o = original.as_bytes();
    let edge_before = |i: usize| {
        i == 0
            || matches!(o[i - 1], b'-' | b'_' | b'0'..=b'9')
            || (o[i].is_ascii_uppercase() && o[i - 1].is_ascii_lowercase())
    };
    let edge_after = |j: usize| {
        j == lower.len()
            || matches!(o[j], b'-' | b'_' | b'0'..=b'9')
            || (o[j].is_ascii_uppercase() && o[j - 1].is_ascii_lowercase())
    };
    DROP_MATCHER
        .find_overlapping_iter(lower)
        .any(|m| edge_before(m.start()) || edge_after(m.end()))
}

/// Whether an element (and all it holds) is page furniture rather than content.
pub(super) fn verdict(el: &scraper::node::Element) -> Verdict {
    let name = el.name();
    if WRAPPING_TAGS.contains(&name) {
        return Verdict::Wrapping;
    }
    if DROP_TAGS.contains(&name) {
        return Verdict::Furniture;
    }
    // The attributes read in one pass: scraper's `attr` interns the name it is asked for on
    // every call, and six such calls an element cost more than the tests themselves.
    let (mut class, mut id, mut style, mut role) = (None, None, None, None);
    for (k, v) in el.attrs() {
        match k {
            "hidden" => return Verdict::Furniture,
            "aria-hidden" if v.trim() == "true" => return Verdict::Furniture,
            "class" => class = Some(v),
            "id" => id = Some(v),
            "style" => style = Some(v),
            "role" => role = Some(v),
            _ => {}
        }
    }
    if let Some(style) = style {
        let s: String = style.to_ascii_lowercase().split_whitespace().collect();
        if s.contains("display:none") || s.contains("visibility:hidden") {
            return Verdict::Furniture;
        }
    }
    if let Some(role) = role
        && DROP_ROLES.contains(&role.trim().to_ascii_lowercase().as_str())
    {
        return Verdict::Furniture;
    }
    // Content words win over furniture words (`article-footer` is furniture, but
    // `post-content related` is not dropped for `related`).
    let (mut hard, mut soft) = (false, false);
    let mut lower = String::new();
    let class = class.into_iter().flat_map(str::split_ascii_whitespace);
    let id = id.into_iter().flat_map(str::split_ascii_whitespace);
    for (original, is_id) in class.map(|w| (w, false)).chain(id.map(|w| (w, true))) {
        lower.clear();
        lower.push_str(original);
        lower.make_ascii_lowercase();
        let w = lower.as_str();
        // A content word is the last part of the name (`entry-content`, `article-body`);
        // as a first part it names a part of the content (`post-meta`, `article-date`).
        if KEEP_WORDS.iter().any(|k| {
            w == *k
                || w.strip_suffix(k)
                    .is_some_and(|rest| rest.ends_with(['-', '_']))
        }) && !w.contains("footer")
            && !w.contains("sidebar")
        {
            return Verdict::Content;
        }
        // An id names one region of the page: `id="sidebar"` is the site's sidebar, where
        // `class="sidebar"` may be a boxed note in the text.
        if (SOFT_WORDS.contains(&w) && !is_id) || SOFT_PARTS.iter().any(|k| w.contains(k)) {
            soft = true;
        } else if names_furniture(w, original)
            || w.split(['-', '_']).any(|part| DROP_EXACT.contains(&part))
        {
            hard = true;
        }
    }
    if matches!(name, "body" | "html" | "main" | "article") {
        Verdict::Content
    } else if hard {
        Verdict::Named
    } else if soft {
        Verdict::MaybeFurniture
    } else {
        Verdict::Content
    }
}

/// Per-element text measures over the unpruned subtree.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Mass {
    /// Characters of text (whitespace runs count once).
    pub text: u32,
    /// Characters of text inside links.
    pub links: u32,
    /// Content score accumulated from text blocks below.
    pub score: f32,
}

impl Mass {
    pub fn link_density(&self) -> f32 {
        if self.text == 0 {
            0.0
        } else {
            self.links as f32 / self.text as f32
        }
    }
}

/// Elements whose own text makes a text block that scores its ancestors.
const BLOCKS: &[&str] = &[
    "p",
    "pre",
    "blockquote",
    "td",
    "dd",
    "li",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "figcaption",
];

fn text_len(s: &str) -> (u32, u32) {
    let mut n = 0u32;
    let mut commas = 0u32;
    let mut space = true;
    for c in s.chars() {
        if c.is_whitespace() {
            if !space {
                n += 1;
                space = true;
            }
        } else {
            n += 1;
            space = false;
            if matches!(c, ',' | '，' | '、' | '،') {
                commas += 1;
            }
        }
    }
    (n, commas)
}

/// What the analysis found: the pruned elements and the text measures of the others.
pub(super) struct Analysis {
    pub pruned: HashSet<NodeId>,
    pub mass: HashMap<NodeId, Mass>,
}

/// The first look at a page: each element's verdict (when not plain content), and which of
/// the elements that are furniture by their names ([`Verdict::Named`]) or tag
/// ([`Verdict::Wrapping`]) are in fact the wrappers of the page's content.
struct FirstLook {
    verdicts: HashMap<NodeId, Verdict>,
    wrappers: HashSet<NodeId>,
}

/// Text held by an element in the first look: all of it, and the part outside any
/// `<aside>` or `<form>`, which alone counts towards the page's text.
#[derive(Default, Clone, Copy)]
struct Held {
    all: u32,
    page: u32,
}

fn is_main(el: &scraper::node::Element) -> bool {
    el.name() == "main" || attr(el, "role").is_some_and(|r| r.trim() == "main")
}

/// Text is counted leaving out only what tag, role or hiding make furniture. An element
/// named like furniture, or an `<aside>` or `<form>`, is a wrapper when it holds the page's
/// `<main>`, or half the text of the `<main>` it is in; a named one also when it holds half
/// the page's text (a template's loose names: `elementor-widget-wrap`, `padding-top-40`,
/// `has-sidebar`, `mmenu-pagewrapper`). An aside or form outside `<main>` never is: a
/// sidebar can hold half a short page's text.
fn first_look(doc: &Html) -> FirstLook {
    let mut verdicts = HashMap::default();
    let mut wrappers = HashSet::default();
    // Named or wrapping elements: (verdict, text held, the `<main>` they are in).
    let mut named: Vec<(NodeId, Verdict, Held, Option<NodeId>)> = Vec::new();
    let mut mains: HashMap<NodeId, u32> = HashMap::default();
    // Open elements: (id, text held so far, verdict, whether a main).
    let mut stack: Vec<(NodeId, Held, Verdict, bool)> = Vec::new();
    let mut open_mains: Vec<NodeId> = Vec::new();
    let mut skipping = 0usize;
    // Open `<aside>` and `<form>` elements: their text counts for the page once they turn
    // out to wrap it, not before (a newsletter form must not tip a wrapper under half).
    let mut wrapping = 0usize;
    let mut total = 0u32;
    for edge in doc.root_element().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    if skipping > 0 {
                        skipping += 1;
                        continue;
                    }
                    let v = verdict(el);
                    if v != Verdict::Content {
                        verdicts.insert(node.id(), v);
                    }
                    if v == Verdict::Furniture {
                        skipping = 1;
                        continue;
                    }
                    let main = is_main(el);
                    if main {
                        wrappers.extend(
                            stack
                                .iter()
                                .filter(|e| matches!(e.2, Verdict::Named | Verdict::Wrapping))
                                .map(|e| e.0),
                        );
                        open_mains.push(node.id());
                    }
                    if v == Verdict::Wrapping {
                        wrapping += 1;
                    }
                    stack.push((node.id(), Held::default(), v, main));
                }
                Node::Text(t) if skipping == 0 => {
                    let n = text_len(t).0;
                    if wrapping == 0 {
                        total += n;
                    }
                    if let Some(top) = stack.last_mut() {
                        top.1.all += n;
                        if wrapping == 0 {
                            top.1.page += n;
                        }
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if !node.value().is_element() {
                    continue;
                }
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                let Some((id, n, v, main)) = stack.pop() else {
                    continue;
                };
                if let Some(parent) = stack.last_mut() {
                    parent.1.all += n.all;
                    parent.1.page += n.page;
                }
                if main {
                    open_mains.pop();
                    mains.insert(id, n.all);
                }
                if v == Verdict::Wrapping {
                    wrapping -= 1;
                }
                if matches!(v, Verdict::Named | Verdict::Wrapping) {
                    named.push((id, v, n, open_mains.last().copied()));
                }
            }
        }
    }
    for (id, v, n, main) in named {
        let half_of_main = main
            .and_then(|m| mains.get(&m))
            .is_some_and(|&m| n.all * 2 >= m);
        let half_of_page = v == Verdict::Named && n.page * 2 >= total;
        if half_of_main || half_of_page {
            wrappers.insert(id);
        }
    }
    FirstLook { verdicts, wrappers }
}

/// Measures every element in one pass without recursion, and prunes boilerplate.
/// `trust_names` off keeps what class and id words call furniture: the second try on a page
/// whose names hid all its text.
pub(super) fn analyse(doc: &Html, trust_names: bool) -> Analysis {
    let look = first_look(doc);
    let wrapper = |id: NodeId| look.wrappers.contains(&id);
    let mut pruned = HashSet::default();
    let mut maybe = HashSet::default();
    let mut mass: HashMap<NodeId, Mass> = HashMap::default();
    // Open elements: (id, own text chars, own commas, accumulated mass).
    let mut stack: Vec<(NodeId, u32, u32, Mass)> = Vec::new();
    let mut skipping = 0usize;
    let mut in_link = 0usize;
    // Open `<article>`/`<main>` elements: a `<header>` or `<footer>` inside one holds the
    // title, byline or notes of the content, elsewhere it is the site's.
    let mut in_article = 0usize;
    for edge in doc.root_element().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let site_furniture =
                        matches!(el.name(), "header" | "footer") && in_article == 0;
                    let v = if skipping > 0 || site_furniture {
                        Verdict::Furniture
                    } else {
                        match look
                            .verdicts
                            .get(&node.id())
                            .copied()
                            .unwrap_or(Verdict::Content)
                        {
                            Verdict::Named if !trust_names || wrapper(node.id()) => {
                                Verdict::Content
                            }
                            Verdict::Wrapping if wrapper(node.id()) => Verdict::Content,
                            Verdict::Named | Verdict::Wrapping => Verdict::Furniture,
                            v => v,
                        }
                    };
                    if v == Verdict::Furniture {
                        if skipping == 0 {
                            pruned.insert(node.id());
                        }
                        skipping += 1;
                        continue;
                    }
                    if v == Verdict::MaybeFurniture {
                        maybe.insert(node.id());
                    }
                    match el.name() {
                        "a" => in_link += 1,
                        "article" | "main" => in_article += 1,
                        _ => {}
                    }
                    stack.push((node.id(), 0, 0, Mass::default()));
                }
                Node::Text(t) if skipping == 0 => {
                    let (n, commas) = text_len(t);
                    if let Some(top) = stack.last_mut() {
                        top.1 += n;
                        top.2 += commas;
                        top.3.text += n;
                        if in_link > 0 {
                            top.3.links += n;
                        }
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                let Node::Element(el) = node.value() else {
                    continue;
                };
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                match el.name() {
                    "a" => in_link -= 1,
                    "article" | "main" => in_article -= 1,
                    _ => {}
                }
                let Some((id, own, commas, m)) = stack.pop() else {
                    continue;
                };
                let n = stack.len();
                // Named furniture that holds no prose is pruned now that its text is known.
                if maybe.contains(&id) && !(m.text >= 150 && m.link_density() < 0.15) {
                    pruned.insert(id);
                    continue;
                }
                if n > 0 {
                    let parent = &mut stack[n - 1].3;
                    parent.text += m.text;
                    parent.links += m.links;
                }
                // A text block scores its parent fully and the two levels above by half and
                // a third, as long as it has some substance.
                let block = BLOCKS.contains(&el.name()) || (el.name() == "div" && own >= 25);
                if block && m.text >= 25 {
                    let s = (1.0 + commas as f32 + (m.text as f32 / 100.0).min(3.0))
                        * (1.0 - m.link_density());
                    for (k, w) in [(1, 1.0), (2, 0.5), (3, 1.0 / 3.0)] {
                        if n >= k {
                            stack[n - k].3.score += s * w;
                        }
                    }
                }
                mass.insert(id, m);
            }
        }
    }
    Analysis { pruned, mass }
}

/// Whole class or id words (split on `-` and `_`) that name the lead of a text.
const LEAD_WORDS: &[&str] = &[
    "lead",
    "leader",
    "intro",
    "standfirst",
    "chapo",
    "chapeau",
    "bajada",
    "dek",
    "deck",
    "summary",
    "abstract",
    "excerpt",
    "subtitle",
    "subheadline",
];

fn names_lead(el: &scraper::node::Element) -> bool {
    let mut buf = String::new();
    words_of(el, &mut buf).any(|w| w.split(['-', '_']).any(|part| LEAD_WORDS.contains(&part)))
}

fn bonus(el: &scraper::node::Element) -> f32 {
    let mut b = match el.name() {
        "article" | "main" => 1.3,
        "td" | "blockquote" | "pre" => 0.9,
        "ul" | "ol" | "dl" | "form" | "li" => 0.6,
        "body" => 0.8,
        _ => 1.0,
    };
    let mut buf = String::new();
    if words_of(el, &mut buf).any(|w| KEEP_WORDS.iter().any(|k| w.contains(k))) {
        b *= 1.25;
    }
    b
}

/// The elements holding the main content, in document order: the best-scoring container
/// and those of its siblings that score well or are text paragraphs of their own. `None`
/// when nothing scored (a page without text blocks): the caller keeps the whole body.
pub(super) fn main_content<'a>(doc: &'a Html, a: &Analysis) -> Option<Vec<ElementRef<'a>>> {
    // Every element that scored, with its score (computed once: `bonus` reads its names).
    let scored: Vec<(ElementRef<'a>, f32)> = doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter_map(|el| {
            let m = a.mass.get(&el.id())?;
            (m.score > 0.0).then(|| (el, m.score * (1.0 - m.link_density()) * bonus(el.value())))
        })
        .collect();
    let (mut top, top_score) = scored
        .iter()
        .copied()
        .reduce(|best, c| if c.1 > best.1 { c } else { best })?;
    // Content split over several blocks (posts of a thread, sections of a page) makes
    // several near-equal candidates: when two others score close to the best, their lowest
    // common container with it holds the content.
    let close: Vec<ElementRef<'a>> = scored
        .iter()
        .filter(|(el, s)| {
            el.id() != top.id()
                && *s >= 0.75 * top_score
                && !top.ancestors().any(|a| a.id() == el.id())
                && !el.ancestors().any(|a| a.id() == top.id())
        })
        .map(|(el, _)| *el)
        .collect();
    if close.len() >= 2
        && let Some(common) = top.ancestors().filter_map(ElementRef::wrap).find(|anc| {
            close
                .iter()
                .filter(|c| c.ancestors().any(|x| x.id() == anc.id()))
                .count()
                >= 2
        })
    {
        top = common;
    }
    // A container holding less than 60 % of the page's unlinked text (pruned furniture
    // aside) is a fragment of the content (one definition of a list, one section of a
    // reference page, one part of an article split by boxes): climb.
    let unlinked = |el: &ElementRef<'_>| a.mass.get(&el.id()).map_or(0, |m| m.text - m.links);
    let page = unlinked(&doc.root_element());
    while unlinked(&top) * 5 < page * 3 {
        match top.parent().and_then(ElementRef::wrap) {
            Some(p) if a.mass.contains_key(&p.id()) && p.value().name() != "html" => top = p,
            _ => break,
        }
    }
    // An `<article>` is one self-contained composition, and `<main>` the page's main
    // content: paragraphs and subheadings of the article (else of the main) that come
    // before the container (its lead, standfirst, subtitle) belong to the content too.
    let mut lead: Vec<ElementRef<'a>> = Vec::new();
    let composition = |name: &str| {
        top.ancestors()
            .filter_map(ElementRef::wrap)
            .find(|el| el.value().name() == name)
    };
    let article = composition("article").or_else(|| composition("main"));
    // A block named as the lead (`lead`, `intro`, `standfirst`, `chapo`...) that comes
    // before the container, in its article or within three levels above it, opens the
    // content.
    let scope = article.or_else(|| top.ancestors().filter_map(ElementRef::wrap).nth(2));
    if let Some(scope) = scope {
        for el in scope.descendants().filter_map(ElementRef::wrap) {
            if el.id() == top.id() {
                break;
            }
            let Some(m) = a.mass.get(&el.id()) else {
                continue;
            };
            if lead
                .last()
                .is_some_and(|l| el.ancestors().any(|x| x.id() == l.id()))
            {
                continue;
            }
            let prose = m.text >= 40 && m.link_density() < 0.25;
            let kept = match el.value().name() {
                _ if prose && names_lead(el.value()) => true,
                _ if article.is_none() => false,
                "p" => prose,
                "h2" | "h3" | "h4" | "h5" | "h6" => m.text >= 10 && m.link_density() < 0.5,
                _ => false,
            };
            if kept && !top.ancestors().any(|x| x.id() == el.id()) {
                lead.push(el);
            }
        }
    }
    let Some(parent) = top.parent().and_then(ElementRef::wrap) else {
        lead.push(top);
        return Some(lead);
    };
    let threshold = (top_score * 0.2).max(10.0);
    let mut out = lead;
    for sib in parent.children().filter_map(ElementRef::wrap) {
        if sib.id() == top.id() {
            out.push(sib);
            continue;
        }
        let Some(m) = a.mass.get(&sib.id()) else {
            continue;
        };
        if out.iter().any(|l: &ElementRef<'_>| l.id() == sib.id()) {
            continue;
        }
        let s = m.score * (1.0 - m.link_density()) * bonus(sib.value());
        let paragraph = m.text >= 40 && m.link_density() < 0.25;
        let heading = matches!(sib.value().name(), "h1" | "h2" | "h3") && m.link_density() < 0.5;
        if s >= threshold || paragraph || heading {
            out.push(sib);
        }
    }
    Some(out)
}
