//! Tests of the reducers: folds, errors, the columns read, matching.
use super::*;
use serde_json::json;

pub fn ev(stream: &str, version: i64, ty: &str, data: Value) -> Event {
    Event {
        global_position: Some(version),
        stream_id: stream.into(),
        stream_version: version,
        event_id: format!("e-{version}"),
        event_type: ty.into(),
        data,
        metadata: json!({"user": "t"}),
        recorded_at: Some(format!("2024-01-{:02}T00:00:00Z", version).parse().unwrap()),
        exact: None,
        problems: vec![],
    }
}

fn fold_all(f: &Fold, events: &[Event]) -> Result<Value, FoldError> {
    let mut s = f.start(&f.initial());
    for e in events {
        s = f.apply(s, e)?;
    }
    Ok(s.to_json())
}

#[test]
fn the_seed_bank_account_folds_to_1500() {
    let r = Reducers::parse(
        include_str!("../../../fixtures/reducers/seeds.toml"),
        "seeds",
    )
    .unwrap();
    let s = "conta-1";
    let events = [
        ev(
            s,
            1,
            "ContaCriada",
            json!({"titularId": "123", "saldoInicial": 1000.00}),
        ),
        ev(
            s,
            2,
            "DepositoRealizado",
            json!({"valor": 500.00, "origem": "TED"}),
        ),
        ev(
            s,
            3,
            "SaqueRealizado",
            json!({"valor": 200.00, "local": "ATM"}),
        ),
        ev(
            s,
            4,
            "DepositoRealizado",
            json!({"valor": 200.00, "origem": "PIX"}),
        ),
    ];
    let state = fold_all(&r.fold_for(s), &events).unwrap();
    assert_eq!(state["saldo"].as_f64(), Some(1500.0), "{state}");
    assert_eq!(state["titularId"], "123");
    let p = "pagamento-9";
    let events = [
        ev(p, 1, "PagamentoCriado", json!({"valor": 100})),
        ev(p, 2, "PagamentoConfirmado", json!({})),
        ev(p, 3, "PagamentoEstornado", json!({})),
    ];
    let state = fold_all(&r.fold_for(p), &events).unwrap();
    assert_eq!(state["status"], "estornado", "{state}");
    assert_eq!(state["valor"], 100);
}

#[test]
fn the_demo_reducers_fold_accounts_like_the_demo_generator() {
    let r = Reducers::demo();
    let s = "account-0001";
    let events = [
        ev(
            s,
            1,
            "AccountOpened",
            json!({"owner": "Ana", "currency": "BRL"}),
        ),
        ev(s, 2, "Deposited", json!({"amount": 100})),
        ev(s, 3, "Withdrawn", json!({"amount": 30})),
        ev(s, 4, "AccountClosed", json!({"reason": "x"})),
    ];
    let state = fold_all(&r.fold_for(s), &events).unwrap();
    assert_eq!(state, crate::demo::account_state("Ana", 70, false));
}

#[test]
fn the_merge_fold_stops_at_unreadable_data_and_ignores_null_data() {
    let fold = Fold::Merge;
    let ev = |v: i64, data: Value, problems: Vec<crate::store::problem::Problem>| Event {
        global_position: Some(v),
        stream_id: "a-1".into(),
        stream_version: v,
        event_id: format!("e{v}"),
        event_type: "T".into(),
        data,
        metadata: Value::Null,
        recorded_at: None,
        exact: None,
        problems,
    };
    let mut state = State::Json(json!({}));
    fold.apply_mut(
        &mut state,
        &ev(1, json!({"owner": "Ana", "amount": 1}), vec![]),
    )
    .unwrap();
    // NULL data, as a row gives it (flagged): changes nothing.
    fold.apply_mut(
        &mut state,
        &ev(2, Value::Null, vec![crate::store::db::null_data()]),
    )
    .unwrap();
    let bad = ev(
        3,
        Value::String("{\"amount\": 5".into()),
        vec![crate::store::problem::Problem::new(
            "data",
            crate::store::problem::ProblemKind::InvalidJson,
            "data is not valid JSON (EOF while parsing)".into(),
        )],
    );
    let err = fold.apply_mut(&mut state, &bad).unwrap_err();
    assert_eq!(err.stream_version, 3);
    assert!(
        matches!(&err.cause, StepError::Unreadable(p) if p.contains("not valid JSON")),
        "{}",
        err.cause
    );
    let State::Json(v) = &state else {
        panic!("a JSON state")
    };
    assert_eq!(v, &json!({"owner": "Ana", "amount": 1}));
    assert!(fold.apply(state, &bad).is_err());
}

#[test]
fn default_fold_merges_data() {
    let f = Reducers::default().fold_for("anything-1");
    let events = [
        ev("x-1", 1, "A", json!({"a": 1, "b": {"c": 2}})),
        ev("x-1", 2, "B", json!({"b": {"c": null, "d": 3}, "e": [1]})),
    ];
    assert_eq!(
        fold_all(&f, &events).unwrap(),
        json!({"a": 1, "b": {"d": 3}, "e": [1]})
    );
}

fn one(text: &str) -> Fold {
    Reducers::parse(text, "t").unwrap().fold_for("acc-1")
}

#[test]
fn unknown_types_skip_merge_or_stop_the_fold() {
    let base = "[[reducer]]\nmatch = \"acc\"\ninitial = { n = 0 }\nunknown = \"UNK\"\n[reducer.on]\nInc = '.n += 1'\n";
    let events = [
        ev("acc-1", 1, "Inc", json!({})),
        ev("acc-1", 2, "Other", json!({"x": 1})),
        ev("acc-1", 3, "Inc", json!({})),
    ];
    assert_eq!(
        fold_all(&one(&base.replace("UNK", "skip")), &events).unwrap(),
        json!({"n": 2})
    );
    assert_eq!(
        fold_all(&one(&base.replace("UNK", "merge")), &events).unwrap(),
        json!({"n": 2, "x": 1})
    );
    let e = fold_all(&one(&base.replace("UNK", "error")), &events).unwrap_err();
    assert_eq!(
        (e.stream_version, e.event_type.as_str(), e.filter.as_deref()),
        (2, "Other", None)
    );
    // "*" covers what is not named.
    let star = format!(
        "{}\"*\" = '.other = $event.type'\n",
        base.replace("UNK", "error")
    );
    assert_eq!(
        fold_all(&one(&star), &events).unwrap(),
        json!({"n": 2, "other": "Other"})
    );
}

#[test]
fn a_failing_filter_stops_at_its_event_with_the_filter_and_the_error() {
    let f = one(
        "[[reducer]]\nmatch = \"acc\"\nunknown = \"error\"\n[reducer.on]\nA = '.x = 1'\nB = '.x += $event.data.s'\n",
    );
    let events = [
        ev("acc-1", 1, "A", json!({})),
        ev("acc-1", 2, "B", json!({"s": "text"})),
    ];
    let mut s = f.start(&f.initial());
    s = f.apply(s, &events[0]).unwrap();
    let before = s.to_json();
    let e = f.apply(s, &events[1]).unwrap_err();
    assert_eq!(e.stream_version, 2);
    assert_eq!(e.filter.as_deref(), Some(".x += $event.data.s"));
    let StepError::Run(run) = &e.cause else {
        panic!("a run error: {:?}", e.cause)
    };
    assert_eq!(run.kind, crate::jq::RunErrorKind::Raised);
    assert!(
        run.message.contains("cannot") || run.message.contains("add"),
        "{}",
        run.message
    );
    assert_eq!(
        before,
        json!({"x": 1}),
        "the state before the failure stays available"
    );
    // Empty and multiple outputs are errors too.
    let f = one(
        "[[reducer]]\nmatch = \"acc\"\nunknown = \"error\"\n[reducer.on]\nA = 'empty'\nB = '., .'\n",
    );
    assert_eq!(
        f.apply(f.start(&json!({})), &events[0]).unwrap_err().cause,
        StepError::NoState
    );
    assert_eq!(
        f.apply(f.start(&json!({})), &events[1]).unwrap_err().cause,
        StepError::ManyStates
    );
}

#[test]
fn event_fields_are_bound() {
    let f = one(
        "[[reducer]]\nmatch = \"acc-*\"\nunknown = \"error\"\n[reducer.on]\nA = '{t: $event.type, v: $event.version, p: $event.position, at: $event.time, s: $event.stream, u: $event.metadata.user}'\n",
    );
    let out = f
        .apply(f.start(&json!({})), &ev("acc-1", 7, "A", json!({})))
        .unwrap()
        .to_json();
    assert_eq!(
        out,
        json!({"t": "A", "v": 7, "p": 7, "at": "2024-01-07T00:00:00Z", "s": "acc-1", "u": "t"})
    );
}

#[test]
fn the_columns_read_are_what_some_program_uses() {
    let cols = |on: &str| {
        Reducers::parse(
            &format!("[[reducer]]\nmatch = \"a\"\nunknown = \"skip\"\n[reducer.on]\n{on}\n[[reducer]]\nmatch = \"b\"\nunknown = \"merge\"\n[reducer.on]\nX = '.'\n"),
            "test",
        )
        .unwrap()
        .columns()
    };
    let none = crate::store::Columns {
        position: false,
        id: false,
        metadata: false,
        time: false,
    };
    assert_eq!(cols("A = '.n += $event.data.n'"), none);
    assert_eq!(
        cols("A = '.at = $event.time'\nB = '.by = $event.metadata.user'"),
        crate::store::Columns {
            time: true,
            metadata: true,
            ..none
        }
    );
    assert_eq!(
        cols("\"*\" = '.last = $event.id | .p = $event.position'"),
        crate::store::Columns {
            id: true,
            position: true,
            ..none
        }
    );
    assert_eq!(cols("A = '.e = $event'"), crate::store::Columns::ALL);
    // No reducer file: the merge fold reads the data only.
    assert_eq!(Reducers::default().columns(), none);
}

#[test]
fn only_the_event_fields_a_program_reads_are_built() {
    let read = |src: &str| {
        let f = EventFields::read_by(src);
        EVENT_FIELDS
            .iter()
            .filter(|n| f.has(n))
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(read(".balance += $event.data.amount"), ["data"]);
    assert_eq!(
        read(".x = $event.type | .at = $event.time | .n = $event.data.n"),
        ["type", "data", "time"]
    );
    assert_eq!(read(". + {v: $event.version, u: $event.nope}"), ["version"]);
    assert!(read(".").is_empty());
    // Any other use of $event reads every field.
    for src in [
        ".e = $event",
        "$event | keys",
        "{$event}",
        ".m = $event[\"metadata\"]",
        ".m = $event.\"metadata\"",
        ".m = $event?.metadata",
        "def f: $event; f.metadata",
    ] {
        assert_eq!(EventFields::read_by(src), EventFields::ALL, "{src}");
    }
    // Another variable that starts alike is not $event.
    assert!(read("$events | .x = $event.id").contains(&"id"));
    // What a program sees does not depend on the fields left out.
    let e = ev("acc-1", 3, "A", json!({"n": 2}));
    for src in [".x = $event.data.n", "[$event.type, $event.metadata.user]"] {
        let p = Program::compile(src).unwrap();
        assert_eq!(
            p.run_on(Val::obj(Default::default()), &e).unwrap(),
            p.run(
                Val::obj(Default::default()),
                event_val(&e, EventFields::ALL)
            )
            .unwrap(),
            "{src}"
        );
    }
}

#[test]
fn bad_reducer_files_are_refused_with_a_reason() {
    for (text, want) in [
        ("[[reducer]]\nmatch = \"a\"\n", "unknown"),
        (
            "[[reducer]]\nmatch = \"a\"\nunknown = \"maybe\"\n",
            "unknown",
        ),
        (
            "[[reducer]]\nmatch = \"a\"\nunknown = \"skip\"\n[reducer.on]\nA = '.x +'\n",
            "A",
        ),
        (
            "[[reducer]]\nmatch = \"a\"\nunknown = \"skip\"\n[reducer.on]\nA = '$nope'\n",
            "A",
        ),
        (
            "[[reducer]]\nmatch = \"a\"\nunknown = \"skip\"\nignore = [\"nodot\"]\n",
            "ignore",
        ),
        (
            "[[reducer]]\nmatch = \"a\"\nunknown = \"skip\"\ncolour = 1\n",
            "colour",
        ),
    ] {
        let e = Reducers::parse(text, "f.toml").unwrap_err();
        assert!(matches!(e, ReducerError::Invalid { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains(want) && e.starts_with("f.toml"), "{text}: {e}");
    }
}

#[test]
fn patterns_are_categories_or_globs() {
    assert!(pattern_matches("account", "account-1"));
    assert!(pattern_matches("account", "account"));
    assert!(!pattern_matches("account", "accounts-1"));
    assert!(pattern_matches("account-*", "account-1"));
    assert!(pattern_matches("*-1", "account-1"));
    assert!(pattern_matches("a*t-*", "account-9"));
    assert!(pattern_matches("*", "x"));
    assert!(!pattern_matches("pay*", "account-1"));
}

#[test]
fn reducers_are_found_by_id_then_stream_type_then_first_event_then_handled_types() {
    let r = Reducers::parse(
        "[[reducer]]\nname = \"by-id\"\nmatch = \"acct\"\nunknown = \"skip\"\n\
         [[reducer]]\nname = \"by-type\"\nstream_type = \"bank:Account*\"\nunknown = \"skip\"\n\
         [[reducer]]\nname = \"by-first\"\nfirst_event = [\"Opened\", \"Legacy*\"]\nunknown = \"skip\"\n\
         [[reducer]]\nname = \"by-handler\"\nunknown = \"skip\"\n[reducer.on]\nCreated = '.'\n\"*\" = '.'\n",
        "t",
    )
    .unwrap();
    let facts = |t: Option<&str>, first: Option<&str>| StreamFacts {
        stream_type: t.map(str::to_string),
        first_type: first.map(str::to_string),
    };
    let name =
        |stream: &str, f: StreamFacts| r.choose(stream, &f).map(|(r, m)| (r.name.clone(), m));
    assert_eq!(
        name("acct-1", facts(Some("bank:Account"), Some("Opened"))),
        Some(("by-id".into(), MatchedBy::Pattern))
    );
    assert_eq!(
        name("x1", facts(Some("bank:AccountV2"), Some("Opened"))),
        Some(("by-type".into(), MatchedBy::StreamType))
    );
    assert_eq!(
        name("x1", facts(Some("other"), Some("LegacyOpened"))),
        Some(("by-first".into(), MatchedBy::FirstEvent))
    );
    assert_eq!(
        name("x1", facts(None, Some("Created"))),
        Some(("by-handler".into(), MatchedBy::Handles))
    );
    // `*` is no handler of a type: a stream that starts with anything else has none.
    assert_eq!(name("x1", facts(None, Some("Whatever"))), None);
    assert_eq!(name("x1", StreamFacts::default()), None);
    assert!(r.uses_stream_type());
    let forced = r.clone().force("by-first").unwrap();
    assert_eq!(
        forced
            .choose("acct-1", &StreamFacts::default())
            .map(|(r, m)| (r.name.as_str(), m)),
        Some(("by-first", MatchedBy::Named))
    );
    let err = r.force("nope").unwrap_err();
    assert!(matches!(err, ReducerError::NoSuchReducer { .. }), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("by-id, by-type, by-first, by-handler"),
        "{err}"
    );
}

/// The fast path's `$event` lookups in the event itself give what a lookup in the built
/// `$event` gives, for every path shape: a present, missing or nested key, null on the way,
/// an index into a scalar (an error both ways), a field not built, numbers only the stored
/// text holds exactly.
#[test]
fn lazy_event_lookups_are_lookups_in_the_built_event() {
    use bytes::Bytes;
    use fast::EventSource;
    let mut plain = ev(
        "account-1",
        3,
        "Deposited",
        json!({"amount": 5, "n": {"x": [1, 2], "y": null, "z": 1.5}, "s": "t", "big": 18446744073709551615u64}),
    );
    plain.metadata = json!({"user": {"id": 7}, "k": null});
    let text = r#"{"amount": 123456789012345678901234567890.5, "n": {"x": 1e400}}"#;
    let (data, kept) = crate::exact::parse(text).unwrap();
    let mut inexact = ev("account-1", 4, "Withdrawn", data);
    inexact.exact = Some(std::sync::Arc::new(crate::store::model::Exact {
        data: kept,
        ..Default::default()
    }));
    assert!(inexact.data_text().is_some());
    let paths: &[&[&str]] = &[
        &[],
        &["data"],
        &["data", "amount"],
        &["data", "missing"],
        &["data", "n", "x"],
        &["data", "n", "y", "deeper"],
        &["data", "n", "z"],
        &["data", "s", "into a string"],
        &["data", "n", "x", "into an array"],
        &["data", "big"],
        &["metadata", "user", "id"],
        &["metadata", "k", "x"],
        &["type"],
        &["type", "x"],
        &["version"],
        &["position"],
        &["time"],
        &["stream"],
        &["id"],
        &["nofield"],
        &["nofield", "x"],
    ];
    for e in [&plain, &inexact] {
        for reads in [
            EventFields::ALL,
            EventFields::read_by("$event.data.amount"),
            EventFields::read_by("$event.type"),
        ] {
            let built = event_val(e, reads);
            for p in paths {
                let path: Vec<Bytes> = p.iter().map(|k| Bytes::from(k.to_string())).collect();
                let lazy = LazyEvent { e, reads }.at(&path);
                let want = built.at(&path);
                assert_eq!(
                    lazy.as_ref().map(|v| v.to_string()),
                    want.as_ref().map(|v| v.to_string()),
                    "{p:?} with {reads:?} of event {}",
                    e.stream_version
                );
            }
        }
    }
}
