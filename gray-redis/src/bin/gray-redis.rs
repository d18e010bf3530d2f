//! `gray-redis`: publish validated rules and edit IP sets in a Redis namespace.
//!
//! ```text
//! gray-redis --redis redis://127.0.0.1:6379/0 --ns prod publish rules.yaml
//! gray-redis --ns prod ipset add testers 192.168.2.20 10.8.0.0/16
//! gray-redis --ns prod ipset load testers --file testers.txt
//! gray-redis --ns prod publish rule.xml          # a Nepxion rule, applied on top of the spec
//! gray-redis --ns prod show
//! gray-redis --ns prod publish new.yaml --what-if requests.jsonl --max-moved 5%
//! ```
//!
//! Exit status: 0 on success, 1 when the input is invalid or Redis fails (the message says
//! where and why), 2 for a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gray_core::{Error, ErrorKind, Format};
use gray_redis::{load_spec, Publisher};

#[derive(Parser)]
#[command(
    name = "gray-redis",
    version,
    about = "Publish gray rules and IP sets to Redis"
)]
struct Cli {
    /// Redis URL.
    #[arg(
        long,
        global = true,
        env = "GRAY_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0"
    )]
    redis: String,
    /// Namespace (one fleet's rules).
    #[arg(long, global = true, env = "GRAY_NS", default_value = "default")]
    ns: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a rule file (native spec or Nepxion rule) against what is in Redis, then
    /// publish it.
    Publish {
        /// The spec: .yaml, .yml, .json or .toml.
        file: PathBuf,
        /// Format, when the file name does not tell (yaml, json, toml).
        #[arg(long, conflicts_with = "nepxion")]
        format: Option<String>,
        /// The file is a Nepxion rule (XML or JSON), applied on top of the spec (implied by
        /// a .xml name).
        #[arg(long)]
        nepxion: bool,
        /// Validate only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Before publishing, route these recorded requests (JSON Lines of request
        /// descriptions, as `explain` takes) through the fleet's live rules and the new ones,
        /// and print which would change group.
        #[arg(long, value_name = "FILE")]
        what_if: Option<PathBuf>,
        /// With --what-if: refuse to publish (exit 1) when more than this share of the
        /// requests would change group, e.g. `5%`.
        #[arg(long, value_name = "PCT", requires = "what_if")]
        max_moved: Option<String>,
    },
    /// Edit or read an IP set.
    #[command(subcommand)]
    Ipset(IpsetCommand),
    /// Print the namespace's combined spec (rules plus IP set members) as YAML.
    Show,
    /// Delete the Nepxion rule, so that the spec alone applies.
    RemoveNepxion,
    /// Read or move the fleet's judged rollout of a group (every engine follows within a
    /// second).
    Rollout {
        /// status, pause, resume, promote or abort.
        action: String,
        /// The group whose rollout it is.
        group: String,
    },
}

#[derive(Subcommand)]
enum IpsetCommand {
    /// Add addresses or CIDRs.
    Add(Members),
    /// Remove addresses or CIDRs.
    Remove(Members),
    /// Replace the whole set (with no entries and no file: empty it).
    Load(Members),
    /// Print the members, one per line.
    List {
        /// The IP set name.
        name: String,
    },
}

#[derive(Args)]
struct Members {
    /// The IP set name.
    name: String,
    /// Addresses or CIDRs.
    entries: Vec<String>,
    /// A file with one address or CIDR per line (`#` comments).
    #[arg(long)]
    file: Option<PathBuf>,
}

impl Members {
    fn collect(&self) -> Result<Vec<String>, Error> {
        let mut out = self.entries.clone();
        if let Some(path) = &self.file {
            out.extend(read_list(path)?);
        }
        Ok(out)
    }
}

fn summary(spec: &gray_core::Spec) -> String {
    format!(
        "{} rules, {} groups, {} IP sets{}",
        spec.rules.len(),
        spec.groups.len(),
        spec.ip_sets.len(),
        if spec.release.is_some() {
            ", a release section"
        } else {
            ""
        }
    )
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::at(
            ErrorKind::Io,
            path.display().to_string(),
            format!("cannot read: {e}"),
        )
    })
}

/// Reads and validates an IP list file; the error names the line.
fn read_list(path: &Path) -> Result<Vec<String>, Error> {
    let text = read_text(path)?;
    gray_core::ip::parse_list(&text).map_err(|(line, e)| {
        Error::new(
            ErrorKind::InvalidIp,
            gray_core::Location::new(String::new(), Some(line), None)
                .in_file(path.display().to_string()),
            e.to_string(),
        )
    })?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// `5%` or `5` as 0.05.
fn parse_share(s: &str) -> Result<f64, Error> {
    s.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|n| (0.0..=100.0).contains(n))
        .map(|n| n / 100.0)
        .ok_or_else(|| {
            Error::at(
                ErrorKind::InvalidValue,
                "--max-moved",
                format!("{s:?} is not a percentage from 0 to 100, e.g. 5%"),
            )
        })
}

/// Prints what `candidate` would move of the sample compared with the fleet's live rules, and
/// refuses (an error) when more than `max_moved` would.
fn what_if_guard(
    (redis, ns): (&str, &str),
    candidate: &gray_core::Spec,
    sample: &Path,
    max_moved: Option<f64>,
) -> Result<(), Error> {
    let text = read_text(sample)?;
    let requests = gray_core::what_if::parse_requests(&text)
        .map_err(|e| e.in_file(sample.display().to_string()))?;
    let live = match load_spec(redis, ns) {
        Ok(spec) => spec,
        Err(e) if e.kind() == ErrorKind::Source && e.message().contains("no spec") => {
            println!("what-if: nothing is published yet; every request is new");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let report = gray_core::Engine::new(live)?.what_if(candidate.clone(), &requests)?;
    print!("{report}");
    if let Some(max) = max_moved {
        if report.moved_share > max {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "--max-moved",
                format!(
                    "refused: {:.1}% of the sample would change group, more than {:.1}%",
                    report.moved_share * 100.0,
                    max * 100.0
                ),
            ));
        }
    }
    Ok(())
}

fn rollout(p: &mut Publisher, action: &str, group: &str) -> Result<(), Error> {
    use gray_core::RolloutAction as A;
    let print = |s: &gray_redis::FleetRolloutState| {
        let step = match s.state {
            gray_core::rollout::RolloutState::Progressing { step }
            | gray_core::rollout::RolloutState::Paused { step } => format!(" at step {}", step + 1),
            _ => String::new(),
        };
        println!(
            "{group}: {}{step} (version {}, by {}): {}",
            s.state.name(),
            s.version,
            s.by,
            s.reason
        );
    };
    let action = match action {
        "status" => {
            let (state, lease) = p.rollout_status(group)?;
            match &state {
                Some(s) => print(s),
                None => println!("{group}: no fleet state yet (the rollout has not moved)"),
            }
            match lease {
                Some(id) => println!("judged by engine {id}"),
                None => println!("no engine holds the lease"),
            }
            return Ok(());
        }
        "pause" => A::Pause,
        "resume" => A::Resume,
        "promote" => A::Promote,
        "abort" => A::Abort,
        other => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "action",
                format!("{other:?}: use status, pause, resume, promote or abort"),
            ))
        }
    };
    print(&p.rollout_action(group, action)?);
    Ok(())
}

fn run(cli: Cli) -> Result<(), Error> {
    let (redis, ns) = (cli.redis.clone(), cli.ns.clone());
    let connect = || Publisher::connect(&redis, &ns);
    match cli.command {
        Command::Rollout { action, group } => rollout(&mut connect()?, &action, &group)?,
        Command::Publish {
            file,
            format,
            nepxion,
            dry_run,
            what_if,
            max_moved,
        } => {
            let text = read_text(&file)?;
            let max_moved = max_moved.as_deref().map(parse_share).transpose()?;
            let mut p = connect()?;
            let guard = |candidate: &gray_core::Spec| match &what_if {
                Some(sample) => what_if_guard((&redis, &ns), candidate, sample, max_moved),
                None => Ok(()),
            };
            let in_file = |e: Error| e.in_file(file.display().to_string());
            let is_xml = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
            if nepxion || (is_xml && format.is_none()) {
                let (spec, warnings) = p.check_nepxion(&text).map_err(in_file)?;
                for w in &warnings {
                    eprintln!("{}: {w}", file.display());
                }
                guard(&spec)?;
                if dry_run {
                    println!(
                        "{}: valid Nepxion rule ({})",
                        file.display(),
                        summary(&spec)
                    );
                } else {
                    let (done, _) = p.publish_nepxion(&text).map_err(in_file)?;
                    let key = p.keys().nepxion();
                    println!(
                        "published {} to {key} (log entry {})",
                        file.display(),
                        done.log_id
                    );
                }
                return Ok(());
            }
            let format = match &format {
                Some(f) => Format::from_name(f).ok_or_else(|| {
                    Error::at(
                        ErrorKind::InvalidValue,
                        "--format",
                        format!("unknown format {f:?}; use yaml, json or toml"),
                    )
                })?,
                None => Format::from_path(&file).ok_or_else(|| {
                    Error::at(
                        ErrorKind::InvalidValue,
                        file.display().to_string(),
                        "cannot tell the format from the file name; pass --format, or --nepxion for a Nepxion rule",
                    )
                })?,
            };
            let spec = p.check_spec(&text, format).map_err(in_file)?;
            guard(&spec)?;
            if dry_run {
                println!("{}: valid ({})", file.display(), summary(&spec));
            } else {
                let done = p.publish_spec(&text, format).map_err(in_file)?;
                let key = p.keys().spec();
                println!(
                    "published {} to {key} (log entry {})",
                    file.display(),
                    done.log_id
                );
            }
        }
        Command::RemoveNepxion => {
            let mut p = connect()?;
            let done = p.remove_nepxion()?;
            println!("removed {} (log entry {})", p.keys().nepxion(), done.log_id);
        }
        Command::Ipset(cmd) => {
            let mut p = connect()?;
            match cmd {
                IpsetCommand::Add(m) => {
                    let done = p.ip_set_add(&m.name, m.collect()?)?;
                    println!("added {} members to {}", done.changed, m.name);
                }
                IpsetCommand::Remove(m) => {
                    let done = p.ip_set_remove(&m.name, m.collect()?)?;
                    println!("removed {} members from {}", done.changed, m.name);
                }
                IpsetCommand::Load(m) => {
                    let done = p.ip_set_load(&m.name, m.collect()?)?;
                    println!("{} now has {} members", m.name, done.changed);
                }
                IpsetCommand::List { name } => {
                    for m in p.ip_set_members(&name)? {
                        println!("{m}");
                    }
                }
            }
        }
        Command::Show => print!("{}", load_spec(&cli.redis, &cli.ns)?.to_yaml()),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gray-redis: {e}");
            ExitCode::FAILURE
        }
    }
}
