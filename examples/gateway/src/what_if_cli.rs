//! `gateway what-if`: how a candidate config would route recorded requests, compared with the
//! live one, before publishing it.
//!
//! ```text
//! gateway what-if --config new.yaml --sample requests.jsonl [--live current.yaml] [--max-moved 5%]
//! gateway what-if --config new.yaml --admin http://127.0.0.1:18090 [--admin-token T] [--max-moved 5%]
//! ```
//!
//! `--sample` is JSON Lines of request descriptions (the form `/api/explain` takes). Without
//! `--live` the embedded default config is the live one. With `--admin` instead, a running
//! gateway judges the candidate against its own config on its live sample (`--sample-every`). Exit status 0, or 1 when more than
//! `--max-moved` of the requests would change group, or 2 for bad flags, files or configs.

use std::fmt::Write as _;
use std::path::PathBuf;

use gray_core::{Engine, Spec};

/// The usage text of the subcommand.
pub const USAGE: &str = "\
gateway what-if — how a candidate config would route recorded requests, before publishing it

USAGE:
    gateway what-if --config NEW --sample FILE [--live CURRENT] [--max-moved PCT]
    gateway what-if --config NEW --admin URL [--admin-token TOKEN] [--max-moved PCT]

    --config NEW      the candidate config (YAML/JSON/TOML)
    --sample FILE     JSON Lines of request descriptions ({\"peer\": \"10.1.2.3\", \"headers\": ...})
    --live CURRENT    the config in force (default: the embedded default config)
    --admin URL       ask a running gateway (its admin API, http://HOST:PORT): its config, on
                      its live sample (the gateway runs with --sample-every N)
    --admin-token T   the admin token (also GRAY_ADMIN_TOKEN)
    --max-moved PCT   exit 1 when more than PCT of the requests would change group (e.g. 5%)
";

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    /// The report, as text.
    pub text: String,
    /// True when `--max-moved` was exceeded.
    pub too_many_moved: bool,
}

/// Runs the subcommand on its arguments (after `what-if`). `Err` is a message for exit 2.
pub fn run(
    args: impl IntoIterator<Item = String>,
    default_config: &str,
) -> Result<Outcome, String> {
    let (mut config, mut sample, mut live, mut max_moved) = (None, None, None, None);
    let (mut admin, mut token) = (None::<String>, std::env::var("GRAY_ADMIN_TOKEN").ok());
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--sample" => sample = Some(PathBuf::from(value("--sample")?)),
            "--live" => live = Some(PathBuf::from(value("--live")?)),
            "--admin" => admin = Some(value("--admin")?),
            "--admin-token" => token = Some(value("--admin-token")?),
            "--max-moved" => {
                let v = value("--max-moved")?;
                let n: f64 = v
                    .trim_end_matches('%')
                    .parse()
                    .ok()
                    .filter(|n: &f64| (0.0..=100.0).contains(n))
                    .ok_or_else(|| format!("--max-moved {v:?}: a percentage from 0 to 100"))?;
                max_moved = Some(n / 100.0);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown flag {other:?}\n\n{USAGE}")),
        }
    }
    let config = config.ok_or_else(|| format!("--config is required\n\n{USAGE}"))?;
    if let Some(admin) = admin {
        if sample.is_some() || live.is_some() {
            return Err(format!(
                "--admin asks a running gateway: it excludes --sample and --live\n\n{USAGE}"
            ));
        }
        return remote(&config, &admin, token.as_deref(), max_moved);
    }
    let sample = sample.ok_or_else(|| format!("--sample or --admin is required\n\n{USAGE}"))?;
    let engine = match &live {
        Some(path) => Engine::from_file(path),
        None => Engine::from_str(default_config, gray_core::Format::Yaml),
    }
    .map_err(|e| format!("live config: {e}"))?;
    let text = std::fs::read_to_string(&sample)
        .map_err(|e| format!("cannot read {}: {e}", sample.display()))?;
    let requests = gray_core::what_if::parse_requests(&text)
        .map_err(|e| e.in_file(sample.display().to_string()).to_string())?;
    let (candidate, text, format) = read_spec(&config)?;
    let report = engine
        .what_if(candidate, &requests)
        .map(|r| r.located_in(&text, format))
        .map_err(|e| {
            format!(
                "{}",
                e.located_in(&text, format)
                    .in_file(config.display().to_string())
            )
        })?;
    Ok(judged(report.to_string(), report.moved_share, max_moved))
}

/// What-if by a running gateway on its live sample: `POST /api/what-if?format=text`.
fn remote(
    config: &PathBuf,
    admin: &str,
    token: Option<&str>,
    max_moved: Option<f64>,
) -> Result<Outcome, String> {
    use http_body_util::{BodyExt, Full};
    let format = gray_core::Format::from_path(config)
        .ok_or_else(|| format!("{}: use .yaml, .yml, .json or .toml", config.display()))?;
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let body = serde_json::json!({ "config": text, "format": format.name(), "sample": "live" });
    let url = format!("{}/api/what-if?format=text", admin.trim_end_matches('/'));
    let mut req = http::Request::post(&url).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .map_err(|e| format!("--admin {admin:?}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (status, moved, report) = rt.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = tokio::time::timeout(std::time::Duration::from_secs(60), client.request(req))
            .await
            .map_err(|_| format!("{url}: no answer within 60s"))?
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let moved = resp
            .headers()
            .get("x-gray-moved")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, moved, String::from_utf8_lossy(&body).into_owned()))
    })?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {}", report.trim_end()));
    }
    let share = moved
        .as_deref()
        .and_then(|m| m.split_once('/'))
        .and_then(|(m, n)| Some((m.parse::<f64>().ok()?, n.parse::<f64>().ok()?)))
        .map(|(m, n)| if n == 0.0 { 0.0 } else { m / n })
        .ok_or_else(|| format!("{url}: the answer has no x-gray-moved count"))?;
    Ok(judged(report, share, max_moved))
}

/// The outcome of a report whose `share` of requests moves, against `--max-moved`.
fn judged(mut text: String, share: f64, max_moved: Option<f64>) -> Outcome {
    let too_many_moved = max_moved.is_some_and(|m| share > m);
    if too_many_moved {
        let _ = writeln!(
            text,
            "refused: more than {:.1}% would move",
            max_moved.unwrap_or(0.0) * 100.0
        );
    }
    Outcome {
        text,
        too_many_moved,
    }
}

/// The candidate spec, its text and format (to locate compile errors).
fn read_spec(path: &PathBuf) -> Result<(Spec, String, gray_core::Format), String> {
    let format = gray_core::Format::from_path(path)
        .ok_or_else(|| format!("{}: use .yaml, .yml, .json or .toml", path.display()))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let spec = Spec::from_str(&text, format)
        .map_err(|e| e.in_file(path.display().to_string()).to_string())?;
    Ok((spec, text, format))
}
