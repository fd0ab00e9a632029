//! URLs in responses (`links`, an object's `owner`/`group`/`channel`), written straight
//! into the JSON output. Every listed object carries several of them, so they are built
//! from text pieces and integer ids in a stack buffer: no `core::fmt` machinery and no
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

/// URLs up to this many bytes are assembled on the stack.
const STACK_BYTES: usize = 256;

impl Link<'_> {
    fn len(&self) -> usize {
        self.0
            .iter()
            .map(|seg| match seg {
                Seg::Text(s) => s.len(),
                Seg::Id(_) => 20,
            })
            .sum()
    }

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
        if self.len() > STACK_BYTES {
            let mut heap = String::with_capacity(self.len());
            self.write_into(|piece| heap.push_str(piece));
            return s.serialize_str(&heap);
        }
        let mut stack = StackBuf::default();
        self.write_into(|piece| stack.push_str(piece));
        s.serialize_str(stack.as_str())
    }
}

/// A fixed buffer of [`STACK_BYTES`], filled with whole `&str` pieces that fit (the
/// caller checked the total against [`Link::len`]).
struct StackBuf {
    bytes: [u8; STACK_BYTES],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        StackBuf {
            bytes: [0; STACK_BYTES],
            len: 0,
        }
    }
}

impl StackBuf {
    fn push_str(&mut self, piece: &str) {
        let end = self.len + piece.len();
        if let Some(dst) = self.bytes.get_mut(self.len..end) {
            dst.copy_from_slice(piece.as_bytes());
            self.len = end;
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str` pieces are written, so the bytes are valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
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
