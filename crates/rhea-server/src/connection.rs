use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use rhea_commands::{dispatch, Client, ClientInfo, Shared};
use rhea_resp::{Out, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

const READ_CHUNK: usize = 16 * 1024;

/// Serves one client until it quits, errs, is killed or the server stops.
///
/// Every request already in the read buffer is executed before the replies
/// are written in one go: a pipelined client costs one read and one write
/// per batch, not per command.
pub async fn serve(mut stream: TcpStream, shared: &Shared, info: Arc<ClientInfo>) {
    let authenticated = shared.config.read().requirepass.is_empty();
    let max_bulk = shared.config.read().proto_max_bulk_len;
    let mut client = Client::new(info.clone(), authenticated);
    let mut parser = RequestParser::new(max_bulk);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Out::new(false);
    let mut argv = Vec::with_capacity(8);
    loop {
        reserve(&mut buf, parser.bulk_hint());
        let n = tokio::select! {
            biased;
            _ = info.kill_notify.notified() => break,
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        shared.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
        loop {
            match parser.parse(&mut buf, &mut argv) {
                Ok(true) => {
                    dispatch(shared, &mut client, &argv, &mut out);
                    if client.close_after_reply {
                        break;
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    debug!(client = client.id, error = %e, "protocol error, closing connection");
                    out.error(&format!("ERR {e}"));
                    client.close_after_reply = true;
                    break;
                }
            }
        }
        argv.clear();
        if !out.is_empty() {
            shared.stats.total_net_output_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
            if stream.write_all(&out.buf).await.is_err() {
                break;
            }
            out.buf.clear();
        }
        if client.close_after_reply || info.killed.load(Ordering::Acquire) {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

/// Makes room for the next read: a fixed chunk normally, geometrically more
/// while a large bulk argument is arriving (never the client-announced size
/// up front, so a lying header cannot make us allocate 512 MB).
fn reserve(buf: &mut BytesMut, bulk_hint: Option<usize>) {
    let spare = buf.capacity() - buf.len();
    let want = match bulk_hint {
        Some(total) if total > buf.len() => (total - buf.len()).min(buf.len().max(READ_CHUNK)),
        _ => READ_CHUNK,
    };
    if spare < want.min(READ_CHUNK) || (bulk_hint.is_some() && spare < want) {
        buf.reserve(want);
    }
}
