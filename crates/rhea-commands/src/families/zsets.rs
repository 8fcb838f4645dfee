//! The sorted_set family.

use crate::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
