//! App users (with their `user_profile` objects); their groups and memberships are in
//! `groups`.

mod groups;

use groups::{GROUP_COLUMNS, group_from};
pub use groups::{Group, GroupValues, MembershipError};

use crate::Dialect;
use crate::db::{Row, StoreError, StoreResult};
use crate::objects::{ObjectRow, ObjectValues, insert_object, update_object};
use crate::table_name;
use crate::{
    Store, Val, finish_keyset, next_instance_id, params, push_in_list, push_keyset,
    push_placeholder, qualify,
};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;
use std::sync::LazyLock;

/// The most groups one user may belong to.
pub const MAX_GROUPS_PER_USER: i64 = 32;

/// An app user.
#[derive(Debug, Clone)]
pub struct User {
    /// Id (per instance).
    pub id: i64,
    /// Lowercase username.
    pub username: String,
    /// PHC password hash.
    pub password: String,
    /// User key.
    pub user_key: String,
    /// Id of the profile object.
    pub profile_id: i64,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

const USER_COLUMNS: &str = "id, username, password, user_key, profile_id, created_at, updated_at";

fn user_from(mut r: Row) -> User {
    User {
        id: r.i64(0),
        username: r.take_string(1),
        password: r.take_string(2),
        user_key: r.take_string(3),
        profile_id: r.i64(4),
        created_at: r.i64(5),
        updated_at: r.i64(6),
    }
}

/// [`USER_COLUMNS`] of the alias `u`.
static USER_COLUMNS_U: LazyLock<String> = LazyLock::new(|| qualify(USER_COLUMNS, "u"));
/// Profile object columns of the alias `p`.
static OBJECT_COLUMNS_P: LazyLock<String> =
    LazyLock::new(|| qualify(crate::objects::OBJECT_COLUMNS, "p"));

/// The groups of the page of users `filter` and `page` select (see `users_full_where`),
/// as rows of the user id and the group's columns.
fn groups_of_page_sql(filter: &str, page: &str) -> String {
    // Driven by the page of users: `CROSS JOIN` makes SQLite read the page as a
    // co-routine in the outer loop. `IN (subquery)` materialised the page into a temporary
    // b-tree and `ORDER BY g.id` sorted, a third of the SQLite work of a 3-user page; each
    // user's groups are put in id order by `groups_by_user` instead.
    [
        "SELECT m.user_id, ",
        GROUP_COLUMNS,
        " FROM (SELECT u.id FROM users u WHERE ",
        filter,
        page,
        ") pu CROSS JOIN memberships m \
         JOIN user_groups g ON g.instance_id = m.instance_id AND g.id = m.group_id \
         WHERE m.instance_id = $1 AND m.user_id = pu.id",
    ]
    .concat()
}

/// Rows of [`groups_of_page_sql`] as (user id, group), ordered by user and then group id:
/// a page holds a few memberships, so a sorted list (no hashing) finds a user's.
fn groups_by_user(rows: Vec<Row>) -> Vec<(i64, Group)> {
    let mut groups: Vec<(i64, Group)> = rows
        .into_iter()
        .map(|mut r| {
            let uid = r.i64(0);
            r.0.remove(0);
            (uid, group_from(r))
        })
        .collect();
    groups.sort_unstable_by_key(|(uid, g)| (*uid, g.id));
    groups
}

/// The groups of `user` out of [`groups_by_user`]'s list, in id order (moved out).
fn take_groups(groups: &mut [(i64, Group)], user: i64) -> Vec<Group> {
    let start = groups.partition_point(|(uid, _)| *uid < user);
    let end = groups.partition_point(|(uid, _)| *uid <= user);
    groups[start..end]
        .iter_mut()
        .map(|(_, g)| std::mem::take(g))
        .collect()
}

/// A user and its profile object from a row of [`USER_COLUMNS_U`] then
/// [`OBJECT_COLUMNS_P`] (the profile's columns NULL when it is missing).
fn user_and_profile(mut r: Row) -> (User, Option<ObjectRow>) {
    let profile_part = Row(r.0.split_off(7));
    let profile = profile_part
        .opt_i64(0)
        .map(|_| crate::objects::object_from(profile_part));
    (user_from(r), profile)
}

/// A user's groups as one JSON array of `[id, name, label, description]` in id order,
/// NULL when there are none (PostgreSQL; a column of the user's row, over the alias `u`).
/// The primary key of `memberships` starts with (instance, user).
const GROUPS_JSON: &str = ", (SELECT json_agg(json_build_array(g.id, g.name, g.label, g.description) ORDER BY g.id)::text \
     FROM memberships m JOIN user_groups g ON g.instance_id = m.instance_id AND g.id = m.group_id \
     WHERE m.instance_id = u.instance_id AND m.user_id = u.id)";

/// The groups of one user from the array [`GROUPS_JSON`] builds.
fn groups_from_json(value: Option<Val>) -> StoreResult<Vec<Group>> {
    let text = match value {
        Some(Val::Text(text) | Val::Json(text)) => text,
        _ => return Ok(Vec::new()),
    };
    let listed: Vec<(i64, Option<String>, String, String)> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Internal(format!("a user's groups as JSON: {e}")))?;
    Ok(listed
        .into_iter()
        .map(|(id, name, label, description)| Group {
            id,
            name,
            label,
            description,
        })
        .collect())
}

/// Changes to a user; `None` leaves a field as it is.
pub struct UserUpdate {
    /// New lowercase username.
    pub username: Option<String>,
    /// New PHC hash.
    pub password: Option<String>,
    /// New full profile state and whether its revision bumps.
    pub profile: Option<(ObjectValues, bool)>,
}

impl Store {
    /// Creates a user and its profile object (owned by the user) in one transaction.
    /// `Conflict` when the username is taken.
    pub async fn create_user(
        &self,
        instance_id: i64,
        profile_class_id: i64,
        username: &str,
        password_hash: &str,
        user_key: &str,
        mut profile: ObjectValues,
    ) -> StoreResult<(User, ObjectRow)> {
        let mut tx = self.db.begin().await?;
        let taken = tx
            .query_opt(
                "SELECT 1 FROM users WHERE instance_id = $1 AND username = $2",
                params![instance_id, username],
            )
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(crate::Constraint::unique(
                "users",
                &["instance_id", "username"],
            )));
        }
        let id = next_instance_id(&mut tx, instance_id, "users").await?;
        profile.owner = Some(id);
        let profile_row = insert_object(&mut tx, instance_id, profile_class_id, &profile).await?;
        let now = now_micros();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO users (instance_id, id, username, password, user_key, profile_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {USER_COLUMNS}"
                ),
                params![instance_id, id, username, password_hash, user_key, profile_row.id, now],
            )
            .await?;
        tx.commit().await?;
        Ok((user_from(row), profile_row))
    }

    /// A user by id.
    pub async fn user(&self, instance_id: i64, id: i64) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE instance_id = $1 AND id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(user_from))
    }

    /// A user by lowercase username.
    pub async fn user_by_username(
        &self,
        instance_id: i64,
        username: &str,
    ) -> StoreResult<Option<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE instance_id = $1 AND username = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, username])
            .await?
            .map(user_from))
    }

    /// A user of the instance by user key.
    pub async fn user_by_key(&self, instance_id: i64, key: &str) -> StoreResult<Option<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE user_key = $1 AND instance_id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![key, instance_id])
            .await?
            .map(user_from))
    }

    /// One page of users with their profile objects and groups, in one round trip (see
    /// `users_full_where` for the statements on each backend).
    pub async fn list_users_full(
        &self,
        instance_id: i64,
        profile_class_id: i64,
        username_prefix: Option<&str>,
        only: Option<i64>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<(User, Option<ObjectRow>, Vec<Group>)>> {
        let mut filter = String::from("u.instance_id = $1");
        let mut p = params![instance_id];
        if let Some(prefix) = username_prefix {
            p.push(crate::like_prefix(&prefix.to_lowercase()).into());
            filter.push_str(" AND u.username LIKE ");
            push_placeholder(&mut filter, p.len());
            filter.push_str(" ESCAPE '\\'");
        }
        if let Some(id) = only {
            p.push(id.into());
            filter.push_str(" AND u.id = ");
            push_placeholder(&mut filter, p.len());
        }
        let mut page = String::new();
        push_keyset(&mut page, &mut p, "u.id", keyset);
        let list = self
            .users_full_where(profile_class_id, &filter, &page, p)
            .await?;
        Ok(finish_keyset(list, keyset))
    }

    /// Users with their profiles and groups, given as several ids (the users the caller
    /// may see among them: `only`), in id order, in one round trip.
    pub async fn users_full_by_ids(
        &self,
        instance_id: i64,
        profile_class_id: i64,
        ids: &[i64],
        only: Option<i64>,
    ) -> StoreResult<Vec<(User, Option<ObjectRow>, Vec<Group>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = params![instance_id];
        let list = push_in_list(&mut p, ids.iter().map(|i| Val::Int(*i)));
        let mut filter = format!("u.instance_id = $1 AND u.id IN ({list})");
        if let Some(id) = only {
            p.push(id.into());
            filter.push_str(&format!(" AND u.id = ${}", p.len()));
        }
        self.users_full_where(profile_class_id, &filter, " ORDER BY u.id", p)
            .await
    }

    /// The users matching `filter` (over alias `u`, `$1` the instance), `page` appended
    /// (ordering, limit), each with its profile row and its groups in id order.
    async fn users_full_where(
        &self,
        profile_class_id: i64,
        filter: &str,
        page: &str,
        p: Vec<Val>,
    ) -> StoreResult<Vec<(User, Option<ObjectRow>, Vec<Group>)>> {
        let users = |groups: &str| {
            [
                "SELECT ",
                &USER_COLUMNS_U,
                ", ",
                &OBJECT_COLUMNS_P,
                groups,
                " FROM users u LEFT JOIN ",
                &table_name(profile_class_id),
                " p ON p.id = u.profile_id WHERE ",
                filter,
                page,
            ]
            .concat()
        };
        match self.db.dialect() {
            // Each statement is a protocol exchange with the server, so one: each user's
            // groups come as a JSON array in the user's own row. Measured with `bench/bench.py
            // users` (wrk -t1 -c16): 16.6k -> 20.5k req/s on the 3-user page.
            Dialect::Postgres => {
                let rows = self.db.query_many_small(vec![(users(GROUPS_JSON), p)]);
                rows.await?
                    .into_iter()
                    .flatten()
                    .map(|mut r| {
                        let groups = groups_from_json(r.0.pop())?;
                        let (user, profile) = user_and_profile(r);
                        Ok((user, profile, groups))
                    })
                    .collect()
            }
            // Statements are function calls here, and building JSON in SQLite and parsing it
            // again cost more than a second statement (128k instructions a 3-user page
            // against 109k), so two.
            Dialect::Sqlite => {
                let groups_sql = groups_of_page_sql(filter, page);
                let mut results = self
                    .db
                    .query_many_small(vec![(users(""), p.clone()), (groups_sql, p)])
                    .await?;
                let group_rows = results.pop().unwrap_or_default();
                let user_rows = results.pop().unwrap_or_default();
                let mut groups = groups_by_user(group_rows);
                Ok(user_rows
                    .into_iter()
                    .map(|r| {
                        let (user, profile) = user_and_profile(r);
                        let g = take_groups(&mut groups, user.id);
                        (user, profile, g)
                    })
                    .collect())
            }
        }
    }

    /// The groups of several users, as `(user id, group)` pairs ordered by group id (one query).
    pub async fn groups_of_users(
        &self,
        instance_id: i64,
        user_ids: &[i64],
    ) -> StoreResult<Vec<(i64, Group)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = params![instance_id];
        let list = push_in_list(&mut p, user_ids.iter().map(|i| Val::Int(*i)));
        let sql = format!(
            "SELECT m.user_id, {GROUP_COLUMNS} FROM memberships m JOIN user_groups g ON g.instance_id = m.instance_id AND g.id = m.group_id \
             WHERE m.instance_id = $1 AND m.user_id IN ({list}) ORDER BY g.id"
        );
        let rows = self.db.query(&sql, p).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let uid = r.i64(0);
                let mut rest = r;
                rest.0.remove(0);
                (uid, group_from(rest))
            })
            .collect())
    }

    /// Applies a user update (username, password, profile) in one transaction.
    /// `Conflict` when the new username is taken.
    pub async fn update_user(
        &self,
        instance_id: i64,
        profile_class_id: i64,
        id: i64,
        update: UserUpdate,
    ) -> StoreResult<Option<(User, Option<ObjectRow>)>> {
        let mut tx = self.db.begin().await?;
        if let Some(username) = &update.username {
            let taken = tx
                .query_opt(
                    "SELECT 1 FROM users WHERE instance_id = $1 AND username = $2 AND id <> $3",
                    params![instance_id, username, id],
                )
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(crate::Constraint::unique(
                    "users",
                    &["instance_id", "username"],
                )));
            }
        }
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE users SET username = COALESCE($3, username), password = COALESCE($4, password), updated_at = $5 \
                     WHERE instance_id = $1 AND id = $2 RETURNING {USER_COLUMNS}"
                ),
                params![instance_id, id, update.username.clone(), update.password.clone(), now_micros()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from(row);
        let profile = match &update.profile {
            Some((values, bump)) => {
                update_object(&mut tx, profile_class_id, user.profile_id, values, *bump).await?
            }
            None => {
                crate::objects::touch_object(&mut tx, profile_class_id, user.profile_id).await?;
                None
            }
        };
        tx.commit().await?;
        self.auth_changed();
        Ok(Some((user, profile)))
    }

    /// Replaces a user's key.
    pub async fn reset_user_key(
        &self,
        instance_id: i64,
        id: i64,
        key: &str,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!("UPDATE users SET user_key = $3, updated_at = $4 WHERE instance_id = $1 AND id = $2 RETURNING {USER_COLUMNS}"),
                params![instance_id, id, key, now_micros()],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(user_from))
    }

    /// Deletes a user with its profile and memberships.
    pub async fn delete_user(
        &self,
        instance_id: i64,
        profile_class_id: i64,
        id: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let Some(row) = tx
            .query_opt(
                "DELETE FROM users WHERE instance_id = $1 AND id = $2 RETURNING profile_id",
                params![instance_id, id],
            )
            .await?
        else {
            return Ok(false);
        };
        crate::objects::delete_object(&mut tx, profile_class_id, row.i64(0)).await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(true)
    }

    /// The profile objects of several users (a page's worth; one read by key).
    pub async fn profiles(
        &self,
        profile_class_id: i64,
        profile_ids: &[i64],
    ) -> StoreResult<Vec<ObjectRow>> {
        self.visible_objects(
            profile_class_id,
            profile_ids,
            &crate::objects::Visibility::All,
        )
        .await
    }
}
