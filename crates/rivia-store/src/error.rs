//! Failures of the storage layer, already stripped of driver types. A unique-constraint
//! failure names its constraint the same way on both backends (see [`Constraint`]), so
//! callers match on which constraint failed rather than on driver error text.

/// Failures of the storage layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint (or primary key, or unique index) was violated.
    #[error("unique constraint violated: {0}")]
    Conflict(Constraint),
    /// A statement ran past its deadline.
    #[error("statement timed out")]
    Timeout,
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The disk (or the database's space) is full: SQLite's SQLITE_FULL, PostgreSQL's
    /// 53100 disk_full. Nothing was written; writes work again once space is freed.
    #[error("storage full: {0}")]
    Full(String),
    /// Text the database cannot store (PostgreSQL refuses NUL characters: SQLSTATE 22021
    /// or 22P05). Callers reject NUL first; this is the backstop.
    #[error("invalid text: {0}")]
    InvalidText(String),
    /// Anything else (logged, answered with a generic 500).
    #[error("database error: {0}")]
    Internal(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which unique constraint a write violated, by its PostgreSQL name on both backends:
/// an index's own name (the unique index of a schema field, `c<class>_x<hash>`), or for
/// constraints declared in the migrations PostgreSQL's default names,
/// `<table>_<column>[_<column>…]_key` for `UNIQUE` and `<table>_pkey` for a primary key.
/// PostgreSQL reports that name with SQLSTATE 23505; SQLite's message is parsed into it
/// once, inside the SQLite executor. Whether it is the unique index of a schema field is
/// answered by `Constraint::is_field_index` (next to the index names, in `sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    name: String,
}

impl Constraint {
    /// A constraint by its (PostgreSQL) name.
    pub(crate) fn named(name: impl Into<String>) -> Self {
        Constraint { name: name.into() }
    }

    /// A `UNIQUE (columns)` constraint of `table`, named as PostgreSQL names it.
    pub(crate) fn unique(table: &str, columns: &[&str]) -> Self {
        Constraint::named(format!("{table}_{}_key", columns.join("_")))
    }

    /// The primary key of `table`, named as PostgreSQL names it.
    pub(crate) fn primary_key(table: &str) -> Self {
        Constraint::named(format!("{table}_pkey"))
    }

    /// The constraint's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}
