//! The network side of Rhea: accepting connections, reading requests,
//! writing replies, background housekeeping and shutdown. Command semantics
//! live in `rhea-commands`; this crate only moves bytes and runs timers.

mod connection;
mod cron;
mod dns;
mod leadership;
mod listener;
mod metrics;
mod sentinel;
mod shutdown;

pub use listener::{run, ServerError};
pub use rhea_commands::Config;
