//! `evscope trace EVENT_ID`: the events sharing an event's correlation id, as a causation tree.

use std::io::Write;

use clap::Args;

use super::{CliError, FormatArg, fmt, open, shown};
use crate::output;

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The event id whose correlation id is followed
    pub event_id: String,
    /// At most this many events (the trace says when it was cut)
    #[arg(long, default_value_t = crate::trace::DEFAULT_LIMIT, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub limit: u32,
    /// table: the tree, one event per line, indented under its cause; json: one document
    /// with the correlation and the events; jsonl: one event per line
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

pub const HELP: &str = "\
The correlation id is read from the event's metadata (correlation_id, correlationId,
$correlationId, or Message DB's correlationStreamName); causes from causation_id, causationId,
$causationId, or causationMessageGlobalPosition. Each event carries `caused_by` (the id of its
cause, when that is in the trace) and `depth`.

Example:
  evscope trace 3f2c9a4e-1b7d-4c8e-9a51-0d6f2b8e7c11
  evscope trace 3f2c9a4e-1b7d-4c8e-9a51-0d6f2b8e7c11 --format json";

pub async fn run(cli: &super::Cli, a: &TraceArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let store = open(cli).await?;
    let t = crate::trace::trace(&store, &a.event_id, a.limit as usize)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if t.cut {
        eprintln!(
            "evscope: stopped at --limit {}; more events share {} = {}",
            a.limit,
            t.key,
            shown(&t.correlation.to_string())
        );
    }
    match a.format {
        FormatArg::Json => output::write_doc(out, &t, fmt(a.format))?,
        FormatArg::Jsonl => output::write_json(out, &t.events, fmt(a.format))?,
        FormatArg::Table => {
            // What was traced goes to stderr: stdout is the table, from its header down.
            eprintln!(
                "{} events share {} = {}",
                t.events.len(),
                t.key,
                shown(&t.correlation.to_string())
            );
            let rows: Vec<Vec<String>> = t
                .events
                .iter()
                .map(|x| {
                    let e = &x.event;
                    let indent = if x.depth == 0 {
                        String::new()
                    } else {
                        format!("{}└ ", "  ".repeat(x.depth - 1))
                    };
                    vec![
                        e.global_position.map_or("-".into(), |p| p.to_string()),
                        e.recorded_at
                            .as_ref()
                            .map_or("?".into(), crate::store::model::format_time),
                        format!("{indent}{}", output::clip(&e.event_type, 40)),
                        format!("{}@{}", output::clip(&e.stream_id, 60), e.stream_version),
                        output::clip(&e.event_id, 40),
                    ]
                })
                .collect();
            output::table(
                out,
                &["POSITION", "TIME", "TYPE", "STREAM", "EVENT ID"],
                &rows,
            )?;
        }
    }
    Ok(0)
}
