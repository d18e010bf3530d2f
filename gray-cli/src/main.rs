//! `gray`: work with gray configs from the shell.
//!
//! `gray check FILE...` compiles each config exactly as the engine would (native YAML, JSON or
//! TOML by extension; Nepxion XML for `.xml`, Nepxion JSON with `--nepxion`) and prints its
//! errors and its lint warnings (see `gray_core::lint`), each with file, line and column:
//!
//! ```text
//! $ gray check gray.yaml
//! warning[shadowed_rule]: rules[1] (id "lab").when (gray.yaml, line 9, column 11): rule "lab" can never match: …
//! gray.yaml: ok, 2 rules, 2 groups, 1 warning
//! ```
//!
//! Exit status: 0 when every file compiles (warnings or not), 1 with `--strict` when a file has
//! warnings, 2 when a file does not compile or cannot be read. `--json` prints one JSON object
//! per file instead (`file`, `ok`, `error`, `lints`, `import_warnings`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gray_core::lint::Lint;
use gray_core::{Engine, Format};

#[derive(Parser)]
#[command(
    name = "gray",
    version,
    about = "Check gray configs before they are published"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile configs and list their errors and lint warnings.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Config files: .yaml/.yml, .json, .toml (native), .xml (Nepxion).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Exit with status 1 when a file has warnings.
    #[arg(long)]
    strict: bool,
    /// Read .json files as Nepxion JSON rules rather than the native format.
    #[arg(long)]
    nepxion: bool,
    /// One JSON object per file on standard output.
    #[arg(long)]
    json: bool,
}

/// What checking one file found.
struct Checked {
    /// The compile (or read) error, if any.
    error: Option<String>,
    lints: Vec<Lint>,
    /// Nepxion import warnings (parts of the rule that gray does not apply).
    import_warnings: Vec<String>,
    rules: usize,
    groups: usize,
}

fn check(path: &Path, nepxion_json: bool) -> Checked {
    let failed = |error: String| Checked {
        error: Some(error),
        lints: Vec::new(),
        import_warnings: Vec::new(),
        rules: 0,
        groups: 0,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let nepxion = ext.as_deref() == Some("xml") || (nepxion_json && ext.as_deref() == Some("json"));
    let (engine, import_warnings) = if nepxion {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return failed(format!("cannot read {}: {e}", path.display())),
        };
        match Engine::from_nepxion(&text) {
            Ok((engine, w)) => (engine, w.iter().map(|w| w.to_string()).collect()),
            Err(e) => return failed(e.in_file(path.display().to_string()).to_string()),
        }
    } else {
        if Format::from_path(path).is_none() {
            return failed(format!(
                "{}: use .yaml, .yml, .json, .toml or .xml (Nepxion)",
                path.display()
            ));
        }
        match Engine::from_file(path) {
            Ok(engine) => (engine, Vec::new()),
            Err(e) => return failed(e.to_string()),
        }
    };
    let snap = engine.snapshot();
    let mut lints = engine.lints();
    if nepxion {
        // A Nepxion rule carries no instances (they come from discovery): its groups are
        // empty by design.
        lints.retain(|l| l.kind != gray_core::lint::LintKind::EmptyGroup);
    }
    Checked {
        error: None,
        lints,
        import_warnings,
        rules: snap.spec().rules.len(),
        groups: snap.spec().groups.len(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Check(args) = cli.command;
    let (mut errors, mut warned) = (false, false);
    for path in &args.files {
        let c = check(path, args.nepxion);
        let name = path.display().to_string();
        errors |= c.error.is_some();
        warned |= !c.lints.is_empty() || !c.import_warnings.is_empty();
        if args.json {
            let out = serde_json::json!({
                "file": name,
                "ok": c.error.is_none(),
                "error": c.error,
                "lints": c.lints,
                "import_warnings": c.import_warnings,
            });
            println!("{out}");
            continue;
        }
        if let Some(e) = &c.error {
            println!("{name}: error: {e}");
            continue;
        }
        for w in &c.import_warnings {
            println!("{name}: {w}");
        }
        for l in &c.lints {
            // The lint's location names the file already (for native configs).
            match l.location.file {
                Some(_) => println!("{l}"),
                None => println!("{name}: {l}"),
            }
        }
        let warnings = c.lints.len() + c.import_warnings.len();
        println!(
            "{name}: ok, {}, {}, {}",
            plural(c.rules, "rule", "rules"),
            plural(c.groups, "group", "groups"),
            plural(warnings, "warning", "warnings")
        );
    }
    if errors {
        ExitCode::from(2)
    } else if warned && args.strict {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
