//! Instances, their admins (roles) and what every new instance starts with: the
//! `user_profile` class (with its object table), the `default` and `eventlog` channels, the
//! predefined response templates and, on PostgreSQL, the sequence of its object ids.

use crate::db::{Dialect, Row, StoreResult, Tx};
use crate::{Store, finish_keyset, like_prefix, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::perms::Role;
use rivia_core::time::now_micros;

/// An instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Id.
    pub id: i64,
    /// Lowercase name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Owner admin id.
    pub owner_id: i64,
    /// Metadata JSON text.
    pub metadata: String,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

const COLUMNS: &str =
    "i.id, i.name, i.description, i.owner_id, i.metadata, i.created_at, i.updated_at";

fn instance_from(mut r: Row) -> Instance {
    Instance {
        id: r.i64(0),
        name: r.take_string(1),
        description: r.take_string(2),
        owner_id: r.i64(3),
        metadata: r.take_string(4),
        created_at: r.i64(5),
        updated_at: r.i64(6),
    }
}

/// An admin's membership of an instance, for `/instances/{i}/admins/`.
#[derive(Debug, Clone)]
pub struct InstanceAdmin {
    /// Admin id.
    pub admin_id: i64,
    /// Stored role (owner reported as full).
    pub role: Role,
    /// Whether this admin owns the instance.
    pub is_owner: bool,
    /// Email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// Why an instance could not be created.
#[derive(Debug)]
pub enum CreateInstanceError {
    /// The owner already has `limit` instances.
    CountExceeded(i64),
    /// The name is taken.
    NameTaken,
    /// Storage failure.
    Store(crate::StoreError),
}

impl From<crate::StoreError> for CreateInstanceError {
    fn from(e: crate::StoreError) -> Self {
        match e {
            crate::StoreError::Conflict(_) => CreateInstanceError::NameTaken,
            other => CreateInstanceError::Store(other),
        }
    }
}

async fn create_builtins(tx: &mut Tx, instance_id: i64, now: i64) -> StoreResult<()> {
    // On PostgreSQL object ids come from the instance's own sequence (see
    // `objects::insert_statements`); it exists before the first object (a user profile).
    if tx.dialect() == Dialect::Postgres {
        tx.batch(&crate::ids::create_id_sequence_ddl(instance_id))
            .await?;
    }
    crate::classes::insert_class(
        tx,
        instance_id,
        &crate::classes::NewClass {
            name: "user_profile".into(),
            description: "Class that holds profiles for users.".into(),
            schema: "[]".into(),
            group_id: None,
            group_permissions: 2,
            other_permissions: 2,
            metadata: "{}".into(),
        },
    )
    .await?;
    // `default`: separate rooms, custom publish on; `eventlog`: separate rooms, no publish.
    for (name, custom_publish) in [("default", true), ("eventlog", false)] {
        tx.exec(
            "INSERT INTO channels (instance_id, name, description, type, group_permissions, other_permissions, custom_publish, created_at, updated_at) \
             VALUES ($1, $2, '', 1, 0, 0, $3, $4, $4)",
            params![instance_id, name, custom_publish, now],
        )
        .await?;
    }
    crate::templates::seed_instance(tx, instance_id, now).await
}

impl Store {
    /// Creates an instance owned by `owner_id` with its built-ins, enforcing `limit`.
    pub async fn create_instance(
        &self,
        owner_id: i64,
        name: &str,
        description: &str,
        metadata: &str,
        limit: i64,
    ) -> Result<Instance, CreateInstanceError> {
        let mut tx = self.db.begin().await?;
        let owned = tx
            .query_one(
                "SELECT COUNT(*) FROM instances WHERE owner_id = $1",
                params![owner_id],
            )
            .await?
            .i64(0);
        if owned >= limit {
            return Err(CreateInstanceError::CountExceeded(limit));
        }
        let now = now_micros();
        let row = tx
            .query_one(
                "INSERT INTO instances (name, description, owner_id, metadata, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id, name, description, owner_id, metadata, created_at, updated_at",
                params![name, description, owner_id, metadata, now],
            )
            .await?;
        let instance = instance_from(row);
        tx.exec(
            "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, $3)",
            params![instance.id, owner_id, Role::Full as i64],
        )
        .await?;
        create_builtins(&mut tx, instance.id, now).await?;
        tx.commit().await?;
        Ok(instance)
    }

    /// A live instance by (lowercase) name.
    pub async fn instance_by_name(&self, name: &str) -> StoreResult<Option<Instance>> {
        let sql = format!("SELECT {COLUMNS} FROM instances i WHERE i.name = $1");
        Ok(self
            .db
            .query_opt(&sql, params![name])
            .await?
            .map(instance_from))
    }

    /// A live instance by id.
    pub async fn instance_by_id(&self, id: i64) -> StoreResult<Option<Instance>> {
        let sql = format!("SELECT {COLUMNS} FROM instances i WHERE i.id = $1");
        Ok(self
            .db
            .query_opt(&sql, params![id])
            .await?
            .map(instance_from))
    }

    /// Instances where the admin has any role, with that role, one page.
    pub async fn list_instances_for_admin(
        &self,
        admin_id: i64,
        name_prefix: Option<&str>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<(Instance, Role)>> {
        let mut sql = format!(
            "SELECT {COLUMNS}, r.role FROM instances i JOIN admin_roles r ON r.instance_id = i.id WHERE r.admin_id = $1"
        );
        let mut p = params![admin_id];
        if let Some(prefix) = name_prefix {
            p.push(like_prefix(&prefix.to_lowercase()).into());
            sql.push_str(&format!(" AND i.name LIKE ${} ESCAPE '\\'", p.len()));
        }
        push_keyset(&mut sql, &mut p, "i.id", keyset);
        let rows = self.db.query(&sql, p).await?;
        let list = rows
            .into_iter()
            .map(|r| {
                let role = Role::from_i64(r.i64(7));
                (instance_from(r), role)
            })
            .collect();
        Ok(finish_keyset(list, keyset))
    }

    /// Saves description and metadata.
    pub async fn update_instance(
        &self,
        id: i64,
        description: &str,
        metadata: &str,
    ) -> StoreResult<Option<Instance>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                "UPDATE instances SET description = $2, metadata = $3, updated_at = $4 WHERE id = $1 \
                 RETURNING id, name, description, owner_id, metadata, created_at, updated_at",
                params![id, description, metadata, now_micros()],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(instance_from))
    }

    /// Renames; `Conflict` when the new name is taken.
    pub async fn rename_instance(&self, id: i64, new_name: &str) -> StoreResult<Option<Instance>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                "UPDATE instances SET name = $2, updated_at = $3 WHERE id = $1 \
                 RETURNING id, name, description, owner_id, metadata, created_at, updated_at",
                params![id, new_name, now_micros()],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(instance_from))
    }

    /// Deletes an instance with everything in it, including its object tables.
    pub async fn delete_instance(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        let classes = tx
            .query("SELECT id FROM classes WHERE instance_id = $1", params![id])
            .await?;
        for c in classes {
            tx.batch(&crate::classes::drop_table_ddl(c.i64(0))).await?;
        }
        tx.exec("DELETE FROM instances WHERE id = $1", params![id])
            .await?;
        if tx.dialect() == Dialect::Postgres {
            tx.batch(&crate::ids::drop_id_sequence_ddl(id)).await?;
        }
        tx.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// One page of the instance's admins.
    pub async fn list_instance_admins(
        &self,
        instance: &Instance,
        keyset: &Keyset,
    ) -> StoreResult<Vec<InstanceAdmin>> {
        let mut sql = "SELECT a.id, r.role, a.email, a.first_name, a.last_name FROM admin_roles r \
                       JOIN admins a ON a.id = r.admin_id WHERE r.instance_id = $1"
            .to_string();
        let mut p = params![instance.id];
        push_keyset(&mut sql, &mut p, "a.id", keyset);
        let rows = self.db.query(&sql, p).await?;
        Ok(finish_keyset(
            rows.into_iter()
                .map(|r| instance_admin_from(r, instance.owner_id))
                .collect(),
            keyset,
        ))
    }

    /// One admin of the instance.
    pub async fn instance_admin(
        &self,
        instance: &Instance,
        admin_id: i64,
    ) -> StoreResult<Option<InstanceAdmin>> {
        let row = self
            .db
            .query_opt(
                "SELECT a.id, r.role, a.email, a.first_name, a.last_name FROM admin_roles r \
                 JOIN admins a ON a.id = r.admin_id WHERE r.instance_id = $1 AND r.admin_id = $2",
                params![instance.id, admin_id],
            )
            .await?;
        Ok(row.map(|r| instance_admin_from(r, instance.owner_id)))
    }

    /// Changes an admin's role.
    pub async fn set_admin_role(
        &self,
        instance_id: i64,
        admin_id: i64,
        role: Role,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE admin_roles SET role = $3 WHERE instance_id = $1 AND admin_id = $2",
            params![instance_id, admin_id, role as i64],
        )
        .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// Gives an admin `role` in the instance, keeping a higher role the admin already
    /// holds (as accepting an invitation does).
    pub async fn grant_admin_role(
        &self,
        instance_id: i64,
        admin_id: i64,
        role: Role,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        grant_role(&mut tx, instance_id, admin_id, role).await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(())
    }

    /// Removes an admin from the instance.
    pub async fn remove_admin_role(&self, instance_id: i64, admin_id: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "DELETE FROM admin_roles WHERE instance_id = $1 AND admin_id = $2",
            params![instance_id, admin_id],
        )
        .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(())
    }
}

fn instance_admin_from(mut r: Row, owner_id: i64) -> InstanceAdmin {
    let admin_id = r.i64(0);
    InstanceAdmin {
        admin_id,
        role: Role::from_i64(r.i64(1)),
        is_owner: admin_id == owner_id,
        email: r.take_string(2),
        first_name: r.take_string(3),
        last_name: r.take_string(4),
    }
}

/// Grants `role` unless the admin already holds a higher one (invitations never downgrade).
pub(crate) async fn grant_role(
    tx: &mut Tx,
    instance_id: i64,
    admin_id: i64,
    role: Role,
) -> StoreResult<()> {
    let sql = match tx.dialect() {
        Dialect::Sqlite | Dialect::Postgres => {
            "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id, admin_id) DO UPDATE SET role = CASE WHEN admin_roles.role > excluded.role \
             THEN admin_roles.role ELSE excluded.role END"
        }
    };
    tx.exec(sql, params![instance_id, admin_id, role as i64])
        .await?;
    Ok(())
}
