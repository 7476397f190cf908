//! `hub triage`'s arguments: the items (a file or `--from` a list tool), the output, the decision asked for
//! (`--schema`, the built-in `triage` one and its `--categories`), applying it (`--apply`, `--dry-run`), and the pace.

use crate::triage;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct TriageCli {
    #[command(subcommand)]
    pub action: Option<TriageAction>,
    /// Input file: JSONL objects with "id" and "text" (other fields are context), or CSV with a header; '-' for stdin
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub input: Option<String>,
    /// Take the items from this list tool's result, paged until done (e.g. tickets__list_tickets)
    #[arg(long, value_name = "TOOL")]
    pub from: Option<String>,
    /// Arguments for --from, as a JSON object (e.g. '{"status":"open"}')
    #[arg(long, value_name = "JSON", requires = "from")]
    pub args: Option<String>,
    /// The field holding each record's id (default: id)
    #[arg(long, value_name = "FIELD", requires = "from")]
    pub id_field: Option<String>,
    /// The field holding each record's text (default: subject/title, then body/text/description)
    #[arg(long, value_name = "FIELD", requires = "from")]
    pub text_field: Option<String>,
    /// Output JSONL file; ids already in it are skipped (rerun to resume)
    #[arg(long, value_name = "FILE", required = true)]
    pub out: Option<PathBuf>,
    /// Items in flight at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Instructions for the model (default: a support-triage prompt)
    #[arg(long, value_name = "FILE")]
    pub prompt: Option<PathBuf>,
    /// JSON Schema the answer must satisfy (one repair attempt, then status invalid_output); 'triage': the
    /// built-in decision (category, priority, customer, summary, next action, duplicate; the default with --from)
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// The built-in decision's categories, e.g. 'billing,technical,shipping:parcel+courier,other' (known names
    /// keep their keywords; others take their name and the words after ':')
    #[arg(long, value_name = "LIST")]
    pub categories: Option<String>,
    /// Apply each decision on the items' server: a comment with the decision, the priority set (only tools its
    /// triage_allow permits; never twice for an item)
    #[arg(long, requires = "from")]
    pub apply: bool,
    /// List the calls --apply would make (stdout, one JSON line each), making none
    #[arg(long, requires = "from")]
    pub dry_run: bool,
    /// Run again the items whose result in --out is not ok
    #[arg(long)]
    pub retry_failed: bool,
    /// Also write the report at the end to FILE: Markdown (.md) or a self-contained HTML page (.html)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Model requests per minute, shared by all workers
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,
    /// Model turns per item before status turn_cap
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_turns: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum TriageAction {
    /// The report of a triage output file: counts by category and priority, urgent and high items with their
    /// customer and next action, duplicates, failures
    Report {
        /// The output file of a triage run (JSONL)
        out: PathBuf,
        /// Also write it to FILE: Markdown (.md) or a self-contained HTML page with a sortable table (.html)
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Rows per list on the terminal
        #[arg(long, value_name = "N", default_value_t = 50)]
        rows: usize,
    },
}

impl TriageCli {
    /// What `triage::run` takes.
    pub fn into_args(self, quiet: bool) -> triage::TriageArgs {
        let source = match self.from {
            Some(tool) => triage::Source::Tool(triage::FromTool {
                tool,
                args: self.args,
                id_field: self.id_field,
                text_field: self.text_field,
            }),
            None => triage::Source::File(self.input.unwrap_or_else(|| "-".into())),
        };
        triage::TriageArgs {
            source,
            out: self.out.unwrap_or_default(),
            concurrency: usize::from(self.concurrency),
            prompt: self.prompt,
            schema: self.schema,
            categories: self.categories,
            apply: self.apply,
            dry_run: self.dry_run,
            retry_failed: self.retry_failed,
            report: self.report,
            quiet,
        }
    }
}
