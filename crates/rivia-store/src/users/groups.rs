//! Groups of app users and memberships (at most [`MAX_GROUPS_PER_USER`] groups per user).

use super::{MAX_GROUPS_PER_USER, USER_COLUMNS_U, User, user_from};
use crate::db::{Row, StoreError, StoreResult};
use crate::{Store, finish_keyset, next_instance_id, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// A group of users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// Id (per instance).
    pub id: i64,
    /// Optional slug name.
    pub name: Option<String>,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
}

pub(super) const GROUP_COLUMNS: &str = "g.id, g.name, g.label, g.description";

pub(super) fn group_from(mut r: Row) -> Group {
    Group {
        id: r.i64(0),
        name: r.take_opt_string(1),
        label: r.take_string(2),
        description: r.take_string(3),
    }
}

/// Fields of a new group (or the new state of one).
pub struct GroupValues {
    /// Optional slug name.
    pub name: Option<String>,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
}

/// Why a membership could not be added.
#[derive(Debug)]
pub enum MembershipError {
    /// Already a member.
    AlreadyMember,
    /// The user is in `MAX_GROUPS_PER_USER` groups already.
    LimitExceeded,
    /// Storage failure.
    Store(StoreError),
}

impl From<StoreError> for MembershipError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => MembershipError::AlreadyMember,
            other => MembershipError::Store(other),
        }
    }
}

impl Store {
    /// Creates a group; `Conflict` when the name is taken.
    pub async fn create_group(&self, instance_id: i64, g: &GroupValues) -> StoreResult<Group> {
        let mut tx = self.db.begin().await?;
        let id = next_instance_id(&mut tx, instance_id, "groups").await?;
        let now = now_micros();
        tx.exec(
            "INSERT INTO user_groups (instance_id, id, name, label, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            params![instance_id, id, g.name.clone(), &g.label, &g.description, now],
        )
        .await?;
        tx.commit().await?;
        Ok(Group {
            id,
            name: g.name.clone(),
            label: g.label.clone(),
            description: g.description.clone(),
        })
    }

    /// Whether another group of the instance than `except` has the name `name`.
    pub async fn group_name_taken(
        &self,
        instance_id: i64,
        name: &str,
        except: Option<i64>,
    ) -> StoreResult<bool> {
        let found = self
            .db
            .query_opt(
                "SELECT 1 FROM user_groups WHERE instance_id = $1 AND name = $2 AND id <> $3",
                params![instance_id, name, except.unwrap_or(0)],
            )
            .await?;
        Ok(found.is_some())
    }

    /// A group by id.
    pub async fn group(&self, instance_id: i64, id: i64) -> StoreResult<Option<Group>> {
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM user_groups g WHERE g.instance_id = $1 AND g.id = $2"
        );
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(group_from))
    }

    /// One page of groups.
    pub async fn list_groups(
        &self,
        instance_id: i64,
        label_prefix: Option<&str>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Group>> {
        let mut sql = format!("SELECT {GROUP_COLUMNS} FROM user_groups g WHERE g.instance_id = $1");
        let mut p = params![instance_id];
        if let Some(prefix) = label_prefix {
            p.push(crate::like_prefix(prefix).into());
            sql.push_str(&format!(" AND g.label LIKE ${} ESCAPE '\\'", p.len()));
        }
        push_keyset(&mut sql, &mut p, "g.id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(group_from)
                .collect(),
            keyset,
        ))
    }

    /// Saves a group; `Conflict` when the name is taken.
    pub async fn update_group(
        &self,
        instance_id: i64,
        id: i64,
        g: &GroupValues,
    ) -> StoreResult<Option<Group>> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE user_groups SET name = $3, label = $4, description = $5, updated_at = $6 WHERE instance_id = $1 AND id = $2",
                params![instance_id, id, g.name.clone(), &g.label, &g.description, now_micros()],
            )
            .await?;
        tx.commit().await?;
        Ok((n > 0).then(|| Group {
            id,
            name: g.name.clone(),
            label: g.label.clone(),
            description: g.description.clone(),
        }))
    }

    /// Deletes a group, its memberships, and its use as the group of classes and channels.
    pub async fn delete_group(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM user_groups WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.exec(
            "UPDATE classes SET group_id = NULL WHERE instance_id = $1 AND group_id = $2",
            params![instance_id, id],
        )
        .await?;
        tx.exec(
            "UPDATE channels SET group_id = NULL WHERE instance_id = $1 AND group_id = $2",
            params![instance_id, id],
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Adds a user to a group, enforcing the per-user limit.
    pub async fn add_membership(
        &self,
        instance_id: i64,
        user_id: i64,
        group_id: i64,
    ) -> Result<(), MembershipError> {
        let mut tx = self.db.begin().await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM memberships WHERE instance_id = $1 AND user_id = $2 AND group_id = $3",
                params![instance_id, user_id, group_id],
            )
            .await?;
        if exists.is_some() {
            return Err(MembershipError::AlreadyMember);
        }
        let count = tx
            .query_one(
                "SELECT COUNT(*) FROM memberships WHERE instance_id = $1 AND user_id = $2",
                params![instance_id, user_id],
            )
            .await?
            .i64(0);
        if count >= MAX_GROUPS_PER_USER {
            return Err(MembershipError::LimitExceeded);
        }
        tx.exec(
            "INSERT INTO memberships (instance_id, user_id, group_id, created_at) VALUES ($1, $2, $3, $4)",
            params![instance_id, user_id, group_id, now_micros()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the user is in the group.
    pub async fn is_member(
        &self,
        instance_id: i64,
        user_id: i64,
        group_id: i64,
    ) -> StoreResult<bool> {
        Ok(self
            .db
            .query_opt(
                "SELECT 1 FROM memberships WHERE instance_id = $1 AND user_id = $2 AND group_id = $3",
                params![instance_id, user_id, group_id],
            )
            .await?
            .is_some())
    }

    /// Removes a membership; false when there was none.
    pub async fn remove_membership(
        &self,
        instance_id: i64,
        user_id: i64,
        group_id: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM memberships WHERE instance_id = $1 AND user_id = $2 AND group_id = $3",
                params![instance_id, user_id, group_id],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// One page of a user's groups (keyed by group id).
    pub async fn list_user_groups(
        &self,
        instance_id: i64,
        user_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Group>> {
        let mut sql = format!(
            "SELECT {GROUP_COLUMNS} FROM memberships m JOIN user_groups g ON g.instance_id = m.instance_id AND g.id = m.group_id \
             WHERE m.instance_id = $1 AND m.user_id = $2"
        );
        let mut p = params![instance_id, user_id];
        push_keyset(&mut sql, &mut p, "g.id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(group_from)
                .collect(),
            keyset,
        ))
    }

    /// One page of a group's members (keyed by user id); `only` restricts to one user.
    pub async fn list_group_users(
        &self,
        instance_id: i64,
        group_id: i64,
        only: Option<i64>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<User>> {
        let cols = &*USER_COLUMNS_U;
        let mut sql = format!(
            "SELECT {cols} FROM memberships m JOIN users u ON u.instance_id = m.instance_id AND u.id = m.user_id \
             WHERE m.instance_id = $1 AND m.group_id = $2"
        );
        let mut p = params![instance_id, group_id];
        if let Some(uid) = only {
            p.push(uid.into());
            sql.push_str(&format!(" AND u.id = ${}", p.len()));
        }
        push_keyset(&mut sql, &mut p, "u.id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(user_from)
                .collect(),
            keyset,
        ))
    }

    /// Ids of the groups a user belongs to.
    pub async fn user_group_ids(&self, instance_id: i64, user_id: i64) -> StoreResult<Vec<i64>> {
        let rows = self
            .db
            .query(
                "SELECT group_id FROM memberships WHERE instance_id = $1 AND user_id = $2 ORDER BY group_id",
                params![instance_id, user_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.i64(0)).collect())
    }
}
