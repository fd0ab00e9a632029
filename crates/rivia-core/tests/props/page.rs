//! Pagination cursors: a link rendered by [`PageRequest::link`] decodes (query string →
//! [`PageRequest::parse`]) to the request and cursor it was rendered from, and arbitrary
//! parameter text is answered with `Ok` or `BadPageParam`, never a panic.

use proptest::prelude::*;
use rivia_core::page::{Cursor, MAX_PAGE_SIZE, PageRequest, encode_query_value, parse_pk};

/// The raw values of the four page parameters of a link, as a server reads them
/// (last value wins).
#[derive(Debug, Default, PartialEq)]
struct LinkParams {
    page_size: Option<String>,
    ordering: Option<String>,
    direction: Option<String>,
    last_pk: Option<String>,
}

/// Reverses [`encode_query_value`]: `%XX` escapes back to bytes, then UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a link `path?a=b&c=d` back into its page parameters.
fn decode_link(link: &str, path: &str) -> Option<LinkParams> {
    let rest = link.strip_prefix(path)?;
    let mut params = LinkParams::default();
    let Some(query) = rest.strip_prefix('?') else {
        return rest.is_empty().then_some(params);
    };
    for part in query.split('&') {
        let (name, raw) = part.split_once('=')?;
        let value = Some(percent_decode(raw)?);
        match name {
            "page_size" => params.page_size = value,
            "ordering" => params.ordering = value,
            "direction" => params.direction = value,
            "last_pk" => params.last_pk = value,
            _ => return None,
        }
    }
    Some(params)
}

/// Parses decoded link parameters the way list endpoints do.
fn parse_params(p: &LinkParams, default_descending: bool) -> Result<PageRequest, String> {
    PageRequest::parse(
        p.page_size.as_deref(),
        p.ordering.as_deref(),
        p.direction.as_deref(),
        p.last_pk.as_deref(),
        default_descending,
    )
    .map_err(|e| format!("{e:?}"))
}

/// A `page_size` a client may send: digits, possibly padded or signed, possibly above
/// the maximum (clamped) — every form `PageRequest::parse` accepts.
fn page_size_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..=1000).prop_map(|n| n.to_string()),
        (0i64..=i64::MAX).prop_map(|n| format!(" {n}\t")),
        (0i64..=100).prop_map(|n| format!("+{n}")),
    ]
}

/// Any cursor: direction and boundary each present or not.
fn cursor() -> impl Strategy<Value = Cursor> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(0..=i32::MAX as i64),
    )
        .prop_map(|(direction, last_pk)| Cursor { direction, last_pk })
}

/// A request as a client could have made it (valid parameters, arbitrary `ordering`
/// text, which links echo back as given).
fn request() -> impl Strategy<Value = PageRequest> {
    (
        proptest::option::of(page_size_text()),
        proptest::option::of(any::<String>()),
        cursor(),
        any::<bool>(),
    )
        .prop_map(|(page_size, ordering, at, default_descending)| {
            let direction = at.direction.map(|d| if d { "1" } else { "0" });
            let last_pk = at.last_pk.map(|pk| pk.to_string());
            PageRequest::parse(
                page_size.as_deref(),
                ordering.as_deref(),
                direction,
                last_pk.as_deref(),
                default_descending,
            )
            .expect("generated parameters are valid")
        })
}

/// The link path: any text without `?` (list paths never carry their own query).
fn path() -> impl Strategy<Value = String> {
    "[^?]{0,24}"
}

/// Optional text that is usually small and odd: signs, spaces, digits, huge numbers,
/// non-ASCII.
fn param_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        any::<String>(),
        "[ +\\-0-9]{0,25}",
        "[0-9]{10,40}",
        Just("\u{0}".to_string()),
        Just("٣".to_string()),
    ])
}

proptest! {
    #![proptest_config(crate::config())]

    /// Rendering a cursor into a link and reading the link back gives the same request
    /// parameters and the same cursor.
    #[test]
    fn links_round_trip(req in request(), at in cursor(), path in path(), default_descending in any::<bool>()) {
        let link = req.link(&path, &at);
        let params = decode_link(&link, &path).expect("a link splits into its parameters");
        prop_assert_eq!(params.page_size.as_deref(), req.page_size_param.as_deref());
        prop_assert_eq!(params.ordering.as_deref(), req.ordering_param.as_deref());
        let back = parse_params(&params, default_descending).expect("a rendered link parses");
        prop_assert_eq!(back.direction, at.direction);
        prop_assert_eq!(back.last_pk, at.last_pk);
        prop_assert_eq!(back.page_size, req.page_size);
        prop_assert_eq!(back.page_size_param, req.page_size_param);
        prop_assert_eq!(back.ordering_param, req.ordering_param);
        if default_descending == req.descending {
            prop_assert_eq!(back.descending, req.descending);
        }
    }

    /// The cursors a page hands out (`next`/`prev`) survive the same round trip, so
    /// following a link asks for exactly the page it points at.
    #[test]
    fn page_links_round_trip(
        req in request(),
        count in 0usize..=120,
        first in 0..=i32::MAX as i64,
        span in 0i64..1000,
        empty in any::<bool>(),
    ) {
        let first_last = (!empty).then(|| (first, first.saturating_add(span).min(i32::MAX as i64)));
        let (next, prev) = req.links(count, first_last);
        for at in [next, prev].into_iter().flatten() {
            let link = req.link("/v1.1/x/", &at);
            let params = decode_link(&link, "/v1.1/x/").expect("splits");
            let back = parse_params(&params, req.descending).expect("parses");
            prop_assert_eq!(back.direction, at.direction);
            prop_assert_eq!(back.last_pk, at.last_pk);
            prop_assert_eq!(back.descending, req.descending);
            prop_assert_eq!(back.page_size, req.page_size);
        }
    }

    /// Arbitrary parameter text is accepted or refused, never a panic; what is accepted
    /// stays inside the documented ranges, and the plan and links of an accepted request
    /// can always be computed.
    #[test]
    fn arbitrary_params_never_panic(
        page_size in param_text(),
        ordering in param_text(),
        direction in param_text(),
        last_pk in param_text(),
        default_descending in any::<bool>(),
        count in any::<usize>(),
        first_last in proptest::option::of((any::<i64>(), any::<i64>())),
    ) {
        let parsed = PageRequest::parse(
            page_size.as_deref(),
            ordering.as_deref(),
            direction.as_deref(),
            last_pk.as_deref(),
            default_descending,
        );
        let Ok(req) = parsed else { return Ok(()) };
        prop_assert!((0..=MAX_PAGE_SIZE).contains(&req.page_size));
        prop_assert!(req.last_pk.is_none_or(|pk| (0..=i32::MAX as i64).contains(&pk)));
        let keyset = req.keyset();
        prop_assert_eq!(keyset.limit, req.page_size);
        let (next, prev) = req.links(count, first_last);
        for at in [next, prev].into_iter().flatten() {
            let _ = req.link("/p/", &at);
        }
    }

    /// `parse_pk` (also the id reader of several endpoints) answers `None` or an id in
    /// range for any text, and reads back every id it would render.
    #[test]
    fn parse_pk_is_total(raw in any::<String>(), id in 0..=i32::MAX as i64) {
        prop_assert!(parse_pk(&raw).is_none_or(|v| (0..=i32::MAX as i64).contains(&v)));
        prop_assert_eq!(parse_pk(&id.to_string()), Some(id));
    }

    /// Percent-encoding is reversible for any text (links echo `ordering` and
    /// `page_size` through it) and only emits unreserved characters and escapes.
    #[test]
    fn query_values_encode_reversibly(v in any::<String>()) {
        let encoded = encode_query_value(&v);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        prop_assert_eq!(percent_decode(&encoded), Some(v));
    }
}
