//! A Hugging Face dataset card (`README.md`): the YAML front matter's `license` (and
//! `license_name` for `other`) and the data files its `configs` name, plus the glob patterns
//! those use. Only that part of YAML is read (block and flow lists, plain and quoted
//! scalars); the workspace carries no YAML parser and the card's schema is this small.

/// What the card says.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Card {
    /// The licence identifiers, as written (`cc-by-sa-4.0`, `other: my-licence`); `None`
    /// when the card has none, or says `unknown`.
    pub licence: Option<String>,
    /// `configs[*].data_files` patterns (and `path`s), in order, without repeats.
    pub data_files: Vec<String>,
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
}

/// A scalar or an inline `[a, b]` list.
fn values(v: &str) -> Vec<String> {
    let v = v.trim();
    let v = v.split(" #").next().unwrap_or(v).trim();
    if let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        inner
            .split(',')
            .map(unquote)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    } else if v.is_empty() {
        Vec::new()
    } else {
        vec![unquote(v).to_owned()]
    }
}

/// Reads the front matter of a card (`---` lines around YAML at the top); a card without
/// one says nothing.
pub fn parse(readme: &str) -> Card {
    let mut lines = readme.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Card::default();
    }
    let yaml: Vec<&str> = lines.take_while(|l| l.trim_end() != "---").collect();
    let mut licences = Vec::new();
    let mut licence_name = None;
    let mut data_files: Vec<String> = Vec::new();
    // The top-level key whose block we are in, and the last key with an empty value in it.
    let mut top = "";
    let mut owner = String::new();
    for line in yaml {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']) || line.starts_with("- ");
        if !indented {
            let (k, v) = line.split_once(':').unwrap_or((line, ""));
            top = k.trim();
            match top {
                "license" => licences.extend(values(v)),
                "license_name" => licence_name = values(v).into_iter().next(),
                _ => {}
            }
            owner = top.to_owned();
            continue;
        }
        let mut item = line.trim_start();
        let mut listed = false;
        while let Some(rest) = item.strip_prefix("- ") {
            item = rest.trim_start();
            listed = true;
        }
        if item == "-" {
            continue;
        }
        let pair = item
            .split_once(": ")
            .or_else(|| item.strip_suffix(':').map(|k| (k, "")));
        match (top, pair) {
            ("license", None) if listed => licences.extend(values(item)),
            ("configs", Some((k, v))) => {
                let k = k.trim();
                if matches!(k, "data_files" | "path") {
                    data_files.extend(values(v));
                }
                if v.trim().is_empty() {
                    owner = k.to_owned();
                }
            }
            ("configs", None) if listed && matches!(owner.as_str(), "data_files" | "path") => {
                data_files.extend(values(item));
            }
            _ => {}
        }
    }
    let mut seen = std::collections::HashSet::new();
    data_files.retain(|d| seen.insert(d.clone()));
    licences.retain(|l| !l.eq_ignore_ascii_case("unknown"));
    let licence = match (licences.as_slice(), licence_name) {
        ([], _) => None,
        ([one], Some(name)) if one == "other" => Some(format!("other: {name}")),
        // `other` without a name says only that some licence applies.
        ([one], None) if one == "other" => None,
        (many, _) => Some(many.join(", ")),
    };
    Card {
        licence,
        data_files,
    }
}

/// Matches a `/`-separated relative path against a data-files pattern: `*` any run of
/// characters but `/`, `**` any run including `/`, `?` one character but `/`.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', b'/', rest @ ..] => {
                go(rest, s) || (0..s.len()).any(|i| s[i] == b'/' && go(rest, &s[i + 1..]))
            }
            [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            [b'*', rest @ ..] => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(rest, &s[i..])),
            [b'?', rest @ ..] => !s.is_empty() && s[0] != b'/' && go(rest, &s[1..]),
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let pattern = pattern.trim_start_matches("./");
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_with_a_licence_and_configs() {
        let card = parse(
            "---\nlicense: cc-by-sa-4.0\nlanguage:\n- en\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n  - split: test\n    path: \"data/test-*.parquet\"\n- config_name: extra\n  data_files: extra/*.jsonl\n---\n# Title\n",
        );
        assert_eq!(card.licence.as_deref(), Some("cc-by-sa-4.0"));
        assert_eq!(
            card.data_files,
            ["data/train-*", "data/test-*.parquet", "extra/*.jsonl"]
        );
    }

    #[test]
    fn list_licences_other_with_a_name_and_unknown() {
        let card = parse("---\nlicense:\n- mit\n- apache-2.0\n---\n");
        assert_eq!(card.licence.as_deref(), Some("mit, apache-2.0"));
        let card = parse("---\nlicense: other\nlicense_name: my-terms\n---\n");
        assert_eq!(card.licence.as_deref(), Some("other: my-terms"));
        assert_eq!(parse("---\nlicense: other\n---\n").licence, None);
        assert_eq!(parse("---\nlicense: unknown\n---\n").licence, None);
        assert_eq!(parse("# no front matter\nlicense: mit\n").licence, None);
    }

    #[test]
    fn data_files_as_path_lists_and_flow_lists() {
        let card = parse(
            "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path:\n    - data/a.jsonl\n    - data/b.jsonl\n  - split: test\n    path: [data/c.jsonl, 'data/d.jsonl']\n---\n",
        );
        assert_eq!(
            card.data_files,
            [
                "data/a.jsonl",
                "data/b.jsonl",
                "data/c.jsonl",
                "data/d.jsonl"
            ]
        );
        let card = parse(
            "---\nconfigs:\n- config_name: default\n  data_files:\n  - data/*.parquet\n---\n",
        );
        assert_eq!(card.data_files, ["data/*.parquet"]);
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_matches(
            "data/train-*",
            "data/train-00000-of-00001.parquet"
        ));
        assert!(!glob_matches("data/*.parquet", "data/sub/x.parquet"));
        assert!(glob_matches("data/**/*.parquet", "data/sub/x.parquet"));
        assert!(glob_matches("data/**/*.parquet", "data/x.parquet"));
        assert!(glob_matches("**", "a/b/c"));
        assert!(glob_matches("./a?.jsonl", "ab.jsonl"));
        assert!(!glob_matches("a?.jsonl", "a/.jsonl"));
        assert!(!glob_matches("data/a.jsonl", "data/a.jsonlx"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_cards_and_patterns_never_panic(card in "[-:a-z\\[\\]' \n#\"]{0,200}", p in "[*?a/]{0,8}", s in "[a/]{0,8}") {
            let _ = parse(&format!("---\n{card}\n---\n"));
            let _ = glob_matches(&p, &s);
        }
    }
}
