//! `rhea-server [configfile] [--option value ...]`, like redis-server.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("rhea-server v={}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let config = rhea_server::Config::from_args(&args).map_err(anyhow::Error::msg).context("bad configuration")?;
    let level = match config.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .init();
    // One worker means a single-threaded runtime: no work stealing and no
    // cross-thread wake-ups, which is what a single keyspace lock favours.
    let mut rt = match config.io_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 0 {
                b.worker_threads(n);
            }
            b
        }
    };
    let rt = rt.enable_all().build().context("starting the runtime")?;
    rt.block_on(rhea_server::run(config))?;
    Ok(())
}
