//! Cursor pagination of Syncano list endpoints (spec-core §1.4): `page_size`, `ordering`,
//! `direction`, `last_pk`, and the exact rules for the `next`/`prev` links.

/// The largest page Syncano v1.1 serves; bigger requests are clamped silently.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Which page of a keyset-paginated list the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page (0..=100).
    pub page_size: i64,
    /// The raw `page_size` as given, echoed in links (absent when the client gave none).
    pub page_size_param: Option<String>,
    /// The raw `ordering` as given, echoed in links.
    pub ordering_param: Option<String>,
    /// Descending primary-key order.
    pub descending: bool,
    /// `direction`: `Some(true)` = next page, `Some(false)` = previous page.
    pub direction: Option<bool>,
    /// Exclusive boundary primary key.
    pub last_pk: Option<i64>,
}

/// What the store must fetch for a [`PageRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    /// Order rows by primary key descending in SQL.
    pub sql_descending: bool,
    /// `Some((greater, pk))`: keep rows with pk > P (`greater`) or pk < P.
    pub bound: Option<(bool, i64)>,
    /// Rows were fetched in reverse and must be reversed back after fetching.
    pub reverse_after: bool,
    /// LIMIT.
    pub limit: i64,
}

/// Why a page parameter was rejected (always "Incorrect page parameter provided.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPageParam;

/// Parses an id-like value in 0..=2147483647.
pub fn parse_pk(raw: &str) -> Option<i64> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|v| (0..=i32::MAX as i64).contains(v))
}

impl PageRequest {
    /// Builds a request from the raw (last-wins) query values.
    pub fn parse(
        page_size: Option<&str>,
        ordering: Option<&str>,
        direction: Option<&str>,
        last_pk: Option<&str>,
        default_descending: bool,
    ) -> Result<Self, BadPageParam> {
        let size = match page_size {
            None => MAX_PAGE_SIZE,
            Some(raw) => {
                let v: i64 = raw.trim().parse().map_err(|_| BadPageParam)?;
                if v < 0 {
                    return Err(BadPageParam);
                }
                v.min(MAX_PAGE_SIZE)
            }
        };
        let descending = match ordering.map(|o| o.to_ascii_lowercase()) {
            Some(o) if o == "desc" => true,
            Some(o) if o == "asc" => false,
            _ => default_descending,
        };
        let direction = match direction {
            None => None,
            Some("1") => Some(true),
            Some("0") => Some(false),
            Some(_) => return Err(BadPageParam),
        };
        let last_pk = match last_pk {
            None => None,
            Some(raw) => Some(parse_pk(raw).ok_or(BadPageParam)?),
        };
        Ok(Self {
            page_size: size,
            page_size_param: page_size.map(str::to_string),
            ordering_param: ordering.map(str::to_string),
            descending,
            direction,
            last_pk,
        })
    }

    /// The SQL-level fetch plan.
    pub fn keyset(&self) -> Keyset {
        let backwards = self.direction == Some(false);
        let sql_descending = self.descending != backwards;
        let bound = self
            .last_pk
            .filter(|_| self.direction.is_some())
            .map(|pk| (!sql_descending, pk));
        Keyset {
            sql_descending,
            bound,
            reverse_after: backwards,
            limit: self.page_size,
        }
    }

    /// The cursor links for a fetched page, given the pks of its first and last rows.
    pub fn links(
        &self,
        count: usize,
        first_last: Option<(i64, i64)>,
    ) -> (Option<Cursor>, Option<Cursor>) {
        let has_more = self.page_size > 0 && count as i64 >= self.page_size;
        let next = match (has_more, first_last, self.direction) {
            (true, Some((_, last)), _) => Some(Cursor {
                direction: Some(true),
                last_pk: Some(last),
            }),
            (false, _, Some(false)) => Some(Cursor {
                direction: None,
                last_pk: None,
            }),
            _ => None,
        };
        let prev = match (self.direction, first_last) {
            (None, _) => None,
            (Some(false), Some((first, _))) if has_more => Some(Cursor {
                direction: Some(false),
                last_pk: Some(first),
            }),
            (Some(false), _) => None,
            (Some(true), Some((first, _))) => Some(Cursor {
                direction: Some(false),
                last_pk: Some(first),
            }),
            (Some(true), None) => Some(Cursor {
                direction: Some(false),
                last_pk: None,
            }),
        };
        (next, prev)
    }

    /// Renders a link: path + `page_size`, `ordering` (as given) + the cursor.
    pub fn link(&self, path: &str, cursor: &Cursor) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(ps) = &self.page_size_param {
            parts.push(format!("page_size={}", encode_query_value(ps)));
        }
        if let Some(o) = &self.ordering_param {
            parts.push(format!("ordering={}", encode_query_value(o)));
        }
        cursor.push_params(&mut parts);
        join_link(path, &parts)
    }
}

/// A position in a list: the `direction`/`last_pk` pair of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `1` or `0`; absent for a link back to the first page.
    pub direction: Option<bool>,
    /// Boundary pk.
    pub last_pk: Option<i64>,
}

impl Cursor {
    /// Appends `direction` and `last_pk` query parts.
    pub fn push_params(&self, parts: &mut Vec<String>) {
        if let Some(d) = self.direction {
            parts.push(format!("direction={}", if d { 1 } else { 0 }));
        }
        if let Some(pk) = self.last_pk {
            parts.push(format!("last_pk={pk}"));
        }
    }
}

/// `path?a&b` or just `path`.
pub fn join_link(path: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ps: Option<&str>, dir: Option<&str>, pk: Option<&str>) -> PageRequest {
        PageRequest::parse(ps, None, dir, pk, false).expect("valid")
    }

    #[test]
    fn rejects_bad_params() {
        assert!(PageRequest::parse(Some("-1"), None, None, None, false).is_err());
        assert!(PageRequest::parse(Some("x"), None, None, None, false).is_err());
        assert!(PageRequest::parse(None, None, Some("2"), None, false).is_err());
        assert!(PageRequest::parse(None, None, Some("1"), Some("2147483648"), false).is_err());
        assert_eq!(req(Some("500"), None, None).page_size, 100);
    }

    #[test]
    fn keysets() {
        let k = req(Some("2"), Some("1"), Some("5")).keyset();
        assert_eq!(
            k,
            Keyset {
                sql_descending: false,
                bound: Some((true, 5)),
                reverse_after: false,
                limit: 2
            }
        );
        let k = req(Some("2"), Some("0"), Some("5")).keyset();
        assert_eq!(
            k,
            Keyset {
                sql_descending: true,
                bound: Some((false, 5)),
                reverse_after: true,
                limit: 2
            }
        );
    }

    #[test]
    fn links_follow_the_spec() {
        let first = req(Some("2"), None, None);
        let (next, prev) = first.links(2, Some((1, 2)));
        assert_eq!(
            first.link("/p/", &next.expect("next")),
            "/p/?page_size=2&direction=1&last_pk=2"
        );
        assert_eq!(prev, None);
        let (next, prev) = first.links(1, Some((1, 1)));
        assert_eq!((next, prev), (None, None));

        let second = req(Some("2"), Some("1"), Some("2"));
        let (next, prev) = second.links(0, None);
        assert_eq!(next, None);
        assert_eq!(
            second.link("/p/", &prev.expect("prev")),
            "/p/?page_size=2&direction=0"
        );

        let back = req(Some("2"), Some("0"), Some("3"));
        let (next, prev) = back.links(1, Some((1, 1)));
        assert_eq!(back.link("/p/", &next.expect("next")), "/p/?page_size=2");
        assert_eq!(prev, None);
    }
}
