//! The reads behind an events list: one page of the log (through the safe head when
//! following) or of a stream, each one [`Scan`] of the domain's paged, filtered read.

use crate::filter::Query;
use crate::scan::{SCAN_BUDGET, Scan};
use crate::store::head::HighWaterMark;
use crate::store::{Cursor, Direction, Event, LogQuery, Start, Store, StreamRead};
use crate::tui::widgets::window::{Anchor, Side, Want};

use super::{PAGE, RowKey};

/// A page of events for one side of the window.
pub(super) struct Page {
    pub(super) side: Side,
    pub(super) result: Result<(Vec<Event>, bool), String>,
    pub(super) hwm: Option<HighWaterMark>,
}

/// One page of the log (through the safe head when following).
pub(super) async fn read_log(
    store: Store,
    query: Query,
    want: Want<RowKey>,
    hwm: Option<HighWaterMark>,
    delay: Option<std::time::Duration>,
) -> Page {
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let cursor = |k: RowKey| match k {
        RowKey::Log(c) => c,
        RowKey::Version(v) => Cursor::Position(v),
    };
    let (side, start, direction) = match want {
        Want::Reset(Anchor::Start) => (Side::Reset, Start::End, Direction::Forward),
        Want::Reset(Anchor::End) => (Side::Reset, Start::End, Direction::Backward),
        Want::Reset(Anchor::At(k)) => (Side::Reset, Start::At(cursor(k)), Direction::Forward),
        Want::After(k) => (Side::After, Start::After(cursor(k)), Direction::Forward),
        Want::Before(k) => (Side::Before, Start::After(cursor(k)), Direction::Backward),
    };
    let mut hwm = hwm;
    let up_to = match &mut hwm {
        Some(h) => match h.advance(&store).await {
            Ok(p) => Some(p),
            Err(e) => {
                return Page {
                    side,
                    result: Err(e.to_string()),
                    hwm,
                };
            }
        },
        None => None,
    };
    let q = LogQuery {
        filter: query.filter,
        start,
        direction,
        up_to,
        ..Default::default()
    };
    let mut scan = Scan::log(store, q)
        .with_jq(query.jq)
        .with_budget(SCAN_BUDGET);
    if let Some(safe) = up_to {
        scan.set_ceiling(safe);
    }
    let result = scan
        .next(PAGE as usize)
        .await
        .map(|b| {
            let more = b.more();
            (b.events, more)
        })
        .map_err(|e| e.to_string());
    Page { side, result, hwm }
}

/// One page of a stream, by version.
pub(super) async fn read_stream(
    store: Store,
    stream: String,
    query: Query,
    want: Want<RowKey>,
) -> Result<(Vec<Event>, bool), String> {
    let version = |k: RowKey| match k {
        RowKey::Version(v) => v,
        RowKey::Log(_) => 0,
    };
    let base = StreamRead::of_filter(&query.filter);
    let read = match want {
        Want::Reset(Anchor::Start) => base,
        Want::Reset(Anchor::End) => StreamRead {
            direction: Direction::Backward,
            ..base
        },
        Want::Reset(Anchor::At(k)) => StreamRead {
            from_version: Some(version(k)),
            ..base
        },
        Want::After(k) => StreamRead {
            after_version: Some(version(k)),
            ..base
        },
        Want::Before(k) => StreamRead {
            after_version: Some(version(k)),
            direction: Direction::Backward,
            ..base
        },
    };
    Scan::stream(store, stream, read)
        .with_jq(query.jq)
        .with_budget(SCAN_BUDGET)
        .next(PAGE as usize)
        .await
        .map(|b| {
            let more = b.more();
            (b.events, more)
        })
        .map_err(|e| e.to_string())
}
