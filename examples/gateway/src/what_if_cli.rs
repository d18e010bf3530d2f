//! `gateway what-if`: how a candidate config would route recorded requests, compared with the
//! live one, before publishing it.
//!
//! ```text
//! gateway what-if --config new.yaml --sample requests.jsonl [--live current.yaml] [--max-moved 5%]
//! ```
//!
//! `--sample` is JSON Lines of request descriptions (the form `/api/explain` takes). Without
//! `--live` the embedded default config is the live one. Exit status 0, or 1 when more than
//! `--max-moved` of the requests would change group, or 2 for bad flags, files or configs.

use std::fmt::Write as _;
use std::path::PathBuf;

use gray_core::{Engine, Spec};

/// The usage text of the subcommand.
pub const USAGE: &str = "\
gateway what-if — how a candidate config would route recorded requests, before publishing it

USAGE:
    gateway what-if --config NEW --sample FILE [--live CURRENT] [--max-moved PCT]

    --config NEW      the candidate config (YAML/JSON/TOML)
    --sample FILE     JSON Lines of request descriptions ({\"peer\": \"10.1.2.3\", \"headers\": ...})
    --live CURRENT    the config in force (default: the embedded default config)
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
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--sample" => sample = Some(PathBuf::from(value("--sample")?)),
            "--live" => live = Some(PathBuf::from(value("--live")?)),
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
    let sample = sample.ok_or_else(|| format!("--sample is required\n\n{USAGE}"))?;
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
    let mut out = report.to_string();
    let too_many_moved = max_moved.is_some_and(|m| report.moved_share > m);
    if too_many_moved {
        let _ = writeln!(
            out,
            "refused: more than {:.1}% would move",
            max_moved.unwrap_or(0.0) * 100.0
        );
    }
    Ok(Outcome {
        text: out,
        too_many_moved,
    })
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
