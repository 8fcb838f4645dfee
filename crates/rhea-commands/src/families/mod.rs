//! One module per Redis command family, each declaring its commands in a
//! `COMMANDS` slice that the table collects.

pub mod connection;
pub mod keys;
pub mod server;
pub mod strings;

use bytes::Bytes;
use rhea_resp::parse_i64;

use crate::{error::CmdError, table::CommandSpec};

/// Every family's declarations; the command table is built from these.
pub const ALL: &[&[CommandSpec]] = &[strings::COMMANDS, keys::COMMANDS, connection::COMMANDS, server::COMMANDS];

/// An integer argument, with Redis's error when it is not one.
pub fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &Bytes, name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}
