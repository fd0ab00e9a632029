//! A small JSON object as a template value: its keys in order, shared by every object of
//! a page with the same keys, and its values beside them. minijinja's own map is an
//! `IndexMap` with SipHash: building one hashes every key, looking a key up hashes it
//! again, and dropping one frees its index too. A page's rows have a dozen keys each and
//! the same keys as each other, so here a lookup compares the few key strings in turn,
//! building a row hashes nothing, and the key names are made once per page, not per row.
//!
//! A [`Row`] behaves as minijinja's map of the same entries does (it is a map: printing,
//! `tojson`, `items()`, `dictsort`, `in`, comparisons and iteration go through the same
//! generic paths), with one addition: `keys()` answers the row's shared [`KeySet`] itself,
//! so `a.keys() != b.keys()` of two rows with the same keys is a pointer comparison.

use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

/// Most entries a [`Row`] holds: past this a lookup by scanning costs more than hashing,
/// and a larger object becomes minijinja's own map.
pub(super) const MAX_ROW_KEYS: usize = 24;

/// How many distinct key sets a parse remembers for sharing (a page's rows, their nested
/// `links`, the envelope).
const RECENT_KEY_SETS: usize = 8;

/// The keys of one or more rows, in order, without repeats. As a value it is what
/// `keys()` of a map gives: an iterable of the key strings.
#[derive(Debug)]
pub(super) struct KeySet {
    names: Box<[Value]>,
    /// The names one after another (compared as a whole when rows are built, and name by
    /// name on lookups, without going through their values).
    text: Box<str>,
    /// Where each name ends in `text`.
    ends: Box<[usize]>,
    /// Each name's [`head`]: a lookup compares whole names only when length and head
    /// match, which for a short name (most are) settles it.
    heads: Box<[u64]>,
}

impl KeySet {
    fn position(&self, key: &str) -> Option<usize> {
        let want = head(key);
        let mut start = 0;
        for (i, (&end, &h)) in self.ends.iter().zip(self.heads.iter()).enumerate() {
            if h == want && end - start == key.len() && self.text.get(start..end) == Some(key) {
                return Some(i);
            }
            start = end;
        }
        None
    }
}

/// A name's first eight bytes as one number: comparing two is one instruction, where
/// comparing the strings is a call (a row lookup used to compare every name of the
/// same length as the one asked for).
fn head(name: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = name.len().min(8);
    bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
    u64::from_le_bytes(bytes)
}

impl Object for KeySet {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.names.iter().cloned()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.names.len())
    }
}

/// A JSON object of at most [`MAX_ROW_KEYS`] distinct keys.
#[derive(Debug)]
pub(super) struct Row {
    keys: Arc<KeySet>,
    values: Box<[Value]>,
}

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        // JSON keys are strings: any other key is missing, as in minijinja's map.
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let at = self.keys.position(key)?;
        self.values.get(at).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        // Reversible, as minijinja's map is (`|reverse` of a map).
        self.mapped_rev_key_value_enumerator(|this| {
            Box::new(
                this.keys
                    .names
                    .iter()
                    .cloned()
                    .zip(this.values.iter().cloned()),
            )
        })
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.values.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.values.is_empty()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        // `keys()` as pycompat answers it for a map (an iterable of the keys), but the
        // one shared by the rows with these keys. Other methods, and `keys` given
        // arguments (its error), take the usual path.
        if method == "keys" && args.is_empty() {
            return Ok(Value::from_dyn_object(self.keys.clone()));
        }
        Err(Error::from(ErrorKind::UnknownMethod))
    }
}

/// Builds rows during one parse or build, sharing the key sets it has seen.
#[derive(Default)]
pub(super) struct Rows {
    recent: Vec<Arc<KeySet>>,
    /// The keys being looked up, as a [`KeySet`] holds them (reused from map to map).
    text: String,
    ends: Vec<usize>,
}

impl Rows {
    /// The key set of an object with these keys (in order) when it can be a [`Row`]: a
    /// remembered one, else a new one. `None` when the keys are too many or one repeats
    /// (the caller builds minijinja's map, which also settles repeated keys).
    pub(super) fn key_set<'k>(
        &mut self,
        keys: impl ExactSizeIterator<Item = &'k str>,
    ) -> Option<Arc<KeySet>> {
        if keys.len() > MAX_ROW_KEYS {
            return None;
        }
        let (mut text, mut ends) = (
            std::mem::take(&mut self.text),
            std::mem::take(&mut self.ends),
        );
        text.clear();
        ends.clear();
        for key in keys {
            text.push_str(key);
            ends.push(text.len());
        }
        let set = self.key_set_of(&text, &ends);
        (self.text, self.ends) = (text, ends);
        set
    }

    /// [`Rows::key_set`] of keys given as their text one after another and where each ends
    /// in it (as a build already holds them: no copy).
    pub(super) fn key_set_of(&mut self, text: &str, ends: &[usize]) -> Option<Arc<KeySet>> {
        if ends.len() > MAX_ROW_KEYS {
            return None;
        }
        if let Some(at) = self
            .recent
            .iter()
            .position(|s| *s.ends == *ends && *s.text == *text)
        {
            let set = self.recent[at].clone();
            // Most recently used first: the next row most likely has the same keys.
            self.recent[..=at].rotate_right(1);
            return Some(set);
        }
        let set = Arc::new(new_set(text, ends)?);
        if self.recent.len() == RECENT_KEY_SETS {
            self.recent.pop();
        }
        self.recent.insert(0, set.clone());
        Some(set)
    }
}

/// The key set of these keys, unless one repeats (checked once per distinct key set, not
/// per row).
fn new_set(text: &str, ends: &[usize]) -> Option<KeySet> {
    let names: Vec<&str> = ends
        .iter()
        .scan(0, |start, &end| {
            let name = text.get(*start..end);
            *start = end;
            name
        })
        .collect();
    let repeats = names
        .iter()
        .enumerate()
        .any(|(i, k)| names[..i].contains(k));
    if repeats || names.len() != ends.len() {
        return None;
    }
    Some(KeySet {
        names: names.iter().map(|k| Value::from(*k)).collect(),
        text: text.into(),
        ends: ends.into(),
        heads: names.iter().map(|k| head(k)).collect(),
    })
}

/// The row of `values` under `keys` (as many values as keys).
pub(super) fn row(keys: Arc<KeySet>, values: impl Iterator<Item = Value>) -> Value {
    Value::from_object(Row {
        keys,
        values: values.collect(),
    })
}
