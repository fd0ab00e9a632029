//! Admin accounts, their one-time tokens (activation, password reset) and instance roles.

use crate::{Store, StoreResult, params};
use rivia_core::perms::Role;
use rivia_core::time::now_micros;

/// An admin account.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Id.
    pub id: i64,
    /// Email as registered.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// PHC password hash, absent for accounts created without a password.
    pub password: Option<String>,
    /// Email confirmed.
    pub is_active: bool,
    /// Staff admins act as owner everywhere and are never throttled.
    pub is_staff: bool,
    /// The account key.
    pub account_key: String,
    /// Metadata JSON text.
    pub metadata: String,
}

const COLUMNS: &str =
    "id, email, first_name, last_name, password, is_active, is_staff, account_key, metadata";

fn admin_from(mut r: crate::Row) -> Admin {
    Admin {
        id: r.i64(0),
        email: r.take_string(1),
        first_name: r.take_string(2),
        last_name: r.take_string(3),
        password: r.take_opt_string(4),
        is_active: r.bool(5),
        is_staff: r.bool(6),
        account_key: r.take_string(7),
        metadata: r.take_string(8),
    }
}

/// Fields of a new account.
pub struct NewAdmin<'a> {
    /// Email.
    pub email: &'a str,
    /// PHC hash or none.
    pub password: Option<&'a str>,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// Account key.
    pub account_key: &'a str,
    /// Active from the start (accounts created from the command line).
    pub is_active: bool,
}

/// Editable profile fields of an account.
pub struct AdminUpdate {
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Metadata JSON text.
    pub metadata: String,
    /// Active flag (cleared when the email changes).
    pub is_active: bool,
}

impl Store {
    /// Creates an account; `Conflict` when the email is taken.
    pub async fn create_admin(&self, new: NewAdmin<'_>) -> StoreResult<Admin> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO admins (email, email_lower, first_name, last_name, password, is_active, account_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
                ),
                params![
                    new.email,
                    new.email.to_lowercase(),
                    new.first_name,
                    new.last_name,
                    new.password,
                    new.is_active,
                    new.account_key,
                    now_micros()
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(admin_from(row))
    }

    /// Looks an account up by email, case-insensitively.
    pub async fn admin_by_email(&self, email: &str) -> StoreResult<Option<Admin>> {
        let sql = format!("SELECT {COLUMNS} FROM admins WHERE email_lower = $1");
        Ok(self
            .db
            .query_opt(&sql, params![email.to_lowercase()])
            .await?
            .map(admin_from))
    }

    /// Looks an account up by its key (exact match on a unique index; the caller compares
    /// the stored key in constant time before trusting it).
    pub async fn admin_by_key(&self, key: &str) -> StoreResult<Option<Admin>> {
        let sql = format!("SELECT {COLUMNS} FROM admins WHERE account_key = $1");
        Ok(self.db.query_opt(&sql, params![key]).await?.map(admin_from))
    }

    /// Looks an account up by id.
    pub async fn admin_by_id(&self, id: i64) -> StoreResult<Option<Admin>> {
        let sql = format!("SELECT {COLUMNS} FROM admins WHERE id = $1");
        Ok(self.db.query_opt(&sql, params![id]).await?.map(admin_from))
    }

    /// Saves profile fields; `Conflict` when the new email is taken.
    pub async fn update_admin(&self, id: i64, u: &AdminUpdate) -> StoreResult<Option<Admin>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE admins SET email = $2, email_lower = $3, first_name = $4, last_name = $5, metadata = $6, is_active = $7 \
                     WHERE id = $1 RETURNING {COLUMNS}"
                ),
                params![id, &u.email, u.email.to_lowercase(), &u.first_name, &u.last_name, &u.metadata, u.is_active],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(admin_from))
    }

    /// Replaces the account key.
    pub async fn set_admin_key(&self, id: i64, key: &str) -> StoreResult<Option<Admin>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!("UPDATE admins SET account_key = $2 WHERE id = $1 RETURNING {COLUMNS}"),
                params![id, key],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(admin_from))
    }

    /// Replaces the password hash and drops outstanding reset tokens.
    pub async fn set_admin_password(&self, id: i64, hash: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE admins SET password = $2 WHERE id = $1",
            params![id, hash],
        )
        .await?;
        tx.exec(
            "DELETE FROM admin_tokens WHERE admin_id = $1 AND purpose = 'reset'",
            params![id],
        )
        .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// Marks the account active.
    pub async fn activate_admin(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE admins SET is_active = $2 WHERE id = $1",
            params![id, true],
        )
        .await?;
        tx.exec(
            "DELETE FROM admin_tokens WHERE admin_id = $1 AND purpose = 'activate'",
            params![id],
        )
        .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// Stores a one-time token for `purpose` (`activate` or `reset`).
    pub async fn create_admin_token(
        &self,
        admin_id: i64,
        purpose: &str,
        token: &str,
        ttl_micros: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO admin_tokens (token, admin_id, purpose, expires_at) VALUES ($1, $2, $3, $4)",
            params![token, admin_id, purpose, now_micros() + ttl_micros],
        )
        .await?;
        tx.commit().await
    }

    /// Whether an unexpired token of `purpose` exists for the admin.
    pub async fn admin_token_valid(
        &self,
        admin_id: i64,
        purpose: &str,
        token: &str,
    ) -> StoreResult<bool> {
        let row = self
            .db
            .query_opt(
                "SELECT 1 FROM admin_tokens WHERE token = $1 AND admin_id = $2 AND purpose = $3 AND expires_at > $4",
                params![token, admin_id, purpose, now_micros()],
            )
            .await?;
        Ok(row.is_some())
    }

    /// The admin's role in an instance (`Owner` for the owner), or none.
    pub async fn admin_role(&self, instance_id: i64, admin_id: i64) -> StoreResult<Option<Role>> {
        let row = self
            .db
            .query_opt(
                "SELECT r.role, i.owner_id FROM admin_roles r JOIN instances i ON i.id = r.instance_id \
                 WHERE r.instance_id = $1 AND r.admin_id = $2",
                params![instance_id, admin_id],
            )
            .await?;
        Ok(row.map(|r| {
            if r.i64(1) == admin_id {
                Role::Owner
            } else {
                Role::from_i64(r.i64(0))
            }
        }))
    }
}
