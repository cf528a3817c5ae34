//! The HTTP response archived in a WARC `response` record: status, headers and the body as
//! the browser would have seen it (chunked transfer and gzip/deflate content encoding
//! undone; Common Crawl archives decoded bodies and renames those headers `X-Crawler-*`).

use std::io::Read;

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers(name).next()
    }

    pub fn headers<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower case, without parameters ("" when absent).
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// Parses an archived HTTP/1.x response; `max_body` bounds a decoded body.
pub fn parse(block: &[u8], max_body: u64) -> Result<Response, String> {
    let (head_end, body_start) = memchr::memmem::find(block, b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| memchr::memmem::find(block, b"\n\n").map(|i| (i, i + 2)))
        .ok_or("no end of the HTTP header")?;
    let head = String::from_utf8_lossy(&block[..head_end]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse::<u16>()
            .map_err(|_| format!("status {code:?} is not a number"))?,
        _ => {
            let shown: String = status_line.chars().take(40).collect();
            return Err(format!("not an HTTP status line: {shown:?}"));
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut r = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let raw = &block[body_start..];
    let chunked = r
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    let encoding = r
        .header("content-encoding")
        .map(|e| e.trim().to_ascii_lowercase());
    r.body = match encoding.as_deref() {
        None | Some("" | "identity") => body,
        Some("gzip" | "x-gzip") => inflate(flate2::read::MultiGzDecoder::new(&body[..]), max_body)?,
        Some("deflate") => inflate(flate2::read::ZlibDecoder::new(&body[..]), max_body)?,
        Some(other) => return Err(format!("content encoding {other:?} is not supported")),
    };
    Ok(r)
}

fn inflate(r: impl Read, max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("content encoding: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!("decoded body over {max} bytes"));
    }
    Ok(out)
}

/// Undoes `Transfer-Encoding: chunked` (chunk extensions and trailers ignored).
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = memchr::memchr(b'\n', raw).ok_or("a chunk without a size line")?;
        let line = String::from_utf8_lossy(&raw[..nl]);
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("chunk size {size:?} is not hexadecimal"))?;
        raw = &raw[nl + 1..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size {
            return Err("the last chunk is cut short".into());
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size..];
        raw = raw.strip_prefix(b"\r\n").unwrap_or(raw);
        raw = raw.strip_prefix(b"\n").unwrap_or(raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_headers_and_body() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX-Robots-Tag: noai\r\nX-Robots-Tag: gptbot: noindex\r\n\r\n<p>hi</p>",
            100,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.media_type(), "text/html");
        assert_eq!(
            r.headers("x-robots-tag").collect::<Vec<_>>(),
            ["noai", "gptbot: noindex"]
        );
        assert_eq!(r.body, b"<p>hi</p>");
    }

    #[test]
    fn chunked_and_gzip_bodies_are_decoded() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n<p>h\r\n5;x=y\r\ni</p>\r\n0\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(r.body, b"<p>hi</p>");
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"zipped").unwrap();
        let mut block = b"HTTP/1.0 200 OK\nContent-Encoding: gzip\n\n".to_vec();
        block.extend(e.finish().unwrap());
        assert_eq!(parse(&block, 100).unwrap().body, b"zipped");
        assert!(parse(&block, 3).unwrap_err().contains("over 3 bytes"));
    }

    #[test]
    fn what_is_not_an_http_response_is_refused() {
        assert!(parse(b"no header end", 10).is_err());
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n", 10).is_err());
        assert!(parse(b"HTTP/1.1 abc OK\r\n\r\n", 10).is_err());
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\nxx", 10)
                .unwrap_err()
                .contains("br")
        );
        assert!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab",
                10
            )
            .is_err()
        );
    }
}
