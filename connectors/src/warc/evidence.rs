//! Permission evidence an archive holds about itself: the `robots.txt` and
//! `/.well-known/tdmrep.json` responses it captured, by origin and capture time, so a page's
//! signals are judged as they stood when it was archived. No capture means `unknown`.

use super::http;
use super::reader::Record;
use crate::web::origin::{RobotsTxt, origin};
use crate::web::signals::{RobotsVerdict, Tdm, TdmFile};
use std::collections::HashMap;
use url::Url;

/// One archived answer for a well-known path.
#[derive(Debug, Clone)]
struct Capture {
    /// WARC-Date in microseconds, and as written.
    at: i64,
    date: String,
    status: u16,
    body: Vec<u8>,
}

/// The archived `robots.txt` and TDMRep files of every origin in the file set.
#[derive(Default)]
pub struct Archived {
    robots: HashMap<String, Vec<Capture>>,
    tdmrep: HashMap<String, Vec<Capture>>,
    parsed_robots: HashMap<(String, usize), RobotsTxt>,
    parsed_tdm: HashMap<(String, usize), TdmFile>,
}

/// What a well-known capture is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnown {
    Robots,
    TdmRep,
}

impl WellKnown {
    pub fn of(url: &Url) -> Option<WellKnown> {
        match url.path() {
            "/robots.txt" => Some(WellKnown::Robots),
            "/.well-known/tdmrep.json" => Some(WellKnown::TdmRep),
            _ => None,
        }
    }
}

/// The capture in force at `at`: the latest one made at or before it, else the earliest
/// one after it (the nearest statement of the publisher's wishes the archive holds).
fn pick(captures: &[Capture], at: i64) -> Option<usize> {
    let before = captures
        .iter()
        .enumerate()
        .filter(|(_, c)| c.at <= at)
        .max_by_key(|(i, c)| (c.at, *i))
        .map(|(i, _)| i);
    before.or_else(|| {
        captures
            .iter()
            .enumerate()
            .min_by_key(|(i, c)| (c.at, *i))
            .map(|(i, _)| i)
    })
}

impl Archived {
    /// Keeps `record` if it is a response for a well-known file. Captures are added in file
    /// order, so equal times resolve the same way on every run.
    pub fn add(&mut self, record: &Record, max_body: u64) {
        if record.warc_type() != "response" {
            return;
        }
        let Some(url) = record.target_uri().and_then(|u| Url::parse(u).ok()) else {
            return;
        };
        let Some(which) = WellKnown::of(&url) else {
            return;
        };
        let Ok(resp) = http::parse(&record.block, max_body) else {
            return;
        };
        let date = record.field("WARC-Date").unwrap_or("").to_owned();
        let capture = Capture {
            at: warc_date_micros(&date).unwrap_or(0),
            date,
            status: resp.status,
            body: resp.body,
        };
        let map = match which {
            WellKnown::Robots => &mut self.robots,
            WellKnown::TdmRep => &mut self.tdmrep,
        };
        map.entry(origin(&url)).or_default().push(capture);
    }

    /// The robots.txt verdict for `url` archived at `at`, for `agents` (ours first).
    pub fn robots(&mut self, url: &Url, at: i64, agents: &[String]) -> RobotsVerdict {
        let key = origin(url);
        let Some(captures) = self.robots.get(&key) else {
            return RobotsVerdict::unknown("the archive holds no robots.txt of this origin");
        };
        let Some(i) = pick(captures, at) else {
            return RobotsVerdict::unknown("the archive holds no robots.txt of this origin");
        };
        let c = &captures[i];
        let when = format!("robots.txt archived {}", c.date);
        if (300..400).contains(&c.status) {
            return RobotsVerdict::unknown(format!(
                "{when} redirects ({}); not followed",
                c.status
            ));
        }
        let robots = self
            .parsed_robots
            .entry((key, i))
            .or_insert_with(|| match c.status {
                200..=299 => RobotsTxt::parse(&c.body, agents),
                400..=499 => RobotsTxt::AllowAll(format!("no robots.txt ({})", c.status)),
                s => RobotsTxt::Unavailable(format!("robots.txt unavailable ({s})")),
            });
        let mut v = robots.verdict(url);
        v.rule = format!("{} ({when})", v.rule);
        v
    }

    /// The TDMRep well-known file's statement for `url` archived at `at` (none when the
    /// archive holds no successful capture).
    pub fn tdm(&mut self, url: &Url, at: i64) -> Tdm {
        let key = origin(url);
        let Some(i) = self.tdmrep.get(&key).and_then(|c| pick(c, at)) else {
            return Tdm::default();
        };
        let c = &self.tdmrep[&key][i];
        let file = self
            .parsed_tdm
            .entry((key, i))
            .or_insert_with(|| match c.status {
                200..=299 => TdmFile::parse(&c.body).unwrap_or_default(),
                _ => TdmFile::default(),
            });
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Tdm::from_file(file.lookup(&path))
    }
}

/// A WARC-Date (`2024-01-15T10:20:30Z`, fractions of a second allowed; W3C-ISO8601 in UTC)
/// in microseconds since the Unix epoch.
pub fn warc_date_micros(s: &str) -> Option<i64> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let micros = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(6).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<6}").parse::<i64>().ok()?
    };
    // Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000_000 + sec * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warc_dates_become_microseconds() {
        assert_eq!(warc_date_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            warc_date_micros("2024-01-15T10:20:30Z"),
            Some(1_705_314_030_000_000)
        );
        assert_eq!(
            warc_date_micros("2000-03-01T00:00:00.25Z"),
            Some(951_868_800_250_000)
        );
        assert_eq!(warc_date_micros("2024-01-15"), None);
        assert_eq!(warc_date_micros("2024-13-01T00:00:00Z"), None);
        assert_eq!(warc_date_micros("garbage"), None);
    }

    fn capture(at: i64) -> Capture {
        Capture {
            at,
            date: String::new(),
            status: 200,
            body: Vec::new(),
        }
    }

    #[test]
    fn the_capture_in_force_is_the_latest_before_else_the_earliest_after() {
        let c = [capture(10), capture(30), capture(20)];
        assert_eq!(pick(&c, 25), Some(2));
        assert_eq!(pick(&c, 30), Some(1));
        assert_eq!(pick(&c, 5), Some(0));
        assert_eq!(pick(&[], 5), None);
    }
}
