//! The command layer: one table declaring every command (name, arity, flags,
//! key positions, handler), one module per command family, and the
//! dispatcher that checks a request against the table and runs it.
//!
//! A handler is a function of (store, parsed arguments, the time stamped on
//! the request): it reads no clock and draws randomness only for read-only
//! replies, so a write can be carried by a replicated log and applied
//! identically everywhere.

pub mod blocking;
pub mod client;
pub mod config;
mod ctx;
mod dispatch;
mod error;
pub mod families;
pub mod generated;
pub mod memory;
pub mod obs;
pub mod pubsub;
pub mod replicated;
pub mod scripting;
mod shared;
pub mod table;

pub use client::{Client, ClientInfo, ClientRegistry};
pub use config::Config;
pub use ctx::Ctx;
pub use dispatch::{check, count_errors, disconnect, dispatch, execute, unknown_command, Outcome, Resolved};
pub use error::CmdError;
pub use shared::{now_ms, ServerStats, Shared};
pub use table::{CommandSpec, CommandTable};
