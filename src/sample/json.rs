//! JSON text as Glance writes it: the sample service writes the same bytes a
//! real Glance would. The formatter lives in [`crate::transform::pyjson`],
//! shared with the transforms, which must write changed bodies in the same
//! style.

pub use crate::transform::pyjson::{string_literal, to_bytes};
