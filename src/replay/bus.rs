//! The dry run's look at the bus: which JetStream stream will receive the replay, with its
//! duplicate window, or why none can.

use serde::Serialize;

use super::range::Plan;
use super::sink::{self, SinkErrorKind, SinkSpec};

/// What the bus says about the subject of the plan's first event: the stream that will
/// receive the replay and its duplicate window, or the problem (none, unreachable).
#[derive(Debug, Serialize)]
pub struct BusCheck {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_window_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The replay cannot start (no stream for the subject, the bus unreachable).
    #[serde(skip)]
    pub fatal: bool,
}

pub async fn check_bus(spec: &SinkSpec, plan: &Plan) -> Option<BusCheck> {
    let SinkSpec::Nats { url, subject } = spec else {
        return None;
    };
    let first = plan.first.as_ref()?;
    let t = sink::Template::parse(subject).ok()?;
    let e = crate::store::Event {
        global_position: first.global_position,
        stream_id: first.stream_id.clone(),
        stream_version: first.stream_version,
        event_id: first.event_id.clone(),
        event_type: first.event_type.clone(),
        data: serde_json::Value::Null,
        metadata: serde_json::Value::Null,
        recorded_at: first.recorded_at,
        exact: None,
        problems: vec![],
    };
    let subject = t.render(&e, "job");
    Some(match sink::nats_target(url, &subject).await {
        Ok((stream, window)) => BusCheck {
            subject,
            stream: Some(stream),
            duplicate_window_secs: Some(window.as_secs_f64()),
            problem: None,
            fatal: false,
        },
        Err(e) => BusCheck {
            subject,
            stream: None,
            duplicate_window_secs: None,
            fatal: true,
            problem: Some(match e.kind {
                SinkErrorKind::Unavailable => format!("the bus cannot be reached: {e}"),
                _ => e.message,
            }),
        },
    })
}

impl BusCheck {
    /// "JetStream stream S captures SUBJECT; duplicate window 2m00s", or Err(the problem).
    pub fn describe(&self) -> Result<String, String> {
        match (&self.stream, &self.problem) {
            (Some(s), _) => Ok(format!(
                "JetStream stream {s} captures {}; duplicate window {}",
                self.subject,
                crate::output::human_secs(self.duplicate_window_secs.unwrap_or(0.0))
            )),
            (None, p) => Err(p.clone().unwrap_or_default()),
        }
    }
}
