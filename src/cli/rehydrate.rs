//! `rehydrate`: a stream's state folded to a version or a time, or the trace of the fold.

use super::*;

/// Fold a stream page by page (bounded memory) to --at/--as-of or its end.
pub(super) async fn rehydrate(
    store: &Store,
    reducers: &crate::rehydrate::reducer::Reducers,
    a: &RehydrateArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use crate::rehydrate::diff::diff;
    let fold = reducers.fold_in(store, &a.stream).await?;
    // A reducer file none of whose reducers applies to this stream: the merge fold runs, and
    // that is said, not left for the user to notice in the state.
    if !reducers.reducers.is_empty() && matches!(fold, crate::rehydrate::reducer::Fold::Merge) {
        eprintln!(
            "evscope: no reducer of {} applies to stream {} (by match, stream_type, first_event or the event types they handle): folded with the default merge fold",
            reducers.origin,
            crate::output::clip(&a.stream, 200)
        );
    }
    let mut state = fold.start(&fold.initial());
    let mut read = StreamRead {
        limit: 10_000,
        to_version: a.at,
        as_of: a.as_of,
        // The trace prints each event's position and time; the state alone needs only what
        // the reducers read.
        columns: if a.trace {
            crate::store::Columns::ALL
        } else {
            reducers.columns()
        },
        ..Default::default()
    };
    if a.trust_snapshots && !a.trace {
        let target = match (a.at, a.as_of) {
            (Some(v), _) => Some(v),
            (None, Some(t)) => {
                let last = store
                    .read_stream(
                        &a.stream,
                        &StreamRead {
                            limit: 1,
                            direction: Direction::Backward,
                            as_of: Some(t),
                            ..Default::default()
                        },
                    )
                    .await?;
                Some(last.first().map_or(i64::MIN, |e| e.stream_version))
            }
            (None, None) => None,
        };
        let near = store.snapshots(&a.stream, target, true, 1).await?;
        match near.into_iter().next() {
            Some(sn) if sn.problems.is_empty() => {
                eprintln!(
                    "started from the stored snapshot at version {}",
                    sn.stream_version
                );
                state = fold.start(&sn.state);
                read.after_version = Some(sn.stream_version);
            }
            _ => eprintln!("no usable snapshot: folded from the first event"),
        }
    }
    let format = a.format.unwrap_or(if a.trace {
        FormatArg::Jsonl
    } else {
        FormatArg::Json
    });
    let mut trace = Trace::new(format);
    let mut applied = 0usize;
    // The next page is read while this one folds (the time-travel view's pages, up to the
    // end: `--at` is the read's last version).
    let mut pages =
        crate::rehydrate::timeline::Pages::new(store.clone(), a.stream.clone(), read, i64::MAX)
            .ahead();
    while let Some(page) = pages.next().await {
        for e in &page? {
            let before = a.trace.then(|| state.to_json());
            match fold.apply_mut(&mut state, e) {
                Ok(()) => {}
                Err(err) => {
                    if a.trace {
                        trace.finish(out)?;
                    } else {
                        write_state(out, &state.to_json(), format)?;
                    }
                    return Err(CliError::Failed(format!(
                        "{}; the state before it is {}",
                        err,
                        if a.trace {
                            "the last traced one"
                        } else {
                            "printed above"
                        }
                    )));
                }
            }
            applied += 1;
            if let Some(before) = before {
                trace.step(out, e, &diff(&before, &state.to_json()))?;
            }
        }
    }
    // Nothing folded and no snapshot to start from: is there such a stream at all?
    if applied == 0 && !a.trust_snapshots {
        store.require_stream(&a.stream).await?;
    }
    if a.trace {
        trace.finish(out)?;
    } else {
        write_state(out, &state.to_json(), format)?;
    }
    Ok(())
}

use crate::rehydrate::diff::{Segment, render_path};

/// A rehydrated state in a format: a table of its values path by path, or JSON.
fn write_state(
    out: &mut dyn Write,
    state: &serde_json::Value,
    f: FormatArg,
) -> Result<(), CliError> {
    if f != FormatArg::Table {
        return Ok(output::write_doc(out, state, fmt(f))?);
    }
    let mut rows = Vec::new();
    state_rows(state, &mut Vec::new(), &mut rows);
    output::table(out, &["PATH", "VALUE"], &rows)?;
    Ok(())
}

/// The leaves of a state, each with its path as diffs write it (`.owner.name`, `.items[2]`;
/// `.` for a state that is itself a leaf); an empty object or array is a leaf.
fn state_rows(v: &serde_json::Value, path: &mut Vec<Segment>, rows: &mut Vec<Vec<String>>) {
    use serde_json::Value;
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                path.push(Segment::Key(k.clone()));
                state_rows(v, path, rows);
                path.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                path.push(Segment::Index(i));
                state_rows(v, path, rows);
                path.pop();
            }
        }
        leaf => rows.push(vec![shown(&render_path(path)), cut_value(leaf)]),
    }
}

/// The trace of a fold, event by event, in a format: a table line per event with what it
/// changed, a JSON array (streamed), or one object per line.
struct Trace {
    format: FormatArg,
    steps: usize,
}

impl Trace {
    fn new(format: FormatArg) -> Trace {
        Trace { format, steps: 0 }
    }

    fn step(
        &mut self,
        out: &mut dyn Write,
        e: &crate::store::Event,
        changes: &[crate::rehydrate::diff::Change],
    ) -> Result<(), CliError> {
        use crate::rehydrate::diff::Change;
        let time = e.recorded_at.as_ref().map(crate::store::model::format_time);
        match self.format {
            FormatArg::Table => {
                if self.steps == 0 {
                    writeln!(
                        out,
                        "{}  {}  {}  {}  CHANGES",
                        output::pad("VERSION", 8),
                        output::pad("POSITION", 10),
                        output::pad("TIME", 24),
                        output::pad("TYPE", 24)
                    )?;
                }
                let what: Vec<String> = changes
                    .iter()
                    .map(|c| match c {
                        Change::Added { path, new } => {
                            format!("+{} = {}", shown(path), cut_value(new))
                        }
                        Change::Removed { path, .. } => format!("-{}", shown(path)),
                        Change::Changed { path, old, new, .. } => {
                            format!("{}: {} -> {}", shown(path), cut_value(old), cut_value(new))
                        }
                    })
                    .collect();
                writeln!(
                    out,
                    "{}  {}  {}  {}  {}",
                    output::pad(&e.stream_version.to_string(), 8),
                    output::pad(&e.global_position.map_or("-".into(), |p| p.to_string()), 10),
                    output::pad(time.as_deref().unwrap_or("?"), 24),
                    output::pad(&output::clip(&e.event_type, 24), 24),
                    if what.is_empty() {
                        "(no change)".to_string()
                    } else {
                        what.join("; ")
                    }
                )?;
            }
            f => {
                let line = serde_json::json!({
                    "stream_version": e.stream_version,
                    "global_position": e.global_position,
                    "event_type": e.event_type,
                    "recorded_at": time,
                    "changes": changes,
                });
                if f == FormatArg::Json {
                    out.write_all(if self.steps == 0 { b"[\n" } else { b",\n" })?;
                }
                serde_json::to_writer(&mut *out, &line)
                    .map_err(|e| CliError::Failed(e.to_string()))?;
                if f == FormatArg::Jsonl {
                    writeln!(out)?;
                }
            }
        }
        self.steps += 1;
        Ok(())
    }

    /// Close what the format opened (the JSON array).
    fn finish(&mut self, out: &mut dyn Write) -> Result<(), CliError> {
        if self.format == FormatArg::Json {
            writeln!(out, "{}", if self.steps == 0 { "[]" } else { "\n]" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20 MB value in a table line is cut, and the line says how much was left out.
    #[test]
    fn huge_values_are_cut_in_tables_and_say_how_much() {
        let huge = serde_json::Value::String("7".repeat(20_000_000));
        let shown = cut_value(&huge);
        assert!(shown.chars().count() < 300, "{}", shown.len());
        assert!(
            shown.contains("(19999802 more characters; --format json has it whole)"),
            "{shown}"
        );
        // Escape sequences from the store never reach the terminal.
        let hostile = serde_json::json!({"x": "\u{1b}[2J\u{1b}]0;owned\u{7}"});
        assert!(!cut_value(&hostile).contains('\u{1b}'));
        let mut rows = Vec::new();
        state_rows(
            &serde_json::json!({"a": huge, "b": [1, {}]}),
            &mut Vec::new(),
            &mut rows,
        );
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r[1].chars().count() < 300));
        assert_eq!(rows[1], [".b[0]", "1"]);
        assert_eq!(rows[2][1], "{}");
    }
}
