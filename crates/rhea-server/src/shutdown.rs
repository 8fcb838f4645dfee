use std::sync::Arc;

use rhea_commands::Shared;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

/// Turns SIGTERM and SIGINT into a clean shutdown.
pub async fn on_signal(shared: Arc<Shared>) {
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            warn!("could not install signal handlers; SIGTERM will not shut down cleanly");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("received SIGTERM, scheduling shutdown"),
        _ = int.recv() => info!("received SIGINT, scheduling shutdown"),
    }
    shared.request_shutdown();
}
