//! The extension-field table: every `__` field of the IMS "Querying Image
//! Details" response table (`spec/querying-image-details.rst`), by what its
//! documented values mean. The spec types every one of them `String`, and
//! Glance stores them as strings; the class says how `normalize` and `typed`
//! read that string.
//!
//! A `__` field not in the table is classed by its value's shape (see
//! [`class_of`]), so a field IMS adds tomorrow is still handled, and never
//! dropped (only `strip` removes fields).

use serde_json::{Map, Value};

use super::literal;

/// The prefix of IMS extension fields. `normalize` and `typed` touch only
/// fields with this prefix; `transform.strip_prefix` steers `strip` alone.
pub const EXTENSION_PREFIX: &str = "__";

/// How an extension field's string value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldClass {
    /// "true"/"false" in any case, with surrounding whitespace.
    BooleanLike,
    /// A decimal number (`"64"`, `"40960"`).
    Numeric,
    /// JSON text inside the string (`"[\"onekey_resetpasswd\"]"`).
    JsonText,
    /// Free text: never rewritten.
    PlainString,
}

/// The spec's `__` fields and their classes, in the spec's order per class.
pub const FIELDS: &[(&str, FieldClass)] = &[
    // Documented as "true or false" (`__lazyloading` also "True"/"False"),
    // or "if yes, the value is true; otherwise not required".
    ("__isregistered", FieldClass::BooleanLike),
    ("__lazyloading", FieldClass::BooleanLike),
    ("__support_kvm", FieldClass::BooleanLike),
    ("__support_xen", FieldClass::BooleanLike),
    ("__support_largememory", FieldClass::BooleanLike),
    ("__support_diskintensive", FieldClass::BooleanLike),
    ("__support_highperformance", FieldClass::BooleanLike),
    ("__support_xen_hana", FieldClass::BooleanLike),
    ("__support_kvm_infiniband", FieldClass::BooleanLike),
    ("__support_fc_inject", FieldClass::BooleanLike),
    ("__is_config_init", FieldClass::BooleanLike),
    ("__support_amd", FieldClass::BooleanLike),
    // Numbers: OS bits (32/64), file size in bytes, and the sequence number
    // (documented as "unavailable", but a number where IMS fills it).
    ("__os_bit", FieldClass::Numeric),
    ("__image_size", FieldClass::Numeric),
    ("__sequence_num", FieldClass::Numeric),
    // "A list (in JSON format) of advanced features": JSON text in a string.
    ("__os_feature_list", FieldClass::JsonText),
    // Free text, names, IDs and enumerations. The two `_gpu_type` fields
    // start like the `__support_*` booleans but hold a GPU type name
    // (Tables 2 and 3 of the spec), so they are plain strings; IDs such as
    // `__backup_id` must never lose leading zeros or be read as numbers.
    ("__os_version", FieldClass::PlainString),
    ("__description", FieldClass::PlainString),
    ("__platform", FieldClass::PlainString),
    ("__os_type", FieldClass::PlainString),
    ("__system__cmkid", FieldClass::PlainString),
    ("__image_source_type", FieldClass::PlainString),
    ("__imagetype", FieldClass::PlainString),
    ("__originalimagename", FieldClass::PlainString),
    ("__backup_id", FieldClass::PlainString),
    ("__data_origin", FieldClass::PlainString),
    ("__root_origin", FieldClass::PlainString),
    ("__support_xen_gpu_type", FieldClass::PlainString),
    ("__support_kvm_gpu_type", FieldClass::PlainString),
    ("__image_location", FieldClass::PlainString),
];

/// The class of field `name` holding the string `value`, or `None` when
/// `name` is not an extension field. Known fields get their table class
/// whatever the value; unknown `__` fields are classed by shape: a
/// boolean-like string is [`FieldClass::BooleanLike`], an integer string
/// (after trimming: optional sign, ASCII digits only) is
/// [`FieldClass::Numeric`], anything else [`FieldClass::PlainString`].
pub fn class_of(name: &str, value: &str) -> Option<FieldClass> {
    if !name.starts_with(EXTENSION_PREFIX) {
        return None;
    }
    if let Some((_, class)) = FIELDS.iter().find(|(known, _)| *known == name) {
        return Some(*class);
    }
    Some(if literal::boolean_like(value).is_some() {
        FieldClass::BooleanLike
    } else if literal::is_integer(value.trim()) {
        FieldClass::Numeric
    } else {
        FieldClass::PlainString
    })
}

/// Walks the string values of the `__` fields and replaces each one for
/// which `replace` (given its class and text) returns a new value; the
/// shared walk of `normalize` and `typed`. Returns whether anything
/// changed.
pub fn rewrite_strings(
    image: &mut Map<String, Value>,
    replace: impl Fn(FieldClass, &str) -> Option<Value>,
) -> bool {
    let mut changed = false;
    for (name, value) in image.iter_mut() {
        let Value::String(text) = &*value else {
            continue;
        };
        let Some(class) = class_of(name, text) else {
            continue;
        };
        if let Some(new) = replace(class, text) {
            *value = new;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `__` field named in the spec's response table is in the table
    /// exactly once (the list below is `grep '| \\__'` over the spec).
    #[test]
    fn table_covers_the_spec_once() {
        let spec = [
            "__os_bit",
            "__os_version",
            "__description",
            "__isregistered",
            "__platform",
            "__os_type",
            "__system__cmkid",
            "__image_source_type",
            "__imagetype",
            "__originalimagename",
            "__backup_id",
            "__image_size",
            "__data_origin",
            "__root_origin",
            "__lazyloading",
            "__os_feature_list",
            "__sequence_num",
            "__support_kvm",
            "__support_xen",
            "__support_largememory",
            "__support_diskintensive",
            "__support_highperformance",
            "__support_xen_gpu_type",
            "__support_kvm_gpu_type",
            "__support_xen_hana",
            "__support_kvm_infiniband",
            "__support_fc_inject",
            "__image_location",
            "__is_config_init",
            "__support_amd",
        ];
        assert_eq!(FIELDS.len(), spec.len());
        for name in spec {
            let hits = FIELDS.iter().filter(|(known, _)| *known == name).count();
            assert_eq!(hits, 1, "{name}");
        }
    }

    /// Known fields keep their class whatever their value looks like.
    #[test]
    fn known_fields_use_the_table() {
        assert_eq!(class_of("__os_bit", "64bit"), Some(FieldClass::Numeric));
        assert_eq!(
            class_of("__lazyloading", "yes"),
            Some(FieldClass::BooleanLike)
        );
        assert_eq!(
            class_of("__backup_id", "007"),
            Some(FieldClass::PlainString)
        );
        assert_eq!(
            class_of("__support_kvm_gpu_type", "true"),
            Some(FieldClass::PlainString)
        );
        assert_eq!(
            class_of("__os_feature_list", "x"),
            Some(FieldClass::JsonText)
        );
    }

    /// Unknown `__` fields are classed by shape; other names are not
    /// extension fields at all.
    #[test]
    fn unknown_fields_by_shape() {
        assert_eq!(class_of("__new", " TRUE "), Some(FieldClass::BooleanLike));
        assert_eq!(class_of("__new", " -12 "), Some(FieldClass::Numeric));
        assert_eq!(class_of("__new", "1.5"), Some(FieldClass::PlainString));
        assert_eq!(class_of("__new", "yes"), Some(FieldClass::PlainString));
        assert_eq!(class_of("__new", ""), Some(FieldClass::PlainString));
        assert_eq!(class_of("hw_vif_multiqueue_enabled", "true"), None);
        assert_eq!(class_of("_single", "true"), None);
    }
}
