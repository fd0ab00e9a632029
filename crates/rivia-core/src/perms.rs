//! Roles and permission levels. Every level is an ordered small integer, stored as such.

/// An admin's role in an instance. The owner is stored as `full` and flagged separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read-only access.
    Read = 1,
    /// Read and write access to data resources.
    Write = 2,
    /// Everything but deleting or renaming the instance.
    Full = 3,
    /// The instance owner (never stored; derived from `instances.owner_id`).
    Owner = 4,
}

impl Role {
    /// Parses a stored or submitted role name (`owner` is never accepted from input).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "full" => Some(Role::Full),
            "write" => Some(Role::Write),
            "read" => Some(Role::Read),
            _ => None,
        }
    }
    /// The stored name; the owner's stored role is `full`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Full | Role::Owner => "full",
        }
    }
    /// From the integer stored in the database.
    pub fn from_i64(v: i64) -> Role {
        match v {
            3 => Role::Full,
            2 => Role::Write,
            4 => Role::Owner,
            _ => Role::Read,
        }
    }
}

macro_rules! levels {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $value:literal => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $(#[doc = $text] $variant = $value),* }

        impl $name {
            /// Every accepted wire name.
            pub const NAMES: &'static [&'static str] = &[$($text),*];
            /// Parses the wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)* _ => None }
            }
            /// The wire name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
            /// From the integer stored in the database (unknown values clamp to the lowest).
            pub fn from_i64(v: i64) -> Self {
                match v { $($value => Self::$variant,)* _ => Self::lowest() }
            }
            /// The stored integer.
            pub fn as_i64(self) -> i64 { self as i64 }
            fn lowest() -> Self { levels!(@first $($variant)*) }
        }
    };
    (@first $first:ident $($rest:ident)*) => { Self::$first };
}

levels!(
    /// Object-level permission of owner, group and others (spec-core §9.2).
    ObjectPerm { None = 0 => "none", Read = 1 => "read", Write = 2 => "write", Full = 3 => "full" }
);
levels!(
    /// Class-level permission for group and others (spec-core §8.1).
    ClassPerm { None = 0 => "none", Read = 1 => "read", CreateObjects = 2 => "create_objects" }
);
levels!(
    /// Channel permission for group and others (spec-core §10.1).
    ChannelPerm { None = 0 => "none", Subscribe = 1 => "subscribe", Publish = 2 => "publish" }
);

/// The admin operations of the permission table (spec-core §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GET.
    Read,
    /// POST on a collection.
    Create,
    /// POST/PUT/PATCH on an item or an item action.
    Update,
    /// DELETE.
    Delete,
}

/// Which role an admin needs for a kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTable {
    /// API keys: owner/full only, reads included.
    ApiKeys,
    /// Instance admins: owner/full write, everyone reads.
    Admins,
    /// Data resources (classes, objects, users, groups, channels...): write role writes.
    Data,
    /// Templates, invitations, hosting: owner/full write, everyone reads.
    FullWrites,
    /// Backups and restores: owner/full only, reads included (they hold every secret of
    /// the instance).
    Backups,
}

/// Whether an admin with `role` may perform `op` on `table`.
pub fn admin_allows(role: Role, table: AdminTable, op: Op) -> bool {
    match table {
        AdminTable::ApiKeys | AdminTable::Backups => role >= Role::Full,
        AdminTable::Admins | AdminTable::FullWrites => op == Op::Read || role >= Role::Full,
        AdminTable::Data => op == Op::Read || role >= Role::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_order() {
        assert_eq!(ObjectPerm::parse("write"), Some(ObjectPerm::Write));
        assert!(ObjectPerm::Full > ObjectPerm::Read);
        assert_eq!(ClassPerm::from_i64(2).name(), "create_objects");
        assert_eq!(ChannelPerm::from_i64(99), ChannelPerm::None);
        assert_eq!(ObjectPerm::parse("furry"), None);
    }

    #[test]
    fn admin_table() {
        assert!(!admin_allows(Role::Write, AdminTable::ApiKeys, Op::Read));
        assert!(admin_allows(Role::Full, AdminTable::ApiKeys, Op::Delete));
        assert!(admin_allows(Role::Read, AdminTable::Data, Op::Read));
        assert!(!admin_allows(Role::Read, AdminTable::Data, Op::Create));
        assert!(admin_allows(Role::Write, AdminTable::Data, Op::Delete));
        assert!(!admin_allows(Role::Write, AdminTable::Admins, Op::Update));
    }
}
