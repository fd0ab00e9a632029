//! URLs in responses (`links`, an object's `owner`/`group`/`channel`), written straight
//! into the JSON output. Every listed object carries several of them, so they are built
//! from text pieces and integer ids in a per-thread scratch string: no `core::fmt` and no
//! allocation for a URL of ordinary length (a quarter of a users page's serialisation
//! went to formatting them, measured with callgrind).

use serde::{Serialize, Serializer};

/// One piece of a URL: text (already URL-safe: names are validated slugs) or an id.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Text(&'a str),
    Id(i64),
}

impl<'a> From<&'a str> for Seg<'a> {
    fn from(s: &'a str) -> Self {
        Seg::Text(s)
    }
}

impl<'a> From<&'a String> for Seg<'a> {
    fn from(s: &'a String) -> Self {
        Seg::Text(s)
    }
}

impl From<i64> for Seg<'_> {
    fn from(id: i64) -> Self {
        Seg::Id(id)
    }
}

/// A URL made of [`Seg`]s, serialised as one JSON string; build it with [`url!`].
pub(crate) struct Link<'a>(pub &'a [Seg<'a>]);

/// `url!(base, "/users/", id, "/")`: a [`Link`] of the given pieces.
macro_rules! url {
    ($($seg:expr),+ $(,)?) => {
        $crate::api::link::Link(&[$($crate::api::link::Seg::from($seg)),+])
    };
}
pub(crate) use url;

impl Link<'_> {
    /// Hands the URL's pieces to `put` in order.
    fn write_into(&self, mut put: impl FnMut(&str)) {
        let mut digits = itoa::Buffer::new();
        for seg in self.0 {
            match seg {
                Seg::Text(s) => put(s),
                Seg::Id(id) => put(digits.format(*id)),
            }
        }
    }
}

impl Serialize for Link<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Assembled in this thread's scratch string, whose capacity stays: no allocation,
        // zeroing or UTF-8 check per URL. (`serialize_str` is a leaf: nothing inside it can
        // build another link while the scratch is borrowed.)
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                self.write_into(|piece| scratch.push_str(piece));
                s.serialize_str(&scratch)
            }
            Err(_) => {
                let mut own = String::new();
                self.write_into(|piece| own.push_str(piece));
                s.serialize_str(&own)
            }
        })
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A `links` object of fixed entries.
pub(crate) struct Links<'a, const N: usize>(pub [(&'static str, Link<'a>); N]);

impl<const N: usize> Serialize for Links<'_, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(N))?;
        for (name, url) in &self.0 {
            m.serialize_entry(name, url)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn links_join_text_and_ids() {
        let base = "/v1.1/instances/rivia".to_string();
        let json = serde_json::to_string(&url!(&base, "/users/", -12, "/groups/")).expect("json");
        assert_eq!(json, r#""/v1.1/instances/rivia/users/-12/groups/""#);
    }

    #[test]
    fn long_links_are_whole() {
        let long = "x".repeat(300);
        let json = serde_json::to_value(url!("/a/", long.as_str(), "/", i64::MAX)).expect("json");
        assert_eq!(json, format!("/a/{long}/{}", i64::MAX).as_str());
    }
}
