//! Command-line flags of the `gateway` binary.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::tls::{CertificateFiles, TlsOptions};
use crate::{ConfigSource, GatewayOptions};

/// The usage text.
pub const USAGE: &str = "\
gateway — gray's reverse proxy: routes every request with gray rules

USAGE:
    gateway [FLAGS]
    gateway what-if --config NEW --sample FILE [--live CURRENT] [--max-moved PCT]

With no flags it serves the embedded default config on 127.0.0.1:18080 and starts two demo
upstreams (stable on 127.0.0.1:18081, canary on 127.0.0.1:18082).

FLAGS:
    --config FILE            serve FILE (YAML/JSON/TOML); reloaded when it changes and on SIGHUP
    --redis URL              follow rules and IP sets in Redis (e.g. redis://127.0.0.1:6379/0),
                             published with `gray-redis`; changes apply as they are published
    --redis-ns NAME          the Redis namespace (default `default`)
    --redis-dump FILE        last-known-good dump: written on every accepted change, served
                             when the gateway starts while Redis is unreachable
    --listen ADDR            proxy listener (default 127.0.0.1:18080; HTTP/1.1 and h2c, or
                             HTTPS with --tls-cert)
    --tls-cert FILE          terminate TLS on the proxy listener: PEM certificate chain (leaf
                             first); repeat with --tls-key for more certificates, chosen by
                             SNI (the first is the default); ALPN h2 and http/1.1. Reloaded
                             with the config (file change, SIGHUP) and when the files change
    --tls-key FILE           PEM private key of the --tls-cert of the same position
    --upstream-tls TARGET    reach these nodes over HTTPS: a group name, a node address, or
                             `*` for every node (repeatable)
    --upstream-ca FILE       PEM CA certificates trusted for HTTPS nodes (default: the bundled
                             Mozilla roots)
    --upstream-h2 TARGET     speak HTTP/2 to these nodes (same TARGET syntax, repeatable): HTTPS
                             nodes are offered ALPN h2 and http/1.1, plain nodes get h2c with
                             prior knowledge; one shared connection per node and worker
    --admin-listen ADDR      admin API and page (default 127.0.0.1:18090); `off` disables it
    --admin-token TOKEN      require `Authorization: Bearer TOKEN` on the admin API (required
                             when --admin-listen is not a loopback address; also read from
                             the GRAY_ADMIN_TOKEN environment variable)
    --no-demo-upstreams      do not start the demo upstreams (they start only without
                             --config and --redis)
    --connect-timeout DUR    upstream connect timeout (default 2s; ms, s, m)
    --response-timeout DUR   time from sending the whole request until the upstream's response
                             headers (default 30s)
    --client-body-timeout DUR
                             longest pause between two reads of a client's request body; then
                             408, not held against the upstream (default 60s)
    --header-timeout DUR     time a new connection has to send its request head (default 30s)
    --keepalive-timeout DUR  idle client connections are closed after this (default 75s)
    --max-connections N      open client connections at most; at the cap the listener stops
                             accepting (default: from the open-file limit)
    --workers N              proxy worker threads, each with its own runtime, listening socket
                             (SO_REUSEPORT) and upstream pool (default: one per core)
    --no-http1-shortcut      serve every request through hyper (by default plain HTTP/1.1
                             requests of the common shape go straight from socket to a pooled
                             upstream socket)
    --admin-legacy-get       also serve the seed-style GET /upstream_add, /upstream_remove and
                             /upstream_list (state changes by GET: any web page can trigger
                             them; off by default)
    --sample-every N         keep one routed request in N in a live sample for what-if
                             (off by default; only the fields the config reads are kept)
    --sample-capacity N      the most requests the live sample keeps (default 10000)
    --sample-max-bytes N     the most bytes the live sample keeps (default 8388608)
    --watch-interval DUR     how often the config file is checked (default 1s)
    --shutdown-timeout DUR   on SIGTERM or Ctrl-C, stop accepting and give in-flight requests
                             and tunnels this long to finish, then cut them and exit
                             (default 30s; a second signal exits at once)
    -h, --help               this text

Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.
";

/// Parsed flags.
#[derive(Debug, Clone)]
pub struct Args {
    /// Gateway options.
    pub options: GatewayOptions,
    /// Start the demo upstreams.
    pub demo_upstreams: bool,
}

/// A flag problem, or a request for help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `--help` was given.
    Help,
    /// A flag is wrong; the text says which and why.
    Invalid(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help => f.write_str(USAGE),
            ArgsError::Invalid(m) => write!(f, "{m}\n\nRun `gateway --help` for the flags."),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Parses a duration like `250ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
    .filter(|d| !d.is_zero())
}

/// The value of a flag naming nodes (`--upstream-tls`, `--upstream-h2`): a group name, a node
/// address or `*`.
fn target(
    mut value: impl FnMut(&str) -> Result<String, ArgsError>,
    flag: &str,
) -> Result<String, ArgsError> {
    let v = value("a group name, node address or *")?;
    if v.trim().is_empty() {
        return Err(ArgsError::Invalid(format!(
            "{flag}: give a group name, a node address or *"
        )));
    }
    Ok(v)
}

/// Parses the flags (without the program name). `env_token` is `GRAY_ADMIN_TOKEN`.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_token: Option<String>,
) -> Result<Args, ArgsError> {
    let mut config: Option<PathBuf> = None;
    let (mut redis, mut redis_ns, mut redis_dump) =
        (None::<String>, None::<String>, None::<PathBuf>);
    let mut options = GatewayOptions::new(ConfigSource::Embedded(crate::DEFAULT_CONFIG.into()));
    options.admin_token = env_token.filter(|t| !t.is_empty());
    let mut demo = true;
    let (mut certs, mut keys) = (Vec::<PathBuf>::new(), Vec::<PathBuf>::new());
    let (mut sample_every, mut sample) = (None::<u32>, gray_core::sample::SampleConfig::default());
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (flag.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, ArgsError> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| ArgsError::Invalid(format!("{name} needs {what}")))
        };
        let addr = |v: String, flag: &str| -> Result<SocketAddr, ArgsError> {
            v.parse().map_err(|_| {
                ArgsError::Invalid(format!(
                    "{flag}: {v:?} is not an IP:port address (e.g. 127.0.0.1:8080)"
                ))
            })
        };
        let dur = |v: String, flag: &str| -> Result<Duration, ArgsError> {
            parse_duration(&v).ok_or_else(|| {
                ArgsError::Invalid(format!(
                    "{flag}: {v:?} is not a positive duration (e.g. 500ms, 2s, 1m)"
                ))
            })
        };
        match name.as_str() {
            "-h" | "--help" => return Err(ArgsError::Help),
            "--config" => config = Some(PathBuf::from(value("a file")?)),
            "--redis" => redis = Some(value("a Redis URL")?),
            "--redis-ns" => redis_ns = Some(value("a namespace")?),
            "--redis-dump" => redis_dump = Some(PathBuf::from(value("a file")?)),
            "--listen" => options.listen = addr(value("an address")?, "--listen")?,
            "--admin-listen" => {
                let v = value("an address")?;
                options.admin_listen = if v == "off" {
                    None
                } else {
                    Some(addr(v, "--admin-listen")?)
                };
            }
            "--admin-token" => options.admin_token = Some(value("a token")?),
            "--no-demo-upstreams" => demo = false,
            "--connect-timeout" => {
                options.timeouts.connect = dur(value("a duration")?, "--connect-timeout")?
            }
            "--response-timeout" => {
                options.timeouts.response_header = dur(value("a duration")?, "--response-timeout")?
            }
            "--client-body-timeout" => {
                options.timeouts.client_body = dur(value("a duration")?, "--client-body-timeout")?
            }
            "--header-timeout" => {
                options.limits.header_timeout = dur(value("a duration")?, "--header-timeout")?
            }
            "--keepalive-timeout" => {
                options.limits.keepalive_timeout = dur(value("a duration")?, "--keepalive-timeout")?
            }
            "--max-connections" => {
                let v = value("a number")?;
                options.limits.max_connections =
                    v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ArgsError::Invalid(format!(
                            "--max-connections: {v:?} is not a positive whole number"
                        ))
                    })?;
            }
            "--workers" => {
                let v = value("a number")?;
                options.workers = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| {
                        ArgsError::Invalid(format!(
                            "--workers: {v:?} is not a whole number from 1 to 1024"
                        ))
                    })?;
            }
            "--no-http1-shortcut" => options.http1_shortcut = false,
            "--admin-legacy-get" => options.admin_legacy_get = true,
            "--sample-every" | "--sample-capacity" | "--sample-max-bytes" => {
                let v = value("a number")?;
                let n = v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ArgsError::Invalid(format!("{name}: {v:?} is not a positive whole number"))
                })?;
                match name.as_str() {
                    "--sample-every" => {
                        sample_every = Some(u32::try_from(n).map_err(|_| {
                            ArgsError::Invalid(format!("--sample-every: {v:?} is too large"))
                        })?)
                    }
                    "--sample-capacity" => sample.capacity = n as usize,
                    _ => sample.max_bytes = n as usize,
                }
            }
            "--tls-cert" => certs.push(PathBuf::from(value("a file")?)),
            "--tls-key" => keys.push(PathBuf::from(value("a file")?)),
            "--upstream-tls" => options.upstream_tls.targets.push(target(value, &name)?),
            "--upstream-h2" => options.upstream_h2.targets.push(target(value, &name)?),
            "--upstream-ca" => options.upstream_tls.ca_file = Some(PathBuf::from(value("a file")?)),
            "--shutdown-timeout" => {
                options.limits.shutdown_timeout = dur(value("a duration")?, "--shutdown-timeout")?
            }
            "--watch-interval" => {
                options.watch_interval = dur(value("a duration")?, "--watch-interval")?
            }
            other => return Err(ArgsError::Invalid(format!("unknown flag {other:?}"))),
        }
    }
    if let Some(every) = sample_every {
        options.sample = Some(gray_core::sample::SampleConfig { every, ..sample });
    } else if sample != gray_core::sample::SampleConfig::default() {
        return Err(ArgsError::Invalid(
            "--sample-capacity and --sample-max-bytes need --sample-every (sampling is off)".into(),
        ));
    }
    if certs.len() != keys.len() {
        return Err(ArgsError::Invalid(format!(
            "--tls-cert and --tls-key come in pairs: {} certificate(s), {} key(s)",
            certs.len(),
            keys.len()
        )));
    }
    if !certs.is_empty() {
        options.tls = Some(TlsOptions {
            certificates: certs
                .into_iter()
                .zip(keys)
                .map(|(cert, key)| CertificateFiles { cert, key })
                .collect(),
        });
    }
    if options.upstream_tls.ca_file.is_some() && options.upstream_tls.targets.is_empty() {
        return Err(ArgsError::Invalid(
            "--upstream-ca needs --upstream-tls (which nodes speak HTTPS)".into(),
        ));
    }
    match (config, redis) {
        (Some(_), Some(_)) => {
            return Err(ArgsError::Invalid(
                "--config and --redis exclude each other: the rules come from one place".into(),
            ))
        }
        (Some(path), None) => {
            options.config = ConfigSource::File(path);
            demo = false;
        }
        (None, Some(url)) => {
            let ns = redis_ns.unwrap_or_else(|| "default".into());
            gray_redis::check_name("--redis-ns", &ns)
                .map_err(|e| ArgsError::Invalid(e.message().to_string()))?;
            let mut source = gray_redis::SourceConfig::new(url, ns);
            source.dump = redis_dump;
            options.config = ConfigSource::Redis(source);
            demo = false;
        }
        (None, None) => {
            if redis_ns.is_some() || redis_dump.is_some() {
                return Err(ArgsError::Invalid(
                    "--redis-ns and --redis-dump need --redis".into(),
                ));
            }
        }
    }
    Ok(Args {
        options,
        demo_upstreams: demo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, ArgsError> {
        parse(args.iter().map(|s| s.to_string()), None)
    }

    #[test]
    fn defaults_serve_the_embedded_config_with_demo_upstreams() {
        let a = p(&[]).unwrap();
        assert!(a.demo_upstreams);
        assert!(matches!(a.options.config, ConfigSource::Embedded(_)));
        assert_eq!(a.options.listen.to_string(), "127.0.0.1:18080");
    }

    #[test]
    fn flags_are_parsed_in_both_spellings() {
        let a = p(&[
            "--config=/etc/gray.yaml",
            "--listen",
            "0.0.0.0:80",
            "--admin-listen=off",
            "--response-timeout",
            "750ms",
            "--admin-token",
            "s3cret",
        ])
        .unwrap();
        assert!(!a.demo_upstreams);
        assert_eq!(
            a.options.config,
            ConfigSource::File("/etc/gray.yaml".into())
        );
        assert_eq!(a.options.admin_listen, None);
        assert_eq!(
            a.options.timeouts.response_header,
            Duration::from_millis(750)
        );
        assert_eq!(a.options.admin_token.as_deref(), Some("s3cret"));
        assert!(!p(&["--no-demo-upstreams"]).unwrap().demo_upstreams);
        let a = p(&[
            "--header-timeout=2s",
            "--keepalive-timeout",
            "5s",
            "--client-body-timeout=250ms",
            "--max-connections",
            "300",
            "--admin-legacy-get",
            "--workers",
            "3",
        ])
        .unwrap();
        assert_eq!(a.options.workers, 3);
        assert_eq!(p(&[]).unwrap().options.workers, crate::default_workers());
        assert_eq!(a.options.limits.header_timeout, Duration::from_secs(2));
        assert_eq!(a.options.limits.keepalive_timeout, Duration::from_secs(5));
        assert_eq!(a.options.limits.max_connections, 300);
        assert_eq!(a.options.timeouts.client_body, Duration::from_millis(250));
        assert!(a.options.admin_legacy_get);
        assert!(!p(&[]).unwrap().options.admin_legacy_get);
        let e = p(&["--max-connections", "0"]).unwrap_err().to_string();
        assert!(e.contains("--max-connections"), "{e}");
        for bad in ["0", "many", "5000"] {
            let e = p(&["--workers", bad]).unwrap_err().to_string();
            assert!(e.contains("--workers") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let e = p(&["--listen", "localhost"]).unwrap_err().to_string();
        assert!(e.contains("--listen") && e.contains("IP:port"), "{e}");
        let e = p(&["--connect-timeout", "0s"]).unwrap_err().to_string();
        assert!(e.contains("positive duration"), "{e}");
        assert!(p(&["--config"])
            .unwrap_err()
            .to_string()
            .contains("needs a file"));
        assert!(p(&["--bogus"])
            .unwrap_err()
            .to_string()
            .contains("unknown flag"));
        assert_eq!(p(&["-h"]).unwrap_err(), ArgsError::Help);
    }

    #[test]
    fn tls_and_shutdown_flags() {
        let a = p(&[
            "--tls-cert",
            "a.pem",
            "--tls-key=a.key",
            "--tls-cert=b.pem",
            "--tls-key",
            "b.key",
            "--upstream-tls",
            "canary",
            "--upstream-tls=10.0.0.5:443",
            "--upstream-ca",
            "ca.pem",
            "--upstream-h2=canary",
            "--upstream-h2",
            "*",
            "--shutdown-timeout",
            "5s",
        ])
        .unwrap();
        let tls = a.options.tls.unwrap();
        assert_eq!(
            tls.certificates,
            vec![
                CertificateFiles::new("a.pem", "a.key"),
                CertificateFiles::new("b.pem", "b.key")
            ]
        );
        assert_eq!(a.options.upstream_tls.targets, ["canary", "10.0.0.5:443"]);
        assert_eq!(a.options.upstream_tls.ca_file, Some("ca.pem".into()));
        assert_eq!(a.options.upstream_h2.targets, ["canary", "*"]);
        assert_eq!(a.options.limits.shutdown_timeout, Duration::from_secs(5));
        let d = p(&[]).unwrap().options;
        assert!(d.tls.is_none() && d.upstream_tls.targets.is_empty());
        assert!(d.upstream_h2.targets.is_empty());
        assert_eq!(d.limits.shutdown_timeout, Duration::from_secs(30));
        for (args, needle) in [
            (&["--tls-cert", "a.pem"][..], "pairs"),
            (&["--upstream-ca", "ca.pem"][..], "needs --upstream-tls"),
            (&["--upstream-tls", " "][..], "--upstream-tls"),
            (&["--upstream-h2", ""][..], "--upstream-h2"),
            (&["--upstream-h2"][..], "--upstream-h2 needs"),
            (&["--shutdown-timeout", "soon"][..], "--shutdown-timeout"),
        ] {
            let e = p(args).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn redis_flags() {
        let a = p(&[
            "--redis",
            "redis://127.0.0.1:6379/0",
            "--redis-ns=shop",
            "--redis-dump",
            "/var/lib/gray/shop.json",
        ])
        .unwrap();
        assert!(!a.demo_upstreams);
        let ConfigSource::Redis(c) = a.options.config else {
            panic!("not a Redis source");
        };
        assert_eq!(c.url, "redis://127.0.0.1:6379/0");
        assert_eq!(c.namespace, "shop");
        assert_eq!(c.dump, Some("/var/lib/gray/shop.json".into()));
        let ConfigSource::Redis(c) = p(&["--redis", "redis://h/0"]).unwrap().options.config else {
            panic!("not a Redis source");
        };
        assert_eq!((c.namespace.as_str(), c.dump), ("default", None));
        for (args, needle) in [
            (
                &["--redis", "redis://h/0", "--config", "x.yaml"][..],
                "exclude",
            ),
            (&["--redis-ns", "shop"][..], "need --redis"),
            (
                &["--redis", "redis://h/0", "--redis-ns", "a b"][..],
                "--redis-ns",
            ),
        ] {
            let e = p(args).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let a = p(&["--admin-token", "s3cret-value"]).unwrap();
        let shown = format!("{:?}", a);
        assert!(!shown.contains("s3cret-value"), "{shown}");
        assert!(shown.contains("(set)"), "{shown}");
    }

    #[test]
    fn sampling_flags() {
        assert_eq!(p(&[]).unwrap().options.sample, None);
        let a = p(&["--sample-every", "10", "--sample-capacity=500"]).unwrap();
        let s = a.options.sample.unwrap();
        assert_eq!((s.every, s.capacity, s.max_bytes), (10, 500, 8 << 20));
        for (args, says) in [
            (&["--sample-capacity", "5"][..], "need --sample-every"),
            (
                &["--sample-every", "0"][..],
                "--sample-every: \"0\" is not a positive",
            ),
            (&["--sample-every", "99999999999"][..], "too large"),
        ] {
            match p(args) {
                Err(ArgsError::Invalid(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn env_token_is_used_unless_empty() {
        let a = parse(Vec::new(), Some("t".into())).unwrap();
        assert_eq!(a.options.admin_token.as_deref(), Some("t"));
        let a = parse(Vec::new(), Some(String::new())).unwrap();
        assert_eq!(a.options.admin_token, None);
    }
}
