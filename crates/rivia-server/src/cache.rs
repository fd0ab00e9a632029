//! Short-lived caches of the lookups every request makes before its real work (instance by
//! name, key → account/API key/user, admin role, profile class, a polled channel, a data
//! endpoint). An entry is valid while
//! the store's auth generation is unchanged (any local write to those rows invalidates all
//! entries) and for at most [`TTL`], which bounds staleness when another node made the
//! change.

use parking_lot::Mutex;
use rivia_core::perms::Role;
use rivia_store::admins::Admin;
use rivia_store::api_keys::ApiKey;
use rivia_store::channels::Channel;
use rivia_store::classes::Class;
use rivia_store::data_endpoints::DataEndpoint;
use rivia_store::instances::Instance;
use rivia_store::users::User;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long an entry may serve without re-reading the database.
pub(crate) const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;

struct Entry<V> {
    value: V,
    generation: u64,
    at: Instant,
}

/// A map of entries tagged with the generation read before their lookup. Hashed with
/// foldhash (randomly seeded per process): SipHash was 2% of a cached request's
/// instructions, and the keys that reach a cache are ones a lookup found, capped at
/// [`MAX_ENTRIES`].
pub(crate) struct TtlCache<K, V> {
    map: Mutex<HashMap<K, Entry<V>, foldhash::fast::RandomState>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            map: Mutex::new(HashMap::default()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// A fresh entry for `key`, if any.
    pub(crate) fn get<Q>(&self, key: &Q, generation: u64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.lock();
        let e = map.get(key)?;
        (e.generation == generation && e.at.elapsed() < TTL).then(|| e.value.clone())
    }

    /// Stores a value looked up at `generation`.
    pub(crate) fn put(&self, key: K, value: V, generation: u64) {
        let mut map = self.map.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                value,
                generation,
                at: Instant::now(),
            },
        );
    }
}

/// Every cache of the authentication path.
#[derive(Default)]
pub(crate) struct AuthCache {
    /// Instance by lowercase name.
    pub(crate) instances: TtlCache<String, Instance>,
    /// Admin by account key.
    pub(crate) admins: TtlCache<String, Admin>,
    /// API key by value.
    pub(crate) api_keys: TtlCache<String, ApiKey>,
    /// Role of an admin in an instance (none cached too).
    pub(crate) roles: TtlCache<(i64, i64), Option<Role>>,
    /// User by (instance id, user key).
    pub(crate) users: TtlCache<(i64, String), User>,
    /// The `user_profile` class of an instance.
    pub(crate) profile_classes: TtlCache<i64, Class>,
    /// Classes by (instance id, lowercase name).
    pub(crate) classes: TtlCache<(i64, String), Class>,
    /// Parsed class schemas by (class id, revision): every objects request needs one.
    pub(crate) schemas: TtlCache<(i64, i64), std::sync::Arc<rivia_core::schema::Schema>>,
    /// Channels by (instance id, lowercase name), for polls: 1,000 pollers re-polling
    /// after every message would otherwise read the channel 1,000 times.
    pub(crate) channels: TtlCache<(i64, String), Channel>,
    /// Data endpoints with their classes by (instance id, lowercase name): every `get/` and
    /// `post/` needs one before its real work.
    pub(crate) data_endpoints: TtlCache<(i64, String), (DataEndpoint, Class)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_the_generation() {
        let c: TtlCache<&str, i32> = TtlCache::default();
        c.put("a", 1, 7);
        assert_eq!(c.get(&"a", 7), Some(1));
        assert_eq!(c.get(&"a", 8), None);
        assert_eq!(c.get(&"b", 7), None);
    }
}
