//! `wasmano watch`: a live timeline from the server's event stream
//! (`/wasmano/v1/events`): each operation as it starts and ends, and the
//! steps its run journaled, one line each, until interrupted. `--json`
//! prints each event's data instead.

use std::process::ExitCode;

use clap::Args as ClapArgs;
use serde_json::Value;

use super::client::Connection;
use super::output::outln;
use super::{Failure, exit};

/// Arguments of `wasmano watch`.
#[derive(Debug, ClapArgs)]
pub struct WatchArgs {
    /// Only the events of this NS instance.
    #[arg(long, value_name = "ID")]
    ns: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

/// One Server-Sent Event as it is being read.
#[derive(Debug, Default)]
struct Event {
    kind: String,
    data: String,
}

pub fn watch(args: WatchArgs) -> Result<ExitCode, Failure> {
    let client = args.connection.client()?;
    let path = match &args.ns {
        Some(ns) => format!("/wasmano/v1/events?nsInstanceId={ns}"),
        None => "/wasmano/v1/events".to_owned(),
    };
    let mut event = Event::default();
    for line in client.lines(&path)? {
        let line = line.map_err(|error| Failure::new(exit::UNAVAILABLE, format!("the event stream broke: {error}")))?;
        if line.is_empty() {
            if !event.kind.is_empty() {
                show(&event, args.connection.json);
            }
            event = Event::default();
        } else if let Some(kind) = line.strip_prefix("event:") {
            event.kind = kind.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            event.data.push_str(data.trim_start());
        }
    }
    Err(Failure::new(exit::UNAVAILABLE, "the server ended the event stream"))
}

/// Prints one event: its data with `--json`, else a timeline line.
fn show(event: &Event, json: bool) {
    if json {
        outln!("{}", event.data);
        return;
    }
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    let text = |name: &str| data.get(name).and_then(Value::as_str).unwrap_or("-").to_owned();
    match event.kind.as_str() {
        "lcm_op_occ" => outln!(
            "{} {} {} {} on NS instance {}",
            text("timeStamp"),
            text("lcmOperationType"),
            text("operationState"),
            text("nsLcmOpOccId"),
            text("nsInstanceId"),
        ),
        "step" => {
            let participant = super::step_participant(
                data.get("manager").and_then(Value::as_str),
                data.get("event").and_then(Value::as_str),
            );
            let hook = if participant.is_empty() {
                participant
            } else {
                format!("  {participant}")
            };
            outln!(
                "    {:<44} {:>9.3} ms  {}{hook}",
                text("step"),
                data.get("durationSeconds").and_then(Value::as_f64).unwrap_or(0.0) * 1e3,
                text("outcome"),
            );
        }
        "ns_instance" => outln!("NS instance {} {}", text("nsInstanceId"), text("change")),
        "reset" => outln!("(events were missed: the stream starts over)"),
        other => outln!("{other}: {}", event.data),
    }
}
