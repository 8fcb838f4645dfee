//! The wire protocol: requests in (multibulk or inline, parsed exactly as
//! Redis 7 parses them, with its error texts) and replies out (RESP2 or
//! RESP3, chosen per connection).

mod number;
mod out;
mod parse;

pub use number::{fmt_double, parse_f64, parse_i64};
pub use out::Out;
pub use parse::{split_args, ProtocolError, RequestParser, PROTO_INLINE_MAX_SIZE};
