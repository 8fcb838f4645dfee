//! The set family.

use crate::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
