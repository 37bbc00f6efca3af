//! Export the current view (every event that matches, not just those loaded) to a JSONL file,
//! with the same fields as `evscope log --format jsonl`.

use std::io::Write;

use crate::filter::{fetch_filtered, keep_matching};
use crate::store::{LogQuery, Start, Store, StreamRead};
use crate::tui::views::ExportScope;

/// Write every event of `scope` to `path`; the path and the count written.
pub async fn run(
    store: Store,
    scope: ExportScope,
    path: String,
) -> Result<(String, usize), String> {
    let filter = scope.query.filter;
    let jq = scope.query.jq;
    let file = std::fs::File::create(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = std::io::BufWriter::new(file);
    let mut n = 0usize;
    let mut write = |events: &[crate::store::Event]| -> Result<(), String> {
        for e in events {
            serde_json::to_writer(&mut out, e).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        n += events.len();
        Ok(())
    };
    if let Some(stream) = scope.stream {
        let mut read = StreamRead {
            limit: 1000,
            types: filter.types.clone(),
            since: filter.since,
            until: filter.until,
            ..Default::default()
        };
        loop {
            let page = store
                .read_stream(&stream, &read)
                .await
                .map_err(|e| e.to_string())?;
            let full = page.len() == 1000;
            read.after_version = page.last().map(|e| e.stream_version);
            let kept = match &jq {
                Some(p) => keep_matching(p, page).await.map_err(|e| e.to_string())?,
                None => page,
            };
            write(&kept)?;
            if !full {
                break;
            }
        }
    } else {
        let mut q = LogQuery {
            filter,
            limit: 1000,
            ..Default::default()
        };
        loop {
            let (page, full) = fetch_filtered(jq.as_ref(), q.clone(), |q| {
                let store = store.clone();
                async move { store.read_log(&q).await }
            })
            .await?;
            write(&page)?;
            match page.last() {
                Some(e) if full => q.start = Start::After(e.cursor()),
                _ => break,
            }
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok((path, n))
}
