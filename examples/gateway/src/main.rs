//! The gray gateway: `cargo run -p gray-gateway -- --help`.
//!
//! Without flags it serves the embedded default config and starts two demo upstreams, so
//! `curl -H 'Cookie: canary=xaaa' http://127.0.0.1:18080/` reaches the canary right away.

use std::process::ExitCode;

use gray_gateway::cli::{self, ArgsError};
use gray_gateway::{ConfigSource, DemoUpstream, Gateway};

/// Prints a line to stdout; a closed stdout (the reader went away) is no reason to stop.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("what-if") {
        return match gray_gateway::what_if_cli::run(
            std::env::args().skip(2),
            gray_gateway::DEFAULT_CONFIG,
        ) {
            Ok(o) => {
                say!("{}", o.text.trim_end());
                ExitCode::from(u8::from(o.too_many_moved))
            }
            Err(e) => {
                eprintln!("gateway what-if: {e}");
                ExitCode::from(2)
            }
        };
    }
    let args = match cli::parse(
        std::env::args().skip(1),
        std::env::var("GRAY_ADMIN_TOKEN").ok(),
    ) {
        Ok(a) => a,
        Err(ArgsError::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // The proxy listener is served by worker threads of their own (`--workers`); this runtime
    // runs the admin API, the config watcher, the judge and the demo upstreams.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: cli::Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut demo = Vec::new();
    if args.demo_upstreams {
        for (name, port) in [("stable", 18081), ("canary", 18082)] {
            let addr = ([127, 0, 0, 1], port).into();
            let up = DemoUpstream::start(name, addr)
                .await
                .map_err(|e| format!("cannot start the demo upstream {name} on {addr}: {e} (use --no-demo-upstreams)"))?;
            demo.push(up);
        }
    }
    let embedded = matches!(args.options.config, ConfigSource::Embedded(_));
    // Installed before anything is printed: a SIGTERM sent as soon as the gateway says it
    // serves is a graceful shutdown, never the default action that kills the process.
    let mut signals = Signals::install()?;
    let gateway = Gateway::start(args.options).await?;
    let proxy = gateway.proxy_addr();
    let scheme = gateway.proxy_scheme();
    let protocols = if scheme == "https" {
        "HTTP/1.1 and h2 over TLS"
    } else {
        "HTTP/1.1 and h2c"
    };
    say!(
        "gray gateway: proxy {scheme}://{proxy} ({protocols}), serving {} (generation {})",
        gateway.reloader().source().describe(),
        gateway.engine().generation()
    );
    match gateway.admin_addr() {
        Some(a) => say!("admin: http://{a}/ (page), http://{a}/api/groups, http://{a}/metrics"),
        None => say!("admin: off"),
    }
    for up in &demo {
        say!("demo upstream {}: http://{}", up.name(), up.addr());
    }
    if embedded {
        say!("try:");
        say!("  curl {scheme}://{proxy}/                                 # stable");
        say!("  curl -H 'Cookie: canary=xaaa' {scheme}://{proxy}/        # canary (cookie rule)");
        say!("  curl -H 'X-Forwarded-For: 10.8.3.4' {scheme}://{proxy}/  # canary (tester IP via the trusted local proxy)");
        if let Some(a) = gateway.admin_addr() {
            say!(
                "  curl -X POST http://{a}/api/explain?format=text -d '{{\"cookies\":{{\"canary\":\"xaaa\"}}}}'"
            );
        }
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let signal = signals.next().await;
    tracing::info!(
        signal,
        "shutting down: the listeners are closed, in-flight requests may finish"
    );
    tokio::select! {
        finished = gateway.shutdown() => {
            if finished {
                tracing::info!("shut down: every request finished");
            } else {
                tracing::warn!("shut down: requests still open at the shutdown timeout were cut");
            }
        }
        signal = signals.next() => {
            tracing::warn!(signal, "second signal: exiting without waiting for open requests");
        }
    }
    Ok(())
}

/// SIGTERM and SIGINT (Ctrl-C), registered up front.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
