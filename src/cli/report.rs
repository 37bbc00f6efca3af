//! `audit` and `verify-snapshots`: reports whose exit codes say what they found.

use super::*;

/// audit: 0 nothing wrong (information only), 1 faults found, 2 an error.
pub(super) async fn audit(cli: &Cli, a: &AuditArgs, out: &mut dyn Write) -> u8 {
    use crate::snapshots::audit::Severity;
    let result: Result<u8, CliError> = async {
        let target = resolve_target(cli)?;
        let reducers = reducer_source(cli, &target)?.load()?;
        let store = open(cli).await?;
        let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let (findings, summary) = crate::snapshots::audit::audit(&store, &reducers, |n| {
            if progress {
                eprint!("\rread {n} events  ");
            }
        })
        .await?;
        if progress {
            eprintln!();
        }
        match a.format {
            FormatArg::Table => {
                let rows: Vec<Vec<String>> = findings
                    .iter()
                    .map(|f| {
                        let at = match (&f.stream_id, f.stream_version) {
                            (Some(s), Some(v)) => format!("{} v{v}", shown(s)),
                            (Some(s), None) => format!("e.g. {}", shown(s)),
                            _ => shown(f.event_id.as_deref().unwrap_or("")),
                        };
                        let sev = if f.severity == Severity::Error {
                            "ERROR"
                        } else {
                            "info"
                        };
                        vec![
                            sev.to_string(),
                            f.kind.name(),
                            at,
                            output::clip(&f.detail, 1000),
                        ]
                    })
                    .collect();
                output::table(out, &["SEVERITY", "KIND", "WHERE", "DETAIL"], &rows)?;
                writeln!(
                    out,
                    "{} events in {} streams: {} fault(s), {} note(s)",
                    summary.events, summary.streams, summary.errors, summary.infos
                )?;
            }
            FormatArg::Json => {
                let doc = serde_json::json!({"summary": summary, "findings": findings});
                output::write_doc(out, &doc, Format::Json)?;
            }
            FormatArg::Jsonl => {
                // One finding per line, the summary last, in its own object.
                output::write_json(out, &findings, Format::Jsonl)?;
                output::write_doc(
                    out,
                    &serde_json::json!({ "summary": summary }),
                    Format::Jsonl,
                )?;
            }
        }
        Ok(if summary.errors > 0 { 1 } else { 0 })
    }
    .await;
    finding_code(result)
}

/// The exit code of a command whose own codes are 0/1 for its findings and 2 for an error
/// (audit, verify-snapshots); the reader of the output going away is no error.
fn finding_code(result: Result<u8, CliError>) -> u8 {
    match result {
        Ok(code) => code,
        Err(CliError::OutputClosed) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// verify-snapshots: 0 all match, 1 any drift, 2 an error (the message on stderr), 3 some
/// snapshots not checked (no reducer for their streams) and no drift or error.
pub(super) async fn verify_snapshots(cli: &Cli, a: &VerifyArgs, out: &mut dyn Write) -> u8 {
    use crate::snapshots::{Scope, Status};
    let result: Result<u8, CliError> = async {
        let target = resolve_target(cli)?;
        let reducers = reducer_source(cli, &target)?.load()?;
        let store = open(cli).await?;
        if store.layout().snapshots.is_none() {
            return Err(CliError::Failed(format!(
                "the {} layout keeps no snapshots (describe a snapshot table in a mapping file)",
                store.layout().name
            )));
        }
        if let Some(s) = &a.stream {
            store.require_stream(s).await?;
        }
        let scope = Scope {
            stream: a.stream.clone(),
            category: a.category.clone(),
            since: a.since,
            jobs: a.jobs.into(),
        };
        let json = a.format != FormatArg::Table;
        let lines = a.format == FormatArg::Jsonl;
        let mut printed = Ok(());
        // JSON is streamed (the array first, the summary last): memory stays bounded.
        // jsonl: one check per line, then the summary in an object of its own.
        let mut first = true;
        if json && !lines {
            printed = write!(out, "{{\"snapshots\": [");
        } else if !json {
            // The table: one line per snapshot that did not match, under its header.
            printed = writeln!(
                out,
                "STATUS   SNAPSHOT: WHAT DIFFERS (stored vs recomputed)"
            );
        }
        let started = std::time::Instant::now();
        // Progress on stderr, only when someone watches it (cron and CI get the summary).
        let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let summary = crate::snapshots::verify(&store, &reducers, &scope, |stream, checks| {
            if progress {
                eprint!("\rchecked {stream:<40} ({} snapshots)  ", checks.len());
            }
            if json {
                for c in checks {
                    if printed.is_ok() {
                        let sep = match (lines, first) {
                            (true, _) => "",
                            (false, true) => "\n",
                            (false, false) => ",\n",
                        };
                        first = false;
                        printed = write!(out, "{sep}").and_then(|()| {
                            serde_json::to_writer(&mut *out, c).map_err(std::io::Error::other)
                        });
                        if lines && printed.is_ok() {
                            printed = writeln!(out);
                        }
                    }
                }
                return;
            }
            // Unchecked snapshots (no reducer) are summed up after the list.
            for c in checks
                .iter()
                .filter(|c| !matches!(c.status, Status::Ok | Status::NoReducer))
            {
                let line = match c.status {
                    Status::Error => format!(
                        "ERROR    {} v{}: {}",
                        shown(&c.stream_id),
                        c.stream_version,
                        output::clip(&c.error.clone().unwrap_or_default(), 1000)
                    ),
                    _ => {
                        let paths: Vec<String> = c
                            .changes
                            .iter()
                            .map(|ch| match ch {
                                crate::rehydrate::diff::Change::Changed {
                                    path, old, new, ..
                                } => {
                                    format!(
                                        "{}: stored {}, recomputed {}",
                                        shown(path),
                                        cut_value(new),
                                        cut_value(old)
                                    )
                                }
                                crate::rehydrate::diff::Change::Added { path, new } => {
                                    format!(
                                        "{}: stored {}, recomputed absent",
                                        shown(path),
                                        cut_value(new)
                                    )
                                }
                                crate::rehydrate::diff::Change::Removed { path, old } => {
                                    format!(
                                        "{}: missing, recomputed {}",
                                        shown(path),
                                        cut_value(old)
                                    )
                                }
                            })
                            .collect();
                        format!(
                            "DRIFTED  {} v{}: {}",
                            shown(&c.stream_id),
                            c.stream_version,
                            paths.join("; ")
                        )
                    }
                };
                if printed.is_ok() {
                    printed = writeln!(out, "{line}");
                }
            }
        })
        .await?;
        if progress {
            eprintln!(
                "\r{:<70}",
                format!("done in {:.1}s", started.elapsed().as_secs_f64())
            );
        }
        printed?;
        if lines {
            output::write_doc(
                out,
                &serde_json::json!({ "summary": summary }),
                Format::Jsonl,
            )?;
        } else if json {
            write!(out, "\n], \"summary\": ")?;
            serde_json::to_writer(&mut *out, &summary).map_err(|e| CliError::Failed(e.to_string()))?;
            writeln!(out, "}}")?;
        } else {
            for line in summary.unchecked_lines() {
                writeln!(out, "{line}")?;
            }
            let unchecked = if summary.no_reducer > 0 {
                format!(", {} not checked (no reducer)", summary.no_reducer)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{} snapshots in {} streams: {} ok, {} drifted, {} errors{unchecked}",
                summary.checked, summary.streams, summary.ok, summary.drifted, summary.errors
            )?;
        }
        if summary.no_reducer_matched {
            eprintln!(
                "evscope: none of the {} reducer(s) of {} applies to a stream checked (by match, stream_type, first_event or the event types they handle)",
                reducers.reducers.len(),
                reducers.origin
            );
        }
        Ok(if summary.errors > 0 {
            2
        } else if summary.drifted > 0 {
            1
        } else if summary.no_reducer > 0 {
            3
        } else {
            0
        })
    }
    .await;
    finding_code(result)
}
