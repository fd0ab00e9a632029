//! The change bus: wakes long-polls and WebSockets when a channel/room gets a change.
//!
//! Every node keeps an in-process map of `tokio::sync::broadcast` senders, one per
//! channel/room that has a waiter here. A change committed on this node is handed to
//! [`ChangeBus::committed`] and delivered at once. On PostgreSQL every write transaction
//! that appends a change also runs `pg_notify('rivia_changes', '<instance>:<channel>:<id>')`;
//! one dedicated `LISTEN` connection per node ([`Store::start_realtime`]) turns the other
//! nodes' notifications into deliveries by reading the change back from the table.
//!
//! The bus is a wake-up service, never the source of truth: each delivered change carries
//! the id of its predecessor in its channel/room, and a waiter whose cursor is behind that
//! predecessor re-reads the table. Lagging receivers and listener reconnects turn into a
//! [`BusEvent::Resync`], which makes every waiter re-read. A lost notification therefore
//! costs latency, never a message.
//!
//! Each channel/room with waiters also remembers its newest change id once a waiter has
//! read it from the table ([`Store::newest_change_id`]); deliveries keep it current. A
//! poll whose `last_id` is that id then waits without reading the table (1,000 pollers
//! re-polling after each message would otherwise be 1,000 reads). The value is trusted
//! only while no notification can have been missed: [`ChangeBus::resync_all`] forgets
//! every remembered id, and a table read that overlapped a resync is not remembered.

use crate::Store;
use crate::channels::{Change, NOTIFY_CHANNEL};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// Broadcast buffer per channel/room; a waiter further behind re-reads the table.
const TOPIC_CAPACITY: usize = 16;
/// How many locally committed change ids are remembered to skip re-reading them when
/// their own notification comes back through `LISTEN`.
const RECENT_LOCAL: usize = 4096;

/// What a waiter is told.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A committed change of the waiter's channel/room.
    Change(Arc<Change>),
    /// Changes may have been missed: re-read the table.
    Resync,
    /// The channel was deleted.
    Deleted,
}

/// A channel id and a lowercase room (none for channels without rooms).
type Topic = (i64, Option<String>);

/// A channel/room with waiters on this node.
struct TopicState {
    tx: broadcast::Sender<BusEvent>,
    /// The newest change id, when known for certain: every newer change is still to be
    /// delivered here.
    newest: Option<i64>,
}

#[derive(Default)]
struct Topics {
    senders: HashMap<Topic, TopicState>,
    /// Number of topics per channel id, to skip notifications nobody here waits for.
    per_channel: HashMap<i64, usize>,
}

#[derive(Default)]
struct Recent {
    order: VecDeque<(i64, i64)>,
    set: HashSet<(i64, i64)>,
}

#[derive(Default)]
struct BusInner {
    topics: Mutex<Topics>,
    /// Bumped by every resync: a table read that started before one may have missed a
    /// lost notification's change, so it must not become a remembered newest id.
    epoch: AtomicU64,
    /// Channel/rooms written on this node since the last retention pass.
    touched: Mutex<HashSet<Topic>>,
    recent_local: Mutex<Recent>,
}

/// Locks a std mutex, ignoring poisoning: the guarded maps stay consistent because no
/// code path panics while holding them. Never held across an `.await`.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The per-node change bus; cheap to clone.
#[derive(Clone, Default)]
pub struct ChangeBus {
    inner: Arc<BusInner>,
}

/// A waiter's registration on one channel/room; unregisters on drop.
pub struct Subscription {
    rx: Option<broadcast::Receiver<BusEvent>>,
    topic: Topic,
    bus: Arc<BusInner>,
}

impl Subscription {
    /// The next event. Falling behind the buffer reads as [`BusEvent::Resync`].
    pub async fn recv(&mut self) -> BusEvent {
        let Some(rx) = self.rx.as_mut() else {
            return BusEvent::Deleted;
        };
        match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => BusEvent::Resync,
            Err(broadcast::error::RecvError::Closed) => {
                self.rx = None;
                BusEvent::Deleted
            }
        }
    }
}

impl Subscription {
    /// The channel id and room this subscription waits on.
    pub(crate) fn topic(&self) -> (i64, Option<&str>) {
        (self.topic.0, self.topic.1.as_deref())
    }

    /// The remembered newest change id of this channel/room, if any.
    pub fn known_newest(&self) -> Option<i64> {
        lock(&self.bus.topics)
            .senders
            .get(&self.topic)
            .and_then(|t| t.newest)
    }

    /// The resync epoch; take it before a table read passed to [`Self::learned_newest`].
    pub fn epoch(&self) -> u64 {
        self.bus.epoch.load(Ordering::SeqCst)
    }

    /// Remembers `id`, read from the table while this subscription existed and since
    /// `epoch` (from [`Self::epoch`]), as the newest change id. Every later change is
    /// delivered to this subscription's topic, so deliveries keep the value exact.
    pub(crate) fn learned_newest(&self, id: i64, epoch: u64) {
        let mut topics = lock(&self.bus.topics);
        // Checked under the lock that resync_all holds while forgetting.
        if self.bus.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if let Some(t) = topics.senders.get_mut(&self.topic) {
            t.newest = Some(t.newest.map_or(id, |n| n.max(id)));
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Drop the receiver first so the count below no longer includes it.
        drop(self.rx.take());
        let mut topics = lock(&self.bus.topics);
        let unused = topics
            .senders
            .get(&self.topic)
            .is_some_and(|s| s.tx.receiver_count() == 0);
        if unused {
            topics.senders.remove(&self.topic);
            release_channel(&mut topics, self.topic.0);
        }
    }
}

fn release_channel(topics: &mut Topics, channel_id: i64) {
    if let Some(n) = topics.per_channel.get_mut(&channel_id) {
        *n -= 1;
        if *n == 0 {
            topics.per_channel.remove(&channel_id);
        }
    }
}

impl ChangeBus {
    /// Registers interest in a channel/room. Subscribe *before* reading the table so that
    /// nothing committed after the read can be missed.
    pub fn subscribe(&self, channel_id: i64, room: Option<&str>) -> Subscription {
        let topic: Topic = (channel_id, room.map(str::to_string));
        let mut topics = lock(&self.inner.topics);
        let rx = match topics.senders.get(&topic) {
            Some(s) => s.tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(TOPIC_CAPACITY);
                topics
                    .senders
                    .insert(topic.clone(), TopicState { tx, newest: None });
                *topics.per_channel.entry(channel_id).or_insert(0) += 1;
                rx
            }
        };
        Subscription {
            rx: Some(rx),
            topic,
            bus: self.inner.clone(),
        }
    }

    /// The post-commit hook: call it with every change returned by
    /// [`crate::channels::append_change`] once its transaction has committed. Wakes this
    /// node's waiters and schedules the channel/room for retention.
    pub fn committed(&self, change: Change) -> Arc<Change> {
        let change = Arc::new(change);
        lock(&self.inner.touched).insert((change.channel_id, change.room.clone()));
        {
            let mut recent = lock(&self.inner.recent_local);
            let key = (change.instance_id, change.id);
            if recent.set.insert(key) {
                recent.order.push_back(key);
            }
            if recent.order.len() > RECENT_LOCAL
                && let Some(old) = recent.order.pop_front()
            {
                recent.set.remove(&old);
            }
        }
        self.deliver(change.clone());
        change
    }

    /// Sends a change to the waiters of its channel/room on this node.
    pub(crate) fn deliver(&self, change: Arc<Change>) {
        let mut topics = lock(&self.inner.topics);
        if let Some(t) = topics
            .senders
            .get_mut(&(change.channel_id, change.room.clone()))
        {
            // Only a known value moves: one learned from the table guarantees that every
            // newer change reaches this topic, which a first delivery alone does not.
            if let Some(n) = t.newest.as_mut() {
                *n = (*n).max(change.id);
            }
            let _ = t.tx.send(BusEvent::Change(change));
        }
    }

    /// Ends every wait on a deleted channel.
    pub(crate) fn channel_deleted(&self, channel_id: i64) {
        let mut topics = lock(&self.inner.topics);
        let gone: Vec<Topic> = topics
            .senders
            .keys()
            .filter(|t| t.0 == channel_id)
            .cloned()
            .collect();
        for topic in gone {
            if let Some(t) = topics.senders.remove(&topic) {
                let _ = t.tx.send(BusEvent::Deleted);
            }
        }
        topics.per_channel.remove(&channel_id);
    }

    /// Tells every waiter to re-read the table and forgets every remembered newest id
    /// (after notifications may have been lost).
    pub(crate) fn resync_all(&self) {
        let mut topics = lock(&self.inner.topics);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        for t in topics.senders.values_mut() {
            t.newest = None;
            let _ = t.tx.send(BusEvent::Resync);
        }
    }

    /// Whether anyone on this node waits on the channel.
    pub(crate) fn has_waiters(&self, channel_id: i64) -> bool {
        lock(&self.inner.topics)
            .per_channel
            .contains_key(&channel_id)
    }

    /// Number of waiters on this node (for tests and diagnostics).
    pub fn waiter_count(&self) -> usize {
        lock(&self.inner.topics)
            .senders
            .values()
            .map(|s| s.tx.receiver_count())
            .sum()
    }

    fn committed_here(&self, instance_id: i64, change_id: i64) -> bool {
        lock(&self.inner.recent_local)
            .set
            .contains(&(instance_id, change_id))
    }

    fn take_touched(&self) -> Vec<Topic> {
        lock(&self.inner.touched).drain().collect()
    }
}

/// A parsed `rivia_changes` notification.
#[derive(Debug, PartialEq, Eq)]
enum Notice {
    Change {
        instance_id: i64,
        channel_id: i64,
        change_id: i64,
    },
    Deleted {
        channel_id: i64,
    },
}

fn parse_notice(payload: &str) -> Option<Notice> {
    let mut parts = payload.split(':');
    let instance_id = parts.next()?.parse().ok()?;
    let channel_id = parts.next()?.parse().ok()?;
    let last = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    if last == "deleted" {
        return Some(Notice::Deleted { channel_id });
    }
    Some(Notice::Change {
        instance_id,
        channel_id,
        change_id: last.parse().ok()?,
    })
}

/// How often the retention pass runs.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

impl Store {
    /// Starts the background parts of realtime: the retention pass and, on PostgreSQL,
    /// the `LISTEN` connection that delivers other nodes' changes. Call once per process
    /// inside a tokio runtime.
    pub fn start_realtime(&self) {
        let store = self.clone();
        tokio::spawn(async move { prune_loop(store).await });
        if let Some(url) = self.db.postgres_url() {
            let store = self.clone();
            let url = url.to_string();
            tokio::spawn(async move { listen_loop(store, url).await });
        }
    }

    /// The newest change id of a subscription's channel/room (0 when none): the remembered
    /// one when it is at least `at_least`, else read from the table (and remembered). A
    /// poll's `last_id` above the remembered id may be a change whose notification is
    /// still on its way, hence the read.
    pub async fn newest_change_id(
        &self,
        sub: &Subscription,
        at_least: Option<i64>,
    ) -> crate::StoreResult<i64> {
        if let Some(n) = sub.known_newest()
            && at_least.is_none_or(|l| l <= n)
        {
            return Ok(n);
        }
        let epoch = sub.epoch();
        let (channel_id, room) = sub.topic();
        let id = self.last_change_id(channel_id, room).await?;
        sub.learned_newest(id, epoch);
        Ok(id)
    }

    /// Runs one retention pass now (the background task does this every 30 s).
    pub async fn prune_touched_changes(&self) -> crate::StoreResult<u64> {
        let touched = self.bus.take_touched();
        self.prune_changes(&touched).await
    }
}

async fn prune_loop(store: Store) {
    loop {
        tokio::time::sleep(PRUNE_EVERY).await;
        if let Err(e) = store.prune_touched_changes().await {
            tracing::warn!(error = %e, "channel history retention pass failed");
        }
    }
}

async fn listen_loop(store: Store, url: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(&store, &url, &mut backoff).await {
            Ok(()) => tracing::warn!("change listener connection closed; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "change listener failed; reconnecting"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One LISTEN session: returns when the connection ends.
async fn listen_once(
    store: &Store,
    url: &str,
    backoff: &mut Duration,
) -> Result<(), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.application_name("rivia-listener");
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection only makes progress while polled; this task drives it and forwards
    // notifications. It ends (dropping `tx`) when the connection fails or closes.
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(msg) = futures_util::StreamExt::next(&mut messages).await {
            match msg {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "change listener connection error");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await?;
    *backoff = Duration::from_millis(100);
    // Whatever was committed while we were not listening is only in the table.
    store.bus.resync_all();
    tracing::info!("change listener connected");
    while let Some(payload) = rx.recv().await {
        handle_notice(store, &payload).await;
    }
    Ok(())
}

async fn handle_notice(store: &Store, payload: &str) {
    match parse_notice(payload) {
        Some(Notice::Deleted { channel_id }) => {
            store.bus.channel_deleted(channel_id);
            // Polls here may hold the channel in a cache: make them read it again.
            store.auth_changed();
        }
        Some(Notice::Change {
            instance_id,
            channel_id,
            change_id,
        }) => {
            if !store.bus.has_waiters(channel_id)
                || store.bus.committed_here(instance_id, change_id)
            {
                return;
            }
            match store.change_by_id(instance_id, change_id).await {
                Ok(Some(change)) => store.bus.deliver(Arc::new(change)),
                // Already pruned or its channel deleted: nothing to deliver.
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading a notified change failed");
                    store.bus.resync_all();
                }
            }
        }
        None => tracing::warn!(payload, "ignoring a malformed change notification"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse() {
        assert_eq!(
            parse_notice("1:2:3"),
            Some(Notice::Change {
                instance_id: 1,
                channel_id: 2,
                change_id: 3
            })
        );
        assert_eq!(
            parse_notice("1:2:deleted"),
            Some(Notice::Deleted { channel_id: 2 })
        );
        assert_eq!(parse_notice("1:2"), None);
        assert_eq!(parse_notice("1:2:3:4"), None);
        assert_eq!(parse_notice("x:2:3"), None);
    }

    #[tokio::test]
    async fn subscriptions_are_released_on_drop() {
        let bus = ChangeBus::default();
        let a = bus.subscribe(1, Some("r"));
        let b = bus.subscribe(1, Some("r"));
        let c = bus.subscribe(1, None);
        assert_eq!(bus.waiter_count(), 3);
        assert!(bus.has_waiters(1));
        drop(a);
        drop(c);
        assert!(bus.has_waiters(1));
        drop(b);
        assert_eq!(bus.waiter_count(), 0);
        assert!(!bus.has_waiters(1));
    }

    fn change(id: i64, prev_id: i64) -> Arc<Change> {
        Arc::new(Change::for_tests(id, 1, 9, None, prev_id))
    }

    #[tokio::test]
    async fn newest_id_is_remembered_only_from_a_read_and_kept_by_deliveries() {
        let bus = ChangeBus::default();
        let s = bus.subscribe(9, None);
        // A delivery alone does not make an id known.
        bus.deliver(change(3, 2));
        assert_eq!(s.known_newest(), None);
        let epoch = s.epoch();
        s.learned_newest(3, epoch);
        assert_eq!(s.known_newest(), Some(3));
        bus.deliver(change(5, 3));
        assert_eq!(s.known_newest(), Some(5));
        // A late delivery of an older change does not move it back.
        bus.deliver(change(4, 3));
        assert_eq!(s.known_newest(), Some(5));
        // Another waiter on the same topic sees it too.
        let t = bus.subscribe(9, None);
        assert_eq!(t.known_newest(), Some(5));
    }

    #[tokio::test]
    async fn resync_forgets_and_rejects_reads_that_overlapped_it() {
        let bus = ChangeBus::default();
        let s = bus.subscribe(9, None);
        s.learned_newest(3, s.epoch());
        let before = s.epoch();
        bus.resync_all();
        assert_eq!(s.known_newest(), None);
        // A table read that started before the resync may lack a lost change.
        s.learned_newest(4, before);
        assert_eq!(s.known_newest(), None);
        s.learned_newest(4, s.epoch());
        assert_eq!(s.known_newest(), Some(4));
    }

    #[tokio::test]
    async fn the_remembered_id_goes_with_the_last_waiter() {
        let bus = ChangeBus::default();
        let s = bus.subscribe(9, None);
        s.learned_newest(3, s.epoch());
        drop(s);
        let s = bus.subscribe(9, None);
        assert_eq!(s.known_newest(), None);
    }

    #[tokio::test]
    async fn deletion_and_resync_reach_waiters() {
        let bus = ChangeBus::default();
        let mut s = bus.subscribe(7, None);
        bus.resync_all();
        assert!(matches!(s.recv().await, BusEvent::Resync));
        bus.channel_deleted(7);
        assert!(matches!(s.recv().await, BusEvent::Deleted));
        assert!(matches!(s.recv().await, BusEvent::Deleted));
        drop(s);
        assert_eq!(bus.waiter_count(), 0);
    }
}
