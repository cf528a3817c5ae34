//! Sitemaps (sitemaps.org): a `urlset` lists pages, a `sitemapindex` lists more sitemaps,
//! each entry with its `<lastmod>` when given.
//! Gzipped files are recognised by their magic bytes and inflated under a size cap.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::io::Read;

/// What one sitemap file lists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sitemap {
    pub pages: Vec<Listed>,
    pub sitemaps: Vec<Listed>,
}

/// One `<url>` or `<sitemap>` entry: its `<loc>` and `<lastmod>` (verbatim, trimmed).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listed {
    pub loc: String,
    pub lastmod: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Loc,
    Lastmod,
}

/// Parses a sitemap or sitemap index, gzipped or not. `max` caps the inflated size (the
/// sitemaps.org limit is 50 MB).
pub fn parse(body: &[u8], max: usize) -> Result<Sitemap, String> {
    let inflated;
    let xml = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(body)
            .take(max as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        if out.len() > max {
            return Err(format!("inflates to more than {max} bytes"));
        }
        inflated = out;
        &inflated[..]
    } else {
        body
    };
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Sitemap::default();
    // Which list a <loc> belongs to: the nearest enclosing <url> or <sitemap>.
    let mut parent: Option<bool> = None;
    // The text element being read: `<loc>` or `<lastmod>`.
    let mut field: Option<Field> = None;
    let mut text = String::new();
    let mut entry = Listed::default();
    let mut root_seen = false;
    // Open elements: a file that ends inside one was cut off.
    let mut depth = 0usize;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                depth += 1;
                let name = e.local_name();
                match name.as_ref() {
                    b"urlset" | b"sitemapindex" => root_seen = true,
                    b"url" | b"sitemap" => {
                        parent = Some(name.as_ref() == b"url");
                        entry = Listed::default();
                    }
                    b"loc" => {
                        field = Some(Field::Loc);
                        text.clear();
                    }
                    b"lastmod" => {
                        field = Some(Field::Lastmod);
                        text.clear();
                    }
                    _ => {}
                }
            }
            Ok(Event::Text(t)) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| format!("XML text: {e}"))?);
            }
            Ok(Event::GeneralRef(r)) if field.is_some() => {
                let name = r.decode().map_err(|e| format!("XML text: {e}"))?;
                text.push_str(match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Ok(Event::CData(t)) if field.is_some() => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::End(e)) => {
                depth = depth.saturating_sub(1);
                match e.local_name().as_ref() {
                    b"loc" => {
                        field = None;
                        entry.loc = text.trim().to_owned();
                    }
                    b"lastmod" => {
                        field = None;
                        let t = text.trim();
                        entry.lastmod = (!t.is_empty()).then(|| t.to_owned());
                    }
                    b"url" | b"sitemap" => {
                        let done = std::mem::take(&mut entry);
                        if !done.loc.is_empty() {
                            match parent {
                                Some(true) => out.pages.push(done),
                                Some(false) => out.sitemaps.push(done),
                                None => {}
                            }
                        }
                        parent = None;
                    }
                    _ => {}
                }
            }
            Ok(Event::Eof) if depth > 0 => {
                return Err(format!(
                    "XML ends inside an element at byte {}: cut off?",
                    reader.buffer_position()
                ));
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(format!("XML at byte {}: {e}", reader.error_position())),
            _ => {}
        }
        buf.clear();
    }
    if !root_seen {
        return Err("neither a urlset nor a sitemapindex".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn urlsets_and_indexes() {
        let set = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> http://s.test/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
  <url><loc><![CDATA[http://s.test/b]]></loc></url>
</urlset>"#;
        let s = parse(set, 1 << 20).unwrap();
        let locs: Vec<&str> = s.pages.iter().map(|p| p.loc.as_str()).collect();
        assert_eq!(locs, ["http://s.test/a?x=1&y=2", "http://s.test/b"]);
        let lastmods: Vec<Option<&str>> = s.pages.iter().map(|p| p.lastmod.as_deref()).collect();
        assert_eq!(lastmods, [Some("2024-01-01"), None]);
        assert!(s.sitemaps.is_empty());
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>http://s.test/s1.xml.gz</loc><lastmod>2024-02-03T04:05:06+00:00</lastmod></sitemap></sitemapindex>"#;
        assert_eq!(
            parse(index, 1 << 20).unwrap().sitemaps,
            [Listed {
                loc: "http://s.test/s1.xml.gz".into(),
                lastmod: Some("2024-02-03T04:05:06+00:00".into()),
            }]
        );
    }

    #[test]
    fn gzipped_sitemaps_inflate_under_the_cap() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"<urlset><url><loc>http://s.test/z</loc></url></urlset>")
            .unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(
            parse(&body, 1 << 20).unwrap().pages[0].loc,
            "http://s.test/z"
        );
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b' '; 4 << 20]).unwrap();
        let bomb = bomb.finish().unwrap();
        assert!(parse(&bomb, 1 << 20).unwrap_err().contains("inflates"));
    }

    #[test]
    fn non_sitemaps_are_errors_not_panics() {
        assert!(parse(b"<html><body>hi</body></html>", 1 << 20).is_err());
        assert!(parse(b"<urlset><url><loc>x</url>", 1 << 20).is_err());
        let cut = parse(b"<urlset><url><loc>http://s.test/cut-off\n", 1 << 20);
        assert!(cut.unwrap_err().contains("cut off"));
        assert!(parse(b"\x1f\x8bnot gzip", 1 << 20).is_err());
        assert!(parse(b"", 1 << 20).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_are_an_error_or_a_sitemap_never_a_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        ) {
            let _ = parse(&body, 1 << 16);
        }

        #[test]
        fn xml_like_input_never_panics(xml in "(<(urlset|sitemapindex|url|sitemap|loc)>|</(urlset|sitemapindex|url|sitemap|loc)>|&amp;|[a-z:/.]{0,10}){0,30}") {
            let _ = parse(xml.as_bytes(), 1 << 16);
        }
    }
}
