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
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if config.io_threads > 0 {
        rt.worker_threads(config.io_threads);
    }
    let rt = rt.enable_all().build().context("starting the runtime")?;
    rt.block_on(rhea_server::run(config))?;
    Ok(())
}
