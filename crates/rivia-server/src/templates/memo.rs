//! Rendered outputs of the response path, kept for identical requests. A render is a pure
//! function of the template and its context (the engine has no clock, no randomness and no
//! I/O), and on the response path the context is the template's own plus `instance`,
//! `action`, `user` and the view's JSON: the same JSON through the same compiled template
//! for the same user gives the same text. A page fetched again unchanged (a dashboard, a
//! CSV export polled by a script) then costs a comparison of its JSON instead of a parse
//! and a render. Entries hold their template, so a changed template (a new [`Loaded`])
//! never matches an old entry; the whole memo is dropped when it grows past its bounds.

use super::Loaded;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Most entries kept.
const MAX_ENTRIES: usize = 256;
/// Most bytes of JSON and output kept, together.
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// What a rendered output was made from.
pub(crate) struct Inputs<'a> {
    pub(crate) template: &'a Arc<Loaded>,
    pub(crate) instance: &'a str,
    pub(crate) action: &'static str,
    pub(crate) user: Option<&'a str>,
    pub(crate) response: &'a Bytes,
}

struct Entry {
    template: Arc<Loaded>,
    instance: String,
    action: &'static str,
    user: Option<String>,
    response: Bytes,
    output: Bytes,
}

impl Entry {
    fn matches(&self, i: &Inputs) -> bool {
        Arc::ptr_eq(&self.template, i.template)
            && self.instance == i.instance
            && self.action == i.action
            && self.user.as_deref() == i.user
            && self.response == *i.response
    }
}

/// Where a missed rendering goes in the memo (the hash of its inputs).
pub(crate) struct Key(u64);

/// The memo: entries by a hash of their inputs, checked against the inputs themselves.
#[derive(Default)]
pub(crate) struct Memo {
    state: Mutex<State>,
    /// foldhash, randomly seeded: a hit is confirmed against the inputs themselves, so the
    /// hash need only spread them, and SipHash of a 35 KB page cost ~90,000 instructions.
    hasher: foldhash::fast::RandomState,
}

#[derive(Default)]
struct State {
    entries: HashMap<u64, Entry>,
    bytes: usize,
}

impl Memo {
    fn key(&self, i: &Inputs) -> u64 {
        let mut h = self.hasher.build_hasher();
        (Arc::as_ptr(i.template) as usize).hash(&mut h);
        i.instance.hash(&mut h);
        i.action.hash(&mut h);
        i.user.hash(&mut h);
        i.response.hash(&mut h);
        h.finish()
    }

    /// The output rendered before from exactly these inputs, or (a miss) the key to
    /// [`Memo::put`] its rendering under: hashing a page's JSON is done once.
    pub(crate) fn get(&self, i: &Inputs) -> Result<Bytes, Key> {
        let key = self.key(i);
        let state = self.state.lock();
        state
            .entries
            .get(&key)
            .filter(|e| e.matches(i))
            .map(|e| e.output.clone())
            .ok_or(Key(key))
    }

    /// Keeps `output` as the rendering of `i` (`key`: what [`Memo::get`] gave for `i`).
    pub(crate) fn put(&self, Key(key): Key, i: &Inputs, output: Bytes) {
        let size = i.response.len() + output.len();
        if size > MAX_BYTES / 8 {
            return;
        }
        let entry = Entry {
            template: i.template.clone(),
            instance: i.instance.to_owned(),
            action: i.action,
            user: i.user.map(str::to_owned),
            response: i.response.clone(),
            output,
        };
        let mut state = self.state.lock();
        if state.entries.len() >= MAX_ENTRIES || state.bytes + size > MAX_BYTES {
            state.entries.clear();
            state.bytes = 0;
        }
        if let Some(old) = state.entries.insert(key, entry) {
            state.bytes -= old.response.len() + old.output.len();
        }
        state.bytes += size;
    }
}
