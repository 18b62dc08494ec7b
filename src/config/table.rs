//! The key table: [`settings!`] turns one line per key (its docs, name,
//! kind, default and reload class) into everything the reader and a
//! reload need, so a key is spelled once:
//!
//! - `key::<name>`, its [`Key`](super::keys::Key) (`section.name`), and
//!   `key::ALL`, the section's keys in file order;
//! - a settings struct with one field per key, the value as written
//!   (typed, units parsed, not yet validated);
//! - `read`, which reads every key (a bad value is a problem and reads as
//!   its default), `diff`, which names every key of one reload class
//!   whose value differs, and `effective`, every key's value as TOML
//!   (for `--check-config`, which redacts it).
//!
//! A key cannot be declared and not read or not compared: both are
//! generated from the same list. What a section's settings *mean* (the
//! typed `*Config` the rest of the crate uses) is built from them by the
//! section's own validation pass, which destructures them without `..`.
//!
//! Kinds, each a [`Reader`](super::reader::Reader) method of the same
//! name: `string`, `duration`, `positive` (a non-zero duration), `bytes`,
//! `count`, `boolean`, `list`, `socket_addr`, `tables` (file only).

/// Declares a section's keys; see the module docs.
macro_rules! settings {
    (
        $(#[$struct_doc:meta])*
        $name:ident in $section:literal {
            $(
                $(#[$doc:meta])*
                $field:ident: $kind:ident = $default:expr, $class:ident;
            )*
        }
    ) => {
        /// The section's keys, named as the file spells them.
        #[allow(non_upper_case_globals)]
        pub mod key {
            use super::super::keys::Key;
            $(
                $(#[$doc])*
                pub const $field: Key = Key::new(concat!($section, ".", stringify!($field)));
            )*
            /// Every key of the section, in file order.
            pub const ALL: &[Key] = &[$($field),*];
        }

        $(#[$struct_doc])*
        #[derive(Clone, PartialEq)]
        pub(super) struct $name {
            $(
                $(#[$doc])*
                pub $field: super::table::setting_type!($kind),
            )*
        }

        impl $name {
            /// Reads every key of the section, recording what is wrong.
            pub(super) fn read(r: &mut super::reader::Reader<'_>) -> Self {
                Self {
                    $( $field: r.$kind(key::$field, $default), )*
                }
            }

            /// Names each key of `class` whose value differs in `file`.
            pub(super) fn diff(
                &self,
                file: &Self,
                class: super::keys::Class,
                changes: &mut super::keys::Changes,
            ) {
                $(
                    if class == super::keys::Class::$class {
                        changes.check(key::$field, &self.$field, &file.$field);
                    }
                )*
            }

            /// Each key with the value it holds, as TOML (unredacted).
            pub(super) fn effective(&self) -> Vec<(super::keys::Key, toml::Value)> {
                use super::effective::Effective as _;
                vec![$( (key::$field, self.$field.effective()) ),*]
            }

            /// Each key with its reload class.
            #[cfg(test)]
            pub(super) const CLASSES: &[(super::keys::Key, super::keys::Class)] =
                &[$( (key::$field, super::keys::Class::$class) ),*];
        }
    };
}

/// The value type a kind reads into.
macro_rules! setting_type {
    (string) => { String };
    (duration) => { std::time::Duration };
    (positive) => { std::time::Duration };
    (bytes) => { u64 };
    (count) => { u64 };
    (boolean) => { bool };
    (list) => { Vec<String> };
    (socket_addr) => { std::net::SocketAddr };
    (tables) => { Vec<(usize, toml::Table)> };
}

pub(crate) use setting_type;
pub(crate) use settings;
