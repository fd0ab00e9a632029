//! Response templates (rest §7): named Jinja2 sources with a content type and a default
//! context, unique by lowercase name within an instance. Every instance starts with the
//! predefined templates of `rivia_core::templates::PREDEFINED` (created with the instance,
//! and by the migration that added the table for instances that existed before it).
//!
//! The request path reads templates through the server's cache of compiled templates,
//! which is checked against the store's auth generation: every write here bumps it.

use crate::db::{Row, StoreResult, Tx};
use crate::{Store, params};
use rivia_core::page::Keyset;
use rivia_core::templates::PREDEFINED;
use rivia_core::time::now_micros;

/// A stored template.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTemplate {
    /// Row id (orders the list; not shown).
    pub id: i64,
    /// Lowercase name.
    pub name: String,
    /// Jinja2 source.
    pub content: String,
    /// Content type of the rendered output.
    pub content_type: String,
    /// Default context, JSON text of an object.
    pub context: String,
    /// Description.
    pub description: String,
    /// Created, µs.
    pub created_at: i64,
    /// Last changed, µs.
    pub updated_at: i64,
}

/// The fields a write sets.
#[derive(Debug, Clone)]
pub struct TemplateValues {
    /// Jinja2 source.
    pub content: String,
    /// Content type.
    pub content_type: String,
    /// Context, JSON text of an object.
    pub context: String,
    /// Description.
    pub description: String,
}

const COLUMNS: &str =
    "id, name, content, content_type, context, description, created_at, updated_at";

fn template_from(mut r: Row) -> ResponseTemplate {
    ResponseTemplate {
        id: r.i64(0),
        name: r.take_string(1),
        content: r.take_string(2),
        content_type: r.take_string(3),
        context: r.take_string(4),
        description: r.take_string(5),
        created_at: r.i64(6),
        updated_at: r.i64(7),
    }
}

/// Creates the predefined templates the instance lacks (by name): all of them for a new
/// instance, with its creation.
pub(crate) async fn seed_instance(tx: &mut Tx, instance_id: i64, now: i64) -> StoreResult<()> {
    for t in PREDEFINED {
        tx.exec(
            "INSERT INTO response_templates (instance_id, name, content, content_type, context, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, '', $6, $6) ON CONFLICT (instance_id, name) DO NOTHING",
            params![instance_id, t.name, t.content, t.content_type, t.context, now],
        )
        .await?;
    }
    Ok(())
}

/// Gives every existing instance the predefined templates it lacks: the data half of the
/// migration that added templates (the sources live in Rust, not in the SQL file).
/// (`WHERE true`: SQLite cannot otherwise tell the `ON CONFLICT` of an `INSERT … SELECT`
/// from a join constraint.)
pub(crate) async fn seed_every_instance(tx: &mut Tx) -> StoreResult<()> {
    let now = now_micros();
    for t in PREDEFINED {
        tx.exec(
            "INSERT INTO response_templates (instance_id, name, content, content_type, context, description, created_at, updated_at) \
             SELECT i.id, $1, $2, $3, $4, '', $5, $5 FROM instances i WHERE true \
             ON CONFLICT (instance_id, name) DO NOTHING",
            params![t.name, t.content, t.content_type, t.context, now],
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// Creates a template; `Conflict` when the name is taken in the instance.
    pub async fn create_template(
        &self,
        instance_id: i64,
        name: &str,
        v: &TemplateValues,
    ) -> StoreResult<ResponseTemplate> {
        let mut tx = self.db.begin().await?;
        let now = now_micros();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO response_templates (instance_id, name, content, content_type, context, description, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
                ),
                params![instance_id, name, &v.content, &v.content_type, &v.context, &v.description, now],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(template_from(row))
    }

    /// A template by (lowercase) name.
    pub async fn template(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<ResponseTemplate>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM response_templates WHERE instance_id = $1 AND name = $2"
        );
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, name])
            .await?
            .map(template_from))
    }

    /// One page of templates, in creation order.
    pub async fn list_templates(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<ResponseTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM response_templates WHERE instance_id = $1");
        self.list_page(sql, "id", instance_id, keyset, template_from)
            .await
    }

    /// Saves a template's fields; `None` when it no longer exists.
    pub async fn update_template(
        &self,
        instance_id: i64,
        id: i64,
        v: &TemplateValues,
    ) -> StoreResult<Option<ResponseTemplate>> {
        let sql = format!(
            "UPDATE response_templates SET content = $3, content_type = $4, context = $5, description = $6, updated_at = $7 \
             WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = self
            .write_returning(
                &sql,
                params![
                    instance_id,
                    id,
                    &v.content,
                    &v.content_type,
                    &v.context,
                    &v.description,
                    now_micros()
                ],
                template_from,
            )
            .await?;
        self.auth_changed();
        Ok(row)
    }

    /// Renames a template; `None` when it no longer exists, `Conflict` when the new name
    /// is taken.
    pub async fn rename_template(
        &self,
        instance_id: i64,
        id: i64,
        new_name: &str,
    ) -> StoreResult<Option<ResponseTemplate>> {
        let sql = format!(
            "UPDATE response_templates SET name = $3, updated_at = $4 \
             WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = self
            .write_returning(
                &sql,
                params![instance_id, id, new_name, now_micros()],
                template_from,
            )
            .await?;
        self.auth_changed();
        Ok(row)
    }

    /// Deletes a template; whether it existed.
    pub async fn delete_template(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM response_templates WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(n > 0)
    }
}
