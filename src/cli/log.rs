//! Reading the log for `log` and `events`: a filtered scan written out as it goes (with its
//! progress on stderr), `--explain`, the note when `--limit` cut the output, `--follow`.

use super::*;

/// Up to `limit` matches of a scan, written a batch at a time as they are found. When the
/// limit stopped the output while more may follow, the last event written (to say so on
/// stderr, with where to continue).
pub(super) async fn write_scan<S: crate::scan::PageSource>(
    mut scan: Scan<S>,
    limit: usize,
    out: &mut dyn Write,
    format: output::Format,
) -> Result<Option<crate::store::Event>, CliError> {
    let mut left = limit;
    let mut more = true;
    let mut last = None;
    let shown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        scan = scan.on_progress(search_progress(shown.clone()));
    }
    let mut w = output::EventWriter::new(out, format);
    while left > 0 && more {
        let b = scan.next(left.min(OUTPUT_PAGE)).await?;
        left -= b.events.len();
        more = b.more();
        w.page(&b.events)?;
        if let Some(e) = b.events.last() {
            last = Some(e.clone());
        }
    }
    if shown.load(std::sync::atomic::Ordering::Relaxed) {
        eprint!("\r\x1b[2K");
    }
    w.finish()?;
    Ok(last.filter(|_| more && left == 0))
}

/// A search's progress on stderr (a terminal), once it has run for a second, at most four
/// times a second: how many rows were read and where it stands. `shown` says whether the line
/// is on the screen, to clear it at the end.
fn search_progress(
    shown: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> impl FnMut(u64, &crate::scan::Key) + Send + 'static {
    use crate::scan::Key;
    use crate::store::Cursor;
    let started = std::time::Instant::now();
    let mut said = started;
    move |rows, at| {
        let now = std::time::Instant::now();
        if now - started < std::time::Duration::from_secs(1)
            || now - said < std::time::Duration::from_millis(250)
        {
            return;
        }
        said = now;
        let at = match at {
            Key::Log(Cursor::Position(p)) => format!(", at position {p}"),
            Key::Log(Cursor::Ordered { at: Some(t), .. }) => {
                format!(", at {}", crate::store::model::format_time(t))
            }
            Key::Version(v) => format!(", at version {v}"),
            Key::Log(_) => String::new(),
        };
        let secs = (now - started).as_secs_f64();
        eprint!(
            "\r\x1b[2Ksearching: {rows} rows read in {secs:.0}s ({:.0}/s){at}…",
            rows as f64 / secs
        );
        shown.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `log --explain`: the SQL of the read (with a jq filter, the one streaming query the scan
/// reads its matches from, limited to `--limit` + 1 rows; without, its first page), the pushed
/// conditions and whether this store answers each, and the jq program that still runs on
/// every row.
pub(super) fn explain(
    store: &Store,
    mut q: LogQuery,
    jq: Option<&crate::filter::JqPredicate>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if jq.is_some() {
        q.limit = q.limit.saturating_add(1);
    }
    let (sql, pushed) = store.explain_log(&q)?;
    let program = jq.map(|j| j.source().to_string());
    if format != Format::Table {
        let doc = serde_json::json!({
            "sql": sql.text,
            "sql_with_values": sql.with_literals(),
            "pushed": pushed.iter().map(|(a, p)| serde_json::json!({
                "condition": a.to_string(),
                "pushed": p,
            })).collect::<Vec<_>>(),
            "jq": program,
        });
        return Ok(output::write_doc(out, &doc, format)?);
    }
    let what = if jq.is_some() {
        "the query the matches are read from"
    } else {
        "the first page"
    };
    writeln!(out, "SQL ({what}):\n  {}", sql.with_literals())?;
    if pushed.is_empty() {
        writeln!(out, "pushed down: nothing")?;
    }
    for (a, p) in &pushed {
        let how = if *p {
            "pushed down"
        } else {
            "not pushed (this column's type does not allow it here, or a condition before it was not)"
        };
        writeln!(out, "{how}: {}", shown(&a.to_string()))?;
    }
    match &program {
        Some(p) => writeln!(out, "jq, on every row read: {}", shown(p))?,
        None => writeln!(out, "jq: none")?,
    }
    Ok(())
}

/// The note on stderr when `--limit` cut the output: how to read on from there.
pub(super) fn say_cut(limit: usize, next: Option<i64>, backward: bool, what: &str) {
    let hint = match next {
        Some(n) if backward => format!(": continue with --from {n} --backward"),
        Some(n) => format!(": continue with --from {n}"),
        None => " (narrow with --since/--until to read on)".to_string(),
    };
    say_stopped(limit, what, &hint);
}

/// "stopped at --limit N; more WHAT may follow" and how to read on, on stderr.
pub(super) fn say_stopped(limit: impl std::fmt::Display, what: &str, hint: &str) {
    eprintln!("evscope: stopped at --limit {limit}; more {what} may follow{hint}");
}

/// `log --follow`: print what matches from the start point, then every new event as it
/// settles (through the high-water mark, so none is passed over), until Ctrl-C.
pub(super) async fn follow(
    store: &Store,
    mut q: LogQuery,
    jq: Option<crate::filter::JqPredicate>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if store.layout().position.is_none() {
        return Err(CliError::Usage(format!(
            "--follow needs a global position, and the {} layout has none",
            store.layout().name
        )));
    }
    let start = match &q.start {
        Start::At(Cursor::Position(p)) => p - 1,
        _ => store.max_position().await?.unwrap_or(0),
    };
    q.direction = Direction::Forward;
    q.start = Start::After(Cursor::Position(start));
    q.up_to = None;
    let mut hwm = crate::store::head::HighWaterMark::new(start);
    // The safe head is the scan's ceiling: it reads up to it (matching or not), then waits
    // there for the head to move.
    let mut scan = Scan::log(store.clone(), q).with_jq(jq);
    let mut header = true;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        scan.set_ceiling(hwm.advance(store).await?);
        loop {
            let b = scan.next(1000).await?;
            if !b.events.is_empty() {
                output::write_events_with(out, &b.events, format, header)?;
                header = false;
                out.flush()?;
            }
            if b.stop != Stop::Enough {
                break;
            }
        }
        // Waiting at a gap, look again soon: the held event is printed moments after it
        // commits; otherwise poll twice a second.
        let pause = if hwm.waiting_at().is_some() { 50 } else { 500 };
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(pause)) => {}
        }
    }
}
