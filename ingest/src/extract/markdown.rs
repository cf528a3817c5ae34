//! Rendering the kept elements as light Markdown: headings, paragraphs, lists, code blocks,
//! block quotes and tables keep their structure; links keep their text. Iterative, so deeply
//! nested markup cannot overflow the stack.

use super::attr;
use super::content::Analysis;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Node};

/// Blocks set off by a blank line.
const PARAGRAPH: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "table",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "figure",
    "hr",
    "address",
    "details",
];

/// Blocks that start a new line.
const LINE: &[&str] = &[
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "li",
    "dt",
    "dd",
    "tr",
    "figcaption",
    "summary",
    "caption",
    "center",
    "body",
];

#[derive(Default)]
struct Writer {
    out: String,
    /// Prefix of each new line: block-quote markers and list indentation.
    prefix: String,
    /// Open `<pre>` elements.
    pre: usize,
    /// Open lists: ordered, and the next number.
    lists: Vec<(bool, u32)>,
    /// In a table: cells written on the current row, rows written.
    table: Vec<(usize, usize)>,
    /// Text was written since the last line start.
    dirty: bool,
}

impl Writer {
    fn line(&mut self, blank: bool) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.dirty {
            // Turn a line break into a blank line when asked, never more.
            if blank && !self.out.is_empty() && !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
            return;
        }
        self.out.push('\n');
        if blank {
            self.out.push('\n');
        }
        self.dirty = false;
    }

    fn start_text(&mut self) {
        if !self.dirty {
            self.out.push_str(&self.prefix);
            self.dirty = true;
        }
    }

    fn text(&mut self, s: &str) {
        if self.pre > 0 {
            for (i, part) in s.split('\n').enumerate() {
                if i > 0 {
                    self.out.push('\n');
                    self.dirty = false;
                }
                if !part.is_empty() {
                    self.start_text();
                    self.out.push_str(part);
                }
            }
            return;
        }
        let lead = s.starts_with(char::is_whitespace);
        let mut first = true;
        for w in s.split_whitespace() {
            if self.dirty && (!first || lead) && !self.out.ends_with([' ', '(', '\n']) {
                self.out.push(' ');
            }
            self.start_text();
            self.out.push_str(w);
            first = false;
        }
        if s.ends_with(char::is_whitespace) && self.dirty && !self.out.ends_with(' ') {
            self.out.push(' ');
        }
    }

    fn raw(&mut self, s: &str) {
        self.start_text();
        self.out.push_str(s);
    }
}

/// Link-heavy blocks inside the content (tables of contents, tag lists, "see also" link
/// rows) are left out unless they carry real text, and lists made only of links whatever
/// their length; so are short paragraphs and headings that are mostly a link, and short
/// links standing as blocks of their own: they point to another page ("Read more: …",
/// teaser headlines, "Back to the list").
fn link_block(a: &Analysis, el: &ElementRef<'_>) -> bool {
    if el.value().name() == "a" {
        return standalone(el) && el.text().map(|t| t.trim().chars().count()).sum::<usize>() < 100;
    }
    let Some(m) = a.mass.get(&el.id()) else {
        return false;
    };
    match el.value().name() {
        // A list of nothing but links is a menu or a teaser list, however long.
        "ul" | "ol" => m.link_density() > 0.9 || (m.link_density() > 0.6 && m.text < 400),
        "div" | "table" | "section" | "dl" => m.link_density() > 0.6 && m.text < 400,
        "p" | "h2" | "h3" | "h4" | "h5" | "h6" => m.link_density() > 0.5 && m.text < 200,
        _ => false,
    }
}

/// Whether an element stands as a block of its own: its parent is a container, not a
/// paragraph, list item or cell, and the nodes next to it are blocks, not text running on.
fn standalone(el: &ElementRef<'_>) -> bool {
    let Some(parent) = el.parent().and_then(ElementRef::wrap) else {
        return false;
    };
    let block = |n: Option<ego_tree::NodeRef<'_, Node>>| match n.map(|n| n.value()) {
        None => true,
        Some(Node::Text(t)) => t.trim().is_empty(),
        Some(Node::Element(e)) => !INLINE.contains(&e.name()),
        Some(_) => true,
    };
    matches!(
        parent.value().name(),
        "div" | "section" | "article" | "main" | "header" | "footer" | "body" | "center"
    ) && block(skip_blank(el.prev_sibling(), true))
        && block(skip_blank(el.next_sibling(), false))
}

/// Whether a block repeats the description (`alt`) of the picture just before it: the
/// picture's caption, written out as text beside it ("Logo of the committee (archive)").
fn alt_repeated(el: &ElementRef<'_>) -> bool {
    if !matches!(el.value().name(), "div" | "p" | "span") {
        return false;
    }
    let Some(prev) = skip_blank(el.prev_sibling(), true) else {
        return false;
    };
    // The picture, or a link or box around it, two levels deep at most.
    let alt = std::iter::once(prev)
        .chain(prev.children())
        .chain(prev.children().flat_map(|c| c.children()))
        .find_map(|n| {
            let e = n.value().as_element()?;
            (e.name() == "img").then(|| attr(e, "alt")).flatten()
        });
    let Some(alt) = alt.map(str::trim).filter(|a| a.len() >= 8) else {
        return false;
    };
    let text: String = el.text().collect();
    text.split_whitespace().eq(alt.split_whitespace())
}

/// `n`, or the first sibling from it (backwards when `back`) that is not blank text.
fn skip_blank(
    mut n: Option<ego_tree::NodeRef<'_, Node>>,
    back: bool,
) -> Option<ego_tree::NodeRef<'_, Node>> {
    while let Some(x) = n
        && x.value().as_text().is_some_and(|t| t.trim().is_empty())
    {
        n = if back {
            x.prev_sibling()
        } else {
            x.next_sibling()
        };
    }
    n
}

/// Elements that run inside a line of text.
const INLINE: &[&str] = &[
    "a", "span", "em", "strong", "b", "i", "u", "code", "abbr", "cite", "q", "small", "sub", "sup",
    "mark", "time", "br", "img",
];

/// The heading level of a rendered block (`## Title` is 2), or `None`.
fn heading_level(block: &str) -> Option<usize> {
    let n = block.bytes().take_while(|&b| b == b'#').count();
    (n > 0 && block.as_bytes().get(n) == Some(&b' ')).then_some(n)
}

/// Drops headings that head nothing: followed by a heading of the same or a higher level,
/// or by the end of the text (the title of a link list that was left out, "More on this").
fn drop_empty_headings<'t>(blocks: &[&'t str]) -> Vec<&'t str> {
    let mut kept: Vec<&str> = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        if let Some(level) = heading_level(b) {
            let next = blocks[i + 1..].first();
            let heads_nothing = next.is_none_or(|n| heading_level(n).is_some_and(|l| l <= level));
            if heads_nothing {
                continue;
            }
        }
        kept.push(b);
    }
    kept
}

/// Writes `roots` (and what they hold, minus pruned and link-heavy parts) as Markdown.
pub(super) fn render(roots: &[ElementRef<'_>], a: &Analysis) -> String {
    let mut w = Writer::default();
    for root in roots {
        write_tree(&mut w, *root, a);
        w.line(true);
    }
    // The rendered blocks, less credit lines, advertising, newsletter prompts, closing
    // notes, closing boxes of reading tips and headings left empty.
    let blocks: Vec<&str> = w
        .out
        .trim_end()
        .split("\n\n")
        .filter(|b| !furniture_line(b))
        .collect();
    let blocks = without_related_end(without_closing_notes(&blocks));
    drop_empty_headings(blocks).join("\n\n")
}

/// Headings of a box of links to other pages: the publisher's reading tips, not the text.
const RELATED_HEADINGS: &[&str] = &[
    "related",
    "you may also like",
    "you might also like",
    "more from",
    "more on this",
    "read more",
    "read also",
    "recommended",
    "mehr zum thema",
    "lesen sie auch",
    "auch interessant",
    "das könnte",
    "weitere beiträge",
    "weitere artikel",
    "ähnliche beiträge",
    "verwandte",
    "empfehlungen",
    "vous aimerez",
    "lire aussi",
    "sur le même sujet",
    "sur le sujet",
    "te puede interesar",
    "lee también",
    "relacionad",
    "czytaj też",
    "zobacz też",
    "polecamy",
];

/// The blocks without a closing box of reading tips: from a heading that names one ("More
/// on this", "Lesen Sie auch", "Vous aimerez aussi") to the end of the text, when the box
/// holds teasers and all that follows it is short blocks (teasers, and other boxes of
/// them: "Most read", "Events"). Such a box inside the text, or one holding a paragraph,
/// is left alone: it cannot be told from the text.
fn without_related_end<'b, 't>(blocks: &'b [&'t str]) -> &'b [&'t str] {
    // The level of a heading that names reading tips.
    let related = |b: &str| {
        let l = heading_level(b)?;
        let title = b[l..].trim().to_lowercase();
        (title.chars().count() < 60 && RELATED_HEADINGS.iter().any(|p| title.contains(p)))
            .then_some(l)
    };
    let cut = blocks.iter().enumerate().position(|(i, b)| {
        let rest = &blocks[i + 1..];
        related(b).is_some_and(|l| {
            // A heading left empty (its links dropped) says nothing of what comes after.
            rest.first()
                .is_some_and(|n| heading_level(n).is_none_or(|m| m > l))
                && rest.iter().all(|n| n.chars().count() < NOTE_MAX_CHARS)
        })
    });
    &blocks[..cut.unwrap_or(blocks.len())]
}

/// Labels that open a credit line: a picture's credit or a source ("Foto: dpa", "Credit:
/// Getty"), the byline ("Von: Jane Doe", "Text: John Roe") or where the text is filed
/// ("Kategorie: News", "Tags: trams").
const CREDIT_LABELS: &[&str] = &[
    "foto",
    "fotos",
    "photo",
    "photos",
    "bild",
    "bilder",
    "image",
    "images",
    "credit",
    "credits",
    "crédit",
    "crédits",
    "crédits photos",
    "photo credit",
    "quelle",
    "quellen",
    "source",
    "fuente",
    "fotocredit",
    "bildnachweis",
    "bildquelle",
    "titelbild",
    "beitragsbild",
    "copyright",
    "©",
    // Bylines
    "von",
    "by",
    "autor",
    "autorin",
    "author",
    "text",
    "texto",
    "par",
    "por",
    // Filing
    "kategorie",
    "kategorien",
    "category",
    "categories",
    "tags",
    "schlagwörter",
    "schlagworte",
];

/// Picture agencies whose name ends a credit line ("Augusta National/Getty Images").
const AGENCIES: &[&str] = &[
    "getty images",
    "afp",
    "dpa",
    "reuters",
    "ap photo",
    "imago",
    "picture alliance",
    "shutterstock",
    "istock",
    "adobe stock",
    "keystone",
    "epa",
];

/// Whether a block is a credit line, labeled as advertising or a newsletter prompt,
/// wherever it stands: all are short, and looked at in lowercase once.
fn furniture_line(block: &str) -> bool {
    let b = block.trim();
    let chars = b.chars().count();
    if chars >= NOTE_MAX_CHARS || heading_level(b).is_some() {
        return false;
    }
    let lower = b.to_lowercase();
    (chars < CREDIT_MAX_CHARS && credit_line(&lower))
        || advertising(&lower)
        || (chars < PROMPT_MAX_CHARS && newsletter_prompt(&lower))
}

/// Newsletter prompts are shorter than this.
const PROMPT_MAX_CHARS: usize = 150;

/// Verbs of signing up, in the languages of [`NOTE_PHRASES`].
const SIGN_UP: &[&str] = &[
    "sign up",
    "signing up",
    "subscribe",
    "abonnier",
    "anmelden",
    "inscri",
    "suscr",
    "iscriviti",
    "zapisz",
];

/// A block (`lower`, lowercased) asking the reader to sign up for the newsletter ("Never
/// miss the latest news by signing up to our newsletter today!"): a box set in the text
/// wherever the template puts it, not the text's own, unlike the closing notes, whose
/// words a story may use and so are dropped only at its end.
fn newsletter_prompt(lower: &str) -> bool {
    lower.contains("newsletter") && SIGN_UP.iter().any(|v| lower.contains(v))
}

/// Credit lines are shorter than this.
const CREDIT_MAX_CHARS: usize = 120;

/// A picture credit or source line (`lower`, lowercased): it starts with a credit label
/// and a colon, or ends with a picture agency's name or a short `©` credit.
fn credit_line(lower: &str) -> bool {
    let labeled = lower.split_once(':').is_some_and(|(label, _)| {
        CREDIT_LABELS.contains(&label.trim().trim_start_matches(['(', '[']))
    }) || lower.starts_with('©');
    let by_agency = AGENCIES.iter().any(|a| {
        lower.ends_with(a) && lower[..lower.len() - a.len()].ends_with([' ', '/', '(', ':'])
    });
    // A caption that ends with its credit: "Marco Odermatt, ski star. © AFP / Jane Doe".
    let credited = lower
        .rsplit_once('©')
        .is_some_and(|(_, tail)| tail.trim().chars().count() < 50);
    labeled || by_agency || credited
}

/// Labels that mark a block as advertising.
const AD_LABELS: &[&str] = &[
    "anzeige",
    "werbung",
    "advertisement",
    "sponsored",
    "publicidad",
    "publicité",
    "pubblicità",
    "reklama",
];

/// A block (`lower`, lowercased) labeled as advertising: it opens with an ad label standing
/// alone, set off by punctuation or ending the block ("ANZEIGE - Heute mal ausgehen?",
/// "*Werbung. Dieser Beitrag...", "Advertisement"); "Werbung nervt." opens a sentence about
/// ads.
fn advertising(lower: &str) -> bool {
    let lower = lower.trim_start_matches(['*', '[', '(', ' ', '_']);
    AD_LABELS.iter().any(|l| {
        lower.strip_prefix(l).is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.is_empty() || rest.starts_with(['-', '–', '—', ':', '.', '|', ')', ']', '*'])
        })
    })
}

/// Phrases of a publisher's note to its readers, not of the text: calls to subscribe,
/// follow, download the app, comment or support the site, advertising, reprint terms. In the
/// languages of the web masa sees most; matched in lowercase.
const NOTE_PHRASES: &[&str] = &[
    // English
    "subscribe",
    "sign up",
    "donate",
    "signing up",
    "newsletter",
    "download the",
    "download our",
    "follow us",
    "like us on",
    "join our",
    "support our",
    "support us",
    "copyrighted",
    "all rights reserved",
    "reprint",
    "written permission",
    "leave a comment",
    "leave a reply",
    "logged in to",
    "log in to comment",
    "sign in to comment",
    // German
    "abonnier",
    "folge uns",
    "folgen sie uns",
    "unterstütze",
    "spende",
    "unterstützen sie",
    "anzeige",
    "werbung",
    "alle rechte vorbehalten",
    "eingeloggt sein",
    "um kommentare",
    "kommentar schreiben",
    "kommentieren zu können",
    // Spanish and Portuguese
    "suscríbete",
    "suscribete",
    "síguenos",
    "siguenos",
    "deja un comentario",
    "únete",
    "nuestro canal",
    "todos los derechos reservados",
    "inscreva-se",
    "siga-nos",
    "todos os direitos reservados",
    // French
    "abonnez-vous",
    "suivez-nous",
    "inscrivez-vous",
    "laisser un commentaire",
    "tous droits réservés",
    // Italian and Polish
    "iscriviti",
    "seguici",
    "tutti i diritti riservati",
    "subskrybuj",
    "obserwuj nas",
    "wszelkie prawa zastrzeżone",
];

static NOTE_MATCHER: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(NOTE_PHRASES).expect("note phrases build an automaton")
    });

/// A publisher's note: a short block that speaks to the reader about the site.
fn closing_note(block: &str) -> bool {
    block.chars().count() < NOTE_MAX_CHARS
        && heading_level(block).is_none()
        && NOTE_MATCHER.is_match(&block.to_lowercase())
}

/// Blocks this long or longer are text, whatever they say.
const NOTE_MAX_CHARS: usize = 300;

/// The blocks without the publishers' notes at their end, where templates append them
/// ("Subscribe now for the full story", "This article is the copyrighted property of …"):
/// from the end inwards until a block that is not one. Before that point such words are
/// the text's own.
fn without_closing_notes<'b, 't>(blocks: &'b [&'t str]) -> &'b [&'t str] {
    let notes = blocks
        .iter()
        .rev()
        .take_while(|b| closing_note(b) || heading_level(b).is_some())
        .count();
    &blocks[..blocks.len() - notes]
}

fn write_tree(w: &mut Writer, root: ElementRef<'_>, a: &Analysis) {
    let mut skipping = 0usize;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(t) if skipping == 0 => w.text(t),
                Node::Element(el) => {
                    if skipping > 0
                        || a.pruned.contains(&node.id())
                        || ElementRef::wrap(node)
                            .is_some_and(|e| link_block(a, &e) || alt_repeated(&e))
                    {
                        skipping += 1;
                        continue;
                    }
                    open(w, el.name());
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    if skipping > 0 {
                        skipping -= 1;
                        continue;
                    }
                    close(w, el.name());
                }
            }
        }
    }
}

fn open(w: &mut Writer, name: &str) {
    if PARAGRAPH.contains(&name) {
        w.line(true);
    } else if LINE.contains(&name) {
        w.line(false);
    }
    match name {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = (name.as_bytes()[1] - b'0') as usize;
            w.raw(&format!("{} ", "#".repeat(level)));
        }
        "pre" => {
            w.raw("```");
            w.line(false);
            w.pre += 1;
        }
        "code" | "kbd" | "samp" if w.pre == 0 => w.raw("`"),
        "br" => w.line(false),
        "blockquote" => w.prefix.push_str("> "),
        "ul" | "ol" => {
            w.lists.push((name == "ol", 1));
        }
        "li" => {
            let depth = w.lists.len().saturating_sub(1);
            let marker = match w.lists.last_mut() {
                Some((true, n)) => {
                    *n += 1;
                    format!("{}. ", *n - 1)
                }
                _ => "- ".to_owned(),
            };
            w.raw(&format!("{}{marker}", "  ".repeat(depth)));
        }
        "table" => w.table.push((0, 0)),
        "td" | "th" => {
            if let Some((cells, _)) = w.table.last_mut() {
                let first = *cells == 0;
                *cells += 1;
                w.raw(if first { "| " } else { " | " });
            }
        }
        "hr" => {
            w.raw("---");
            w.line(true);
        }
        _ => {}
    }
}

fn close(w: &mut Writer, name: &str) {
    match name {
        "pre" => {
            w.pre = w.pre.saturating_sub(1);
            w.line(false);
            w.raw("```");
        }
        "code" | "kbd" | "samp" if w.pre == 0 => {
            while w.out.ends_with(' ') {
                w.out.pop();
            }
            w.out.push('`');
        }
        "blockquote" => {
            let n = w.prefix.len().saturating_sub(2);
            w.prefix.truncate(n);
        }
        "ul" | "ol" => {
            w.lists.pop();
        }
        "tr" => {
            let row = match w.table.last_mut() {
                Some((cells, rows)) if *cells > 0 => {
                    let n = *cells;
                    *cells = 0;
                    *rows += 1;
                    Some((n, *rows == 1))
                }
                _ => None,
            };
            if let Some((n, first)) = row {
                w.raw(" |");
                if first {
                    w.line(false);
                    let sep = vec!["---"; n].join(" | ");
                    w.raw(&format!("| {sep} |"));
                }
            }
        }
        "table" => {
            w.table.pop();
        }
        _ => {}
    }
    if PARAGRAPH.contains(&name) {
        w.line(true);
    } else if LINE.contains(&name) {
        w.line(false);
    }
}
