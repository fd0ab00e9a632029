//! Instance invitations (spec-rest §12) and their acceptance by admins.

use crate::db::{Row, StoreResult};
use crate::{Store, finish_keyset, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::perms::Role;
use rivia_core::time::now_micros;

/// Invitation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Waiting for the invitee.
    New = 0,
    /// Declined.
    Declined = 1,
    /// Accepted.
    Accepted = 2,
}

impl InvitationState {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            InvitationState::New => "new",
            InvitationState::Declined => "declined",
            InvitationState::Accepted => "accepted",
        }
    }
    fn from_i64(v: i64) -> Self {
        match v {
            1 => InvitationState::Declined,
            2 => InvitationState::Accepted,
            _ => InvitationState::New,
        }
    }
}

/// An invitation with the names it is shown with.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// Id.
    pub id: i64,
    /// Instance id.
    pub instance_id: i64,
    /// Instance name.
    pub instance_name: String,
    /// Invitee email.
    pub email: String,
    /// Offered role.
    pub role: Role,
    /// Secret key.
    pub key: String,
    /// Inviter's email (empty when the inviter is gone).
    pub inviter: String,
    /// State.
    pub state: InvitationState,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

const SELECT: &str = "SELECT v.id, v.instance_id, i.name, v.email, v.role, v.key, a.email, v.state, v.created_at, v.updated_at \
     FROM invitations v JOIN instances i ON i.id = v.instance_id LEFT JOIN admins a ON a.id = v.inviter_id";

fn invitation_from(mut r: Row) -> Invitation {
    Invitation {
        id: r.i64(0),
        instance_id: r.i64(1),
        instance_name: r.take_string(2),
        email: r.take_string(3),
        role: Role::from_i64(r.i64(4)),
        key: r.take_string(5),
        inviter: r.take_string(6),
        state: InvitationState::from_i64(r.i64(7)),
        created_at: r.i64(8),
        updated_at: r.i64(9),
    }
}

/// Why an invitation could not be created.
/// The outcome of accepting an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// The role is granted (never lowered).
    Accepted,
    /// No pending invitation has the key.
    NotFound,
    /// The admin already belongs to the instance and the invitation is someone else's.
    AddressedToOther,
}

#[derive(Debug)]
pub enum InviteError {
    /// The invitee already has a role in the instance.
    AlreadyMember,
    /// A pending invitation for that email exists.
    AlreadyInvited,
    /// Storage failure.
    Store(crate::StoreError),
}

impl From<crate::StoreError> for InviteError {
    fn from(e: crate::StoreError) -> Self {
        InviteError::Store(e)
    }
}

impl Store {
    /// Creates an invitation unless the invitee is a member or already invited.
    pub async fn create_invitation(
        &self,
        instance_id: i64,
        email: &str,
        role: Role,
        key: &str,
        inviter_id: i64,
    ) -> Result<Invitation, InviteError> {
        let mut tx = self.db.begin().await?;
        let lower = email.to_lowercase();
        let member = tx
            .query_opt(
                "SELECT 1 FROM admin_roles r JOIN admins a ON a.id = r.admin_id WHERE r.instance_id = $1 AND a.email_lower = $2",
                params![instance_id, &lower],
            )
            .await?;
        if member.is_some() {
            return Err(InviteError::AlreadyMember);
        }
        let pending = tx
            .query_opt(
                "SELECT 1 FROM invitations WHERE instance_id = $1 AND email_lower = $2 AND state = 0",
                params![instance_id, &lower],
            )
            .await?;
        if pending.is_some() {
            return Err(InviteError::AlreadyInvited);
        }
        let now = now_micros();
        let id = tx
            .query_one(
                "INSERT INTO invitations (instance_id, email, email_lower, role, key, inviter_id, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7) RETURNING id",
                params![instance_id, email, &lower, role as i64, key, inviter_id, now],
            )
            .await?
            .i64(0);
        let row = tx
            .query_one(&format!("{SELECT} WHERE v.id = $1"), params![id])
            .await?;
        tx.commit().await?;
        Ok(invitation_from(row))
    }

    /// One page of an instance's invitations.
    pub async fn list_invitations(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Invitation>> {
        let mut sql = format!("{SELECT} WHERE v.instance_id = $1");
        let mut p = params![instance_id];
        push_keyset(&mut sql, &mut p, "v.id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(invitation_from)
                .collect(),
            keyset,
        ))
    }

    /// One invitation of an instance.
    pub async fn invitation(&self, instance_id: i64, id: i64) -> StoreResult<Option<Invitation>> {
        let sql = format!("{SELECT} WHERE v.instance_id = $1 AND v.id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(invitation_from))
    }

    /// Changes the offered role.
    pub async fn update_invitation_role(
        &self,
        instance_id: i64,
        id: i64,
        role: Role,
    ) -> StoreResult<Option<Invitation>> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE invitations SET role = $3, updated_at = $4 WHERE instance_id = $1 AND id = $2",
            params![instance_id, id, role as i64, now_micros()],
        )
        .await?;
        let row = tx
            .query_opt(
                &format!("{SELECT} WHERE v.instance_id = $1 AND v.id = $2"),
                params![instance_id, id],
            )
            .await?;
        tx.commit().await?;
        Ok(row.map(invitation_from))
    }

    /// Deletes an invitation.
    pub async fn delete_invitation(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM invitations WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Pending invitations addressed to an email, one page.
    pub async fn list_invitations_for_email(
        &self,
        email: &str,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Invitation>> {
        let mut sql = format!("{SELECT} WHERE v.email_lower = $1 AND v.state = 0");
        let mut p = params![email.to_lowercase()];
        push_keyset(&mut sql, &mut p, "v.id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(invitation_from)
                .collect(),
            keyset,
        ))
    }

    /// A pending invitation addressed to an email, by id.
    pub async fn invitation_for_email(
        &self,
        email: &str,
        id: i64,
    ) -> StoreResult<Option<Invitation>> {
        let sql = format!("{SELECT} WHERE v.email_lower = $1 AND v.state = 0 AND v.id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![email.to_lowercase(), id])
            .await?
            .map(invitation_from))
    }

    /// Declines an invitation.
    pub async fn decline_invitation(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE invitations SET state = 1, updated_at = $2 WHERE id = $1",
            params![id, now_micros()],
        )
        .await?;
        tx.commit().await
    }

    /// Accepts a pending invitation by key for an admin. The key alone admits an admin new
    /// to the instance; an admin who already belongs to it accepts only an invitation
    /// addressed to their own email, so a key seen by one admin never raises their role.
    pub async fn accept_invitation(
        &self,
        key: &str,
        admin_id: i64,
        admin_email: &str,
    ) -> StoreResult<Accept> {
        let mut tx = self.db.begin().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT id, instance_id, role, email_lower FROM invitations WHERE key = $1 AND state = 0",
                params![key],
            )
            .await?
        else {
            return Ok(Accept::NotFound);
        };
        let instance_id = row.i64(1);
        let member = tx
            .query_opt(
                "SELECT 1 FROM admin_roles WHERE instance_id = $1 AND admin_id = $2",
                params![instance_id, admin_id],
            )
            .await?
            .is_some();
        if member && row.str(3) != admin_email.to_lowercase() {
            return Ok(Accept::AddressedToOther);
        }
        crate::instances::grant_role(&mut tx, instance_id, admin_id, Role::from_i64(row.i64(2)))
            .await?;
        tx.exec(
            "UPDATE invitations SET state = 2, updated_at = $2 WHERE id = $1",
            params![row.i64(0), now_micros()],
        )
        .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(Accept::Accepted)
    }

    /// Whether a pending invitation with this key exists.
    pub async fn invitation_key_exists(&self, key: &str) -> StoreResult<bool> {
        Ok(self
            .db
            .query_opt(
                "SELECT 1 FROM invitations WHERE key = $1 AND state = 0",
                params![key],
            )
            .await?
            .is_some())
    }
}
