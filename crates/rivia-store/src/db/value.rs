//! The values bound to and read from statements, the same on both backends: [`Val`],
//! [`Row`] with accessors that coerce between the drivers' representations, and the
//! [`Dialect`] callers branch on where the SQL differs.

/// Which SQL dialect a [`Db`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite (default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// Any integer column.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Text, and JSON read back as text.
    Text(String),
    /// Boolean (SQLite stores 0/1).
    Bool(bool),
    /// JSON text bound to a JSON column (`jsonb` on PostgreSQL, `TEXT` on SQLite).
    Json(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Float(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// Builds a `Vec<Val>` from heterogeneous values.
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Val::from($v)),*] };
}
pub(crate) use params;

/// One result row; accessors coerce between the two drivers' representations.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Val>);

impl Row {
    /// Integer column (booleans read as 0/1; NULL as 0).
    pub fn i64(&self, i: usize) -> i64 {
        self.opt_i64(i).unwrap_or(0)
    }
    /// Nullable integer column.
    pub fn opt_i64(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Some(*v),
            Some(Val::Bool(b)) => Some(*b as i64),
            Some(Val::Float(f)) => Some(*f as i64),
            Some(Val::Text(t)) => t.parse().ok(),
            _ => None,
        }
    }
    /// Boolean column.
    pub fn bool(&self, i: usize) -> bool {
        match self.0.get(i) {
            Some(Val::Bool(b)) => *b,
            Some(Val::Int(v)) => *v != 0,
            _ => false,
        }
    }
    /// Text column ("" when NULL).
    pub fn str(&self, i: usize) -> &str {
        self.opt_str(i).unwrap_or("")
    }
    /// Nullable text column.
    pub fn opt_str(&self, i: usize) -> Option<&str> {
        match self.0.get(i) {
            Some(Val::Text(s)) | Some(Val::Json(s)) => Some(s),
            _ => None,
        }
    }
    /// Takes a text column out of the row without copying.
    pub fn take_string(&mut self, i: usize) -> String {
        match self.0.get_mut(i) {
            Some(Val::Text(s)) | Some(Val::Json(s)) => std::mem::take(s),
            _ => String::new(),
        }
    }
    /// Nullable variant of [`Row::take_string`].
    pub fn take_opt_string(&mut self, i: usize) -> Option<String> {
        match self.0.get_mut(i) {
            Some(Val::Text(s)) | Some(Val::Json(s)) => Some(std::mem::take(s)),
            _ => None,
        }
    }
}
