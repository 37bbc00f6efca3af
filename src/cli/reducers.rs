//! `evscope reducers init`: a starting reducer file for the store at hand.
//!
//! One reducer per stream type (where the store records one) or per category, each with every
//! event type seen under it, a sample payload in a comment, and a merge program to edit. The
//! output parses as a reducer file (tested).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{Cli, CliError, FormatArg, fmt, open};
use crate::store::{Direction, Event, LogQuery, Start, Store, category};

#[derive(Debug, Args)]
pub struct ReducersArgs {
    #[command(subcommand)]
    pub command: ReducersCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReducersCommand {
    /// Write a starting reducer file for this store to standard output
    #[command(
        after_help = "Example:\n  evscope --db postgres://... reducers init > reducers.toml\n  evscope --db postgres://... --reducers reducers.toml verify-snapshots"
    )]
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Read at most this many events of the log (from its start) to find the types
    #[arg(long, default_value_t = 100_000)]
    pub max_events: u64,
    /// table: the reducer file (TOML); json: what was found, one document; jsonl: one
    /// object per group of streams
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

/// What a group of streams (one stream type, or one category) was seen with.
#[derive(Default)]
struct Group {
    /// `stream_type = ...` (true) or `match = ...` (a category).
    by_type: bool,
    streams: u64,
    /// Event type -> (count, a sample payload).
    types: BTreeMap<String, (u64, Value)>,
}

pub async fn run(cli: &Cli, a: &ReducersArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let ReducersCommand::Init(init) = &a.command;
    let store = open(cli).await?;
    let (groups, read, more) = survey(&store, init.max_events).await?;
    if init.format == FormatArg::Table {
        out.write_all(render(&store, &groups, read, more).as_bytes())?;
        return Ok(());
    }
    // What the file is made from, for scripts: each group of streams with its types.
    let found: Vec<Value> = groups
        .iter()
        .map(|(key, g)| {
            let (by, name) = key.split_once(':').unwrap_or(("category", key));
            serde_json::json!({
                "group": name,
                "by": if g.by_type { "stream_type" } else { by },
                "streams": g.streams,
                "types": g.types.iter().map(|(t, (n, sample))| serde_json::json!({
                    "type": t, "count": n, "sample": sample,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    if init.format == FormatArg::Jsonl {
        crate::output::write_json(out, &found, fmt(init.format))?;
    } else {
        let doc = serde_json::json!({"groups": found, "events_read": read, "more": more});
        crate::output::write_doc(out, &doc, fmt(init.format))?;
    }
    Ok(())
}

/// Read the log (up to `max` events) and group what it holds by stream type or category.
async fn survey(store: &Store, max: u64) -> Result<(BTreeMap<String, Group>, u64, bool), CliError> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    // Stream -> its group's key (chosen at its first event seen).
    let mut of_stream: HashMap<String, String> = HashMap::new();
    let table_type = matches!(
        store.layout().stream_type,
        Some(crate::store::layout::StreamType::Table { .. })
    );
    let mut q = LogQuery {
        limit: 5_000,
        direction: Direction::Forward,
        start: Start::End,
        ..Default::default()
    };
    let mut read = 0u64;
    loop {
        let page = store.read_log(&q).await?;
        let full = page.len() as u32 == q.limit;
        for e in &page {
            if read >= max {
                return Ok((groups, read, true));
            }
            read += 1;
            let key = match of_stream.get(&e.stream_id) {
                Some(k) => k.clone(),
                None => {
                    let key = group_key(store, e, table_type).await?;
                    of_stream.insert(e.stream_id.clone(), key.clone());
                    let g = groups.entry(key.clone()).or_default();
                    g.by_type = key.starts_with("type:");
                    g.streams += 1;
                    key
                }
            };
            let g = groups.entry(key).or_default();
            let t = g
                .types
                .entry(e.event_type.clone())
                .or_insert_with(|| (0, e.data.clone()));
            t.0 += 1;
        }
        match page.last() {
            Some(e) if full => q.start = Start::After(e.cursor()),
            _ => return Ok((groups, read, false)),
        }
    }
}

/// `type:T` for a stream the store records a type for, else `category:C`.
async fn group_key(store: &Store, e: &Event, table_type: bool) -> Result<String, CliError> {
    let mut t = store.facts_of_first(e).stream_type;
    if t.is_none() && table_type {
        t = store.recorded_stream_type(&e.stream_id).await?;
    }
    Ok(match t {
        Some(t) => format!("type:{t}"),
        None => format!("category:{}", category(&e.stream_id)),
    })
}

/// A TOML basic string (also a valid key): `"`, `\\` and control characters escaped.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A short reducer name from a type or category: the part after the last `:` or `.`.
fn short_name(key: &str) -> String {
    let tail = key.rsplit([':', '.']).next().unwrap_or(key);
    let name: String = tail
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "stream".into()
    } else {
        name
    }
}

/// A sample payload for a comment: compact JSON on one line, cut.
fn sample(v: &Value) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > 160 {
        s = s.chars().take(160).collect::<String>() + "…";
    }
    s.replace(['\n', '\r'], " ")
}

fn render(store: &Store, groups: &BTreeMap<String, Group>, read: u64, more: bool) -> String {
    let mut out = String::new();
    let l = store.layout();
    out.push_str(&format!(
        "# Reducers for {} (layout {}), written by `evscope reducers init`.\n",
        store.url(),
        l.name
    ));
    out.push_str(&format!(
        "# From {read} event(s) of the log{}.\n",
        if more {
            " (its start only: --max-events stopped the read; types seen later are missing)"
        } else {
            ""
        }
    ));
    out.push_str(
        "# Each program maps the state (.) to the next one, with the event as $event (type, data,\n\
         # metadata, version, position, time, stream, id). Every one below merges the event's\n\
         # data into the state: edit it to what the event means, e.g. '.balance += $event.data.amount'.\n\
         # unknown = \"error\" stops a fold at a type no program names.\n",
    );
    if groups.is_empty() {
        out.push_str("# The log is empty: no reducer to start from.\n");
    }
    let mut names: HashMap<String, u32> = HashMap::new();
    for (key, g) in groups {
        let value = key.split_once(':').map_or(key.as_str(), |(_, v)| v);
        let mut name = short_name(value);
        let n = names.entry(name.clone()).or_default();
        *n += 1;
        if *n > 1 {
            name = format!("{name}-{n}");
        }
        out.push('\n');
        out.push_str(&format!(
            "# {} stream(s) of {} {value}\n",
            g.streams,
            if g.by_type { "type" } else { "category" }
        ));
        out.push_str("[[reducer]]\n");
        out.push_str(&format!("name = {}\n", toml_str(&name)));
        if g.by_type {
            out.push_str(&format!("stream_type = {}\n", toml_str(value)));
        } else {
            out.push_str(&format!("match = {}\n", toml_str(value)));
        }
        out.push_str("initial = {}\nunknown = \"error\"\n[reducer.on]\n");
        for (ty, (count, data)) in &g.types {
            out.push_str(&format!("# {count} event(s), e.g. {}\n", sample(data)));
            out.push_str(&format!("{} = '. + $event.data'\n", toml_str(ty)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_strings_are_safe_in_toml() {
        assert_eq!(short_name("bankapp:BankAccount"), "BankAccount");
        assert_eq!(short_name("Elixir.Bank.Account"), "Account");
        assert_eq!(short_name("account"), "account");
        assert_eq!(toml_str("a\"b'c"), "\"a\\\"b'c\"");
        // Whatever a type is called, the generated file parses, with the type as its key.
        let ty = "x\"y\\z\n'w";
        let text = format!(
            "[[reducer]]\nname = {}\nmatch = \"a\"\nunknown = \"error\"\n[reducer.on]\n{} = '. + $event.data'\n",
            toml_str("n\"1"),
            toml_str(ty)
        );
        let r = crate::rehydrate::reducer::Reducers::parse(&text, "t").unwrap();
        assert!(r.reducers[0].handles(ty), "{text}");
        assert!(!sample(&serde_json::json!({"a": "x\ny"})).contains('\n'));
    }
}
