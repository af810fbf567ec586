//! Which devices a list request selects and in what order: the filters of [`DeviceQuery`]
//! parsed once, applied to the in-memory register ([`super::index`]) joined with the monitor's
//! live status, within the caller's scope; a total order (the sort key, then the code); pages
//! cut after an opaque cursor. Shared by the paged list and the export, so both show exactly
//! the same rows.
//!
//! Cost: one pass over the register in memory and, for a page, a partial selection of the
//! `limit` first rows (not a sort of every match).

use std::borrow::Cow;
use std::cmp::Ordering;

use camwatch_core::access::{Action, Principal, RegionPrefix};
use camwatch_core::history::Status;
use camwatch_core::registry::{DeviceCode, DeviceKind};
use camwatch_monitor::LiveStatus;

use super::DeviceQuery;
use super::index::Listed;
use crate::error::ApiError;
use crate::input::parse;

/// The rows of a page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows of a page.
pub const MAX_LIMIT: usize = 500;
/// The most characters of a text search.
const MAX_QUERY_CHARS: usize = 100;

/// How the list is sorted; ties are broken by the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Code,
    Name,
    Status,
    Since,
}

impl Sort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Name => "name",
            Self::Status => "status",
            Self::Since => "since",
        }
    }
}

impl std::str::FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Code, Self::Name, Self::Status, Self::Since]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("{s:?}: expected code, name, status or since"))
    }
}

/// A row's place in the order: the sort key, then the code. One request compares keys of one
/// sort only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Code,
    Name(Cow<'a, str>),
    /// Worst first: offline, degraded, unknown, online.
    Rank(u8),
    /// Oldest change first; never changed last.
    Since(i64),
}

impl Key<'_> {
    fn text(&self) -> String {
        match self {
            Self::Code => String::new(),
            Self::Name(n) => n.to_string(),
            Self::Rank(r) => r.to_string(),
            Self::Since(s) => s.to_string(),
        }
    }

    fn parse(sort: Sort, text: &str) -> Option<Key<'static>> {
        Some(match sort {
            Sort::Code => Key::Code,
            Sort::Name => Key::Name(Cow::Owned(text.to_string())),
            Sort::Status => Key::Rank(text.parse().ok()?),
            Sort::Since => Key::Since(text.parse().ok()?),
        })
    }
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Offline => 0,
        Status::Degraded => 1,
        Status::Unknown => 2,
        Status::Online => 3,
    }
}

/// One selected device: its listed fields and its live status (`unknown`, since `None`,
/// when the monitor does not hold it).
pub struct Hit<'a> {
    pub listed: &'a Listed,
    pub status: Status,
    pub since: Option<i64>,
    key: Key<'a>,
}

impl Hit<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| self.listed.code.cmp(&other.listed.code))
    }
}

/// A parsed list request.
pub struct Selection {
    region: Option<RegionPrefix>,
    status: Option<Status>,
    kind: Option<DeviceKind>,
    /// The maintainer every row must have: the asked one, or a contractor's own.
    maintainer: Option<String>,
    /// Lower-cased.
    text: Option<String>,
    pub sort: Sort,
    after: Option<(Key<'static>, DeviceCode)>,
    pub limit: usize,
    /// A contractor asked for another contractor's devices: the answer is empty.
    nothing: bool,
}

impl Selection {
    /// Parses `q` for `p`; every bad parameter is a 400 naming it.
    pub fn parse(q: &DeviceQuery, p: &Principal) -> Result<Self, ApiError> {
        let region = q
            .region
            .as_deref()
            .map(|r| parse("region", r))
            .transpose()?;
        let status = q
            .status
            .as_deref()
            .map(|s| parse("status", s))
            .transpose()?;
        let kind = q.kind.as_deref().map(|s| parse("kind", s)).transpose()?;
        let sort: Sort = q
            .sort
            .as_deref()
            .map(|s| parse("sort", s))
            .transpose()?
            .unwrap_or(Sort::Code);
        let limit = match q.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        format!("limit: expected 1 to {MAX_LIMIT}"),
                    ));
                }
            },
        };
        let text = match q.q.as_deref().map(str::trim) {
            Some(t) if t.chars().count() > MAX_QUERY_CHARS => {
                return Err(ApiError::invalid(
                    "q",
                    format!("q: at most {MAX_QUERY_CHARS} characters"),
                ));
            }
            Some(t) if !t.is_empty() => Some(t.to_lowercase()),
            _ => None,
        };
        let after = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(sort, c))
            .transpose()?;
        let (maintainer, nothing) = match (p.scope.maintainer(), q.maintainer.as_deref()) {
            (Some(own), Some(asked)) if own.trim() != asked.trim() => (None, true),
            (Some(own), _) => (Some(own.trim().to_string()), false),
            (None, asked) => (asked.map(|a| a.trim().to_string()), false),
        };
        Ok(Self {
            region,
            status,
            kind,
            maintainer,
            text,
            sort,
            after,
            limit,
            nothing,
        })
    }

    /// Every row `p` may read that the filters keep, unordered (the cursor not applied).
    /// `rows` and `live` are both sorted by code: they are joined in one pass.
    pub fn hits<'a>(&self, p: &Principal, rows: &'a [Listed], live: &[LiveStatus]) -> Vec<Hit<'a>> {
        if self.nothing {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut j = 0;
        for d in rows {
            while j < live.len() && live[j].code < d.code {
                j += 1;
            }
            let (status, since) = match live.get(j) {
                Some(l) if l.code == d.code => (l.status, l.since),
                _ => (Status::Unknown, None),
            };
            if self.status.is_some_and(|want| want != status)
                || self
                    .region
                    .as_ref()
                    .is_some_and(|r| !d.region.starts_with(r.as_str()))
                || self.kind.is_some_and(|k| k != d.kind)
                || self
                    .maintainer
                    .as_deref()
                    .is_some_and(|m| d.maintainer.as_deref().map(str::trim) != Some(m))
                || !p.may_on_device(Action::ReadDevices, &d.region, d.maintainer.as_deref())
                || self.text.as_deref().is_some_and(|t| {
                    !(d.code.as_str().contains(t)
                        || d.name_lc.contains(t)
                        || d.address_lc.contains(t))
                })
            {
                continue;
            }
            let key = match self.sort {
                Sort::Code => Key::Code,
                Sort::Name => Key::Name(Cow::Borrowed(&d.name)),
                Sort::Status => Key::Rank(status_rank(status)),
                Sort::Since => Key::Since(since.map_or(i64::MAX, |s| s.max(0))),
            };
            out.push(Hit {
                listed: d,
                status,
                since,
                key,
            });
        }
        out
    }

    /// The page after the cursor: at most `limit` hits in order, and the cursor of the next
    /// page when there is one.
    pub fn page<'a>(&self, hits: Vec<Hit<'a>>) -> (Vec<Hit<'a>>, Option<String>) {
        let mut hits: Vec<Hit<'a>> = match &self.after {
            None => hits,
            Some((ak, ac)) => hits
                .into_iter()
                .filter(|h| match h.key.cmp(ak) {
                    Ordering::Greater => true,
                    Ordering::Equal => h.listed.code > *ac,
                    Ordering::Less => false,
                })
                .collect(),
        };
        let more = hits.len() > self.limit;
        if more {
            hits.select_nth_unstable_by(self.limit, Hit::cmp);
            hits.truncate(self.limit);
        }
        hits.sort_unstable_by(Hit::cmp);
        let next = more
            .then(|| hits.last())
            .flatten()
            .map(|h| encode_cursor(self.sort, &h.key.text(), h.listed.code.as_str()));
        (hits, next)
    }

    /// Every hit in order (an export).
    pub fn all<'a>(&self, mut hits: Vec<Hit<'a>>) -> Vec<Hit<'a>> {
        hits.sort_unstable_by(Hit::cmp);
        hits
    }
}

/// A cursor: the sort, the last row's key and code, hex-encoded so it is opaque and URL-safe.
fn encode_cursor(sort: Sort, key: &str, code: &str) -> String {
    hex::encode(format!("{}\n{key}\n{code}", sort.as_str()))
}

fn decode_cursor(sort: Sort, c: &str) -> Result<(Key<'static>, DeviceCode), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor this list handed out");
    let bytes = hex::decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\n');
    let (Some(s), Some(k), Some(code)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if s != sort.as_str() {
        return Err(ApiError::invalid(
            "cursor",
            "the cursor belongs to another sort order",
        ));
    }
    Ok((
        Key::parse(sort, k).ok_or_else(bad)?,
        code.parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(code: &str, name: &str) -> Listed {
        Listed {
            code: code.parse().unwrap(),
            name: name.into(),
            kind: DeviceKind::Camera,
            region: code[..6].into(),
            maintainer: None,
            address: None,
            longitude: None,
            latitude: None,
            name_lc: name.to_lowercase(),
            address_lc: String::new(),
        }
    }

    fn admin() -> Principal {
        Principal {
            user_id: 1,
            name: "admin".into(),
            role: camwatch_core::access::Role::Admin,
            scope: camwatch_core::access::Scope::all(),
            token: None,
            password: camwatch_core::access::PasswordState::Current,
        }
    }

    /// Paging through every sort with every page size visits each row once, in the order a
    /// full sort gives.
    #[test]
    fn pages_cover_every_row_once_in_order() {
        let rows: Vec<Listed> = (0..37)
            .map(|i| {
                listed(
                    &format!("3401040000132{:07}", (i * 7919) % 1000),
                    ["b", "a", "c"][i % 3],
                )
            })
            .collect();
        let mut rows = rows;
        rows.sort_by_key(|r| r.code);
        rows.dedup_by(|a, b| a.code == b.code);
        let live: Vec<LiveStatus> = Vec::new();
        for sort in ["code", "name", "status", "since"] {
            for limit in [1usize, 2, 5, 36, 37, 100] {
                let mut q = DeviceQuery {
                    sort: Some(sort.into()),
                    limit: Some(limit.to_string()),
                    ..Default::default()
                };
                let whole = Selection::parse(&q, &admin()).unwrap();
                let expected: Vec<String> = whole
                    .all(whole.hits(&admin(), &rows, &live))
                    .iter()
                    .map(|h| h.listed.code.to_string())
                    .collect();
                let mut seen = Vec::new();
                for _ in 0..100 {
                    let s = Selection::parse(&q, &admin()).unwrap();
                    let (page, next) = s.page(s.hits(&admin(), &rows, &live));
                    assert!(page.len() <= limit);
                    seen.extend(page.iter().map(|h| h.listed.code.to_string()));
                    match next {
                        Some(c) => q.cursor = Some(c),
                        None => break,
                    }
                }
                assert_eq!(seen, expected, "sort {sort}, limit {limit}");
            }
        }
    }
}
