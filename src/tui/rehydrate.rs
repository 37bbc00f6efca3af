//! The time-travel view's worker: a task that owns the stream's [`Timeline`] and answers
//! stepping commands in order, so that `update` never awaits. Stale answers are dropped by
//! request id in the app.

use std::path::PathBuf;

use serde_json::Value;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::app::Msg;
use crate::rehydrate::diff::Change;
use crate::rehydrate::reducer::Reducers;
use crate::rehydrate::timeline::{Step, Timeline};
use crate::store::Store;

#[derive(Debug, Clone)]
pub enum Cmd {
    Forward,
    Back,
    Start,
    End,
    Goto(i64),
    AsOf(chrono::DateTime<chrono::Utc>),
    /// Reload the reducer file and refold to the current version.
    Reload,
}

/// What the view shows: the step, with the lines of the state built once.
#[derive(Debug, Clone)]
pub struct Shown {
    pub step: Step,
    pub first_version: i64,
    pub last_version: i64,
    pub fold_name: String,
    /// Paths changed by the step (for highlighting in the state).
    pub changed: Vec<String>,
}

/// Where the reducers come from, so that `r` can reload them.
#[derive(Debug, Clone)]
pub enum ReducerSource {
    File(PathBuf),
    Demo,
    None,
}

impl ReducerSource {
    pub fn load(&self) -> Result<Reducers, String> {
        match self {
            ReducerSource::File(p) => Reducers::load(p),
            ReducerSource::Demo => Ok(Reducers::demo()),
            ReducerSource::None => Ok(Reducers::default()),
        }
    }
}

pub struct Worker {
    pub tx: UnboundedSender<(u64, Cmd)>,
}

/// Start a worker for one stream; it stops when the view drops its sender.
pub fn start(
    store: Store,
    stream: String,
    source: ReducerSource,
    at: Option<i64>,
    id: u64,
    app: UnboundedSender<Msg>,
) -> Worker {
    let (tx, rx) = unbounded_channel();
    tokio::spawn(run(store, stream, source, at, id, rx, app));
    Worker { tx }
}

async fn run(
    store: Store,
    stream: String,
    source: ReducerSource,
    at: Option<i64>,
    first_id: u64,
    mut rx: UnboundedReceiver<(u64, Cmd)>,
    app: UnboundedSender<Msg>,
) {
    let reply = |id: u64, r: Result<Shown, String>| {
        let _ = app.send(Msg::Step {
            id,
            result: r.map(Box::new),
        });
    };
    let reducers = match source.load() {
        Ok(r) => r,
        Err(e) => return reply(first_id, Err(e)),
    };
    let mut t = match Timeline::open(store.clone(), &stream, reducers.fold_for(&stream)).await {
        Ok(t) => t,
        Err(e) => return reply(first_id, Err(e.to_string())),
    };
    let progress_tx = app.clone();
    t.progress = Some(std::sync::Arc::new(move |version, target| {
        let _ = progress_tx.send(Msg::FoldProgress { version, target });
    }));
    let shown = |t: &Timeline, step: Step| Shown {
        changed: step
            .changes
            .iter()
            .map(|c: &Change| c.path().to_string())
            .collect(),
        step,
        first_version: t.first_version,
        last_version: t.last_version,
        fold_name: t.fold.name(),
    };
    let first = t
        .goto(at.unwrap_or(t.last_version))
        .await
        .map(|s| shown(&t, s))
        .map_err(|e| e.to_string());
    reply(first_id, first);
    while let Some((id, cmd)) = rx.recv().await {
        // Only the newest command matters: skip those already superseded in the queue.
        let (mut id, mut cmd) = (id, cmd);
        while let Ok((i, c)) = rx.try_recv() {
            (id, cmd) = (i, c);
        }
        let result = match cmd {
            Cmd::Forward => t.forward().await,
            Cmd::Back => t.back().await,
            Cmd::Start => t.start().await,
            Cmd::End => t.end().await,
            Cmd::Goto(v) => t.goto(v).await,
            Cmd::AsOf(time) => t.as_of(time).await,
            Cmd::Reload => {
                let version = t
                    .current
                    .as_ref()
                    .and_then(|s| s.version)
                    .unwrap_or(t.first_version - 1);
                match source.load() {
                    Err(e) => {
                        reply(id, Err(e));
                        continue;
                    }
                    Ok(r) => {
                        match Timeline::open(store.clone(), &stream, r.fold_for(&stream)).await {
                            Ok(mut nt) => {
                                nt.progress = t.progress.take();
                                t = nt;
                                t.goto(version).await
                            }
                            Err(e) => Err(e),
                        }
                    }
                }
            }
        };
        reply(id, result.map(|s| shown(&t, s)).map_err(|e| e.to_string()));
    }
}

/// The value at a rendered path (`.a.b[2]`), for showing old/new next to the state.
pub fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let segs = crate::rehydrate::diff::parse_path(path).ok()?;
    let mut cur = v;
    for s in segs {
        cur = match s {
            crate::rehydrate::diff::Segment::Key(k) => cur.get(&k)?,
            crate::rehydrate::diff::Segment::Index(i) => cur.get(i)?,
            _ => return None,
        };
    }
    Some(cur)
}
