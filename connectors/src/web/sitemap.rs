//! Sitemaps (sitemaps.org): a `urlset` lists pages, a `sitemapindex` lists more sitemaps.
//! Gzipped files are recognised by their magic bytes and inflated under a size cap.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::io::Read;

/// What one sitemap file lists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sitemap {
    pub pages: Vec<String>,
    pub sitemaps: Vec<String>,
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
    let mut in_loc = false;
    let mut text = String::new();
    let mut root_seen = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"urlset" | b"sitemapindex" => root_seen = true,
                    b"url" => parent = Some(true),
                    b"sitemap" => parent = Some(false),
                    b"loc" => {
                        in_loc = true;
                        text.clear();
                    }
                    _ => {}
                }
            }
            Ok(Event::Text(t)) if in_loc => {
                text.push_str(&t.decode().map_err(|e| format!("XML text: {e}"))?);
            }
            Ok(Event::GeneralRef(r)) if in_loc => {
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
            Ok(Event::CData(t)) if in_loc => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"loc" => {
                    in_loc = false;
                    let loc = text.trim().to_owned();
                    if !loc.is_empty() {
                        match parent {
                            Some(true) => out.pages.push(loc),
                            Some(false) => out.sitemaps.push(loc),
                            None => {}
                        }
                    }
                }
                b"url" | b"sitemap" => parent = None,
                _ => {}
            },
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
        assert_eq!(s.pages, ["http://s.test/a?x=1&y=2", "http://s.test/b"]);
        assert!(s.sitemaps.is_empty());
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>http://s.test/s1.xml.gz</loc></sitemap></sitemapindex>"#;
        assert_eq!(
            parse(index, 1 << 20).unwrap().sitemaps,
            ["http://s.test/s1.xml.gz"]
        );
    }

    #[test]
    fn gzipped_sitemaps_inflate_under_the_cap() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"<urlset><url><loc>http://s.test/z</loc></url></urlset>")
            .unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(parse(&body, 1 << 20).unwrap().pages, ["http://s.test/z"]);
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b' '; 4 << 20]).unwrap();
        let bomb = bomb.finish().unwrap();
        assert!(parse(&bomb, 1 << 20).unwrap_err().contains("inflates"));
    }

    #[test]
    fn non_sitemaps_are_errors_not_panics() {
        assert!(parse(b"<html><body>hi</body></html>", 1 << 20).is_err());
        assert!(parse(b"<urlset><url><loc>x</url>", 1 << 20).is_err());
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
