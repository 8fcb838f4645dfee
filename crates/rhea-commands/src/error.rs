/// Errors a command replies with. The Display text is the exact Redis 7
/// reply text, error code included, without the leading `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    #[error("ERR syntax error")]
    Syntax,
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    #[error("ERR unknown subcommand '{0}'. Try {1} HELP.")]
    UnknownSubcommand(String, String),
    /// Any other error; the text carries its own code (`ERR ...`).
    #[error("{0}")]
    Other(String),
}

impl CmdError {
    pub fn err(msg: impl std::fmt::Display) -> Self {
        CmdError::Other(format!("ERR {msg}"))
    }
}

pub type CmdResult = Result<(), CmdError>;
