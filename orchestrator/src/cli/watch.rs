//! `wasmano watch`: a live timeline from the server's event stream
//! (`/wasmano/v1/events`): each operation as it starts and ends, and the
//! steps its run journaled, one line each, until interrupted. `--json`
//! prints each event's data instead.

use std::process::ExitCode;

use clap::Args as ClapArgs;
use serde_json::Value;

use super::client::{Connection, EVENTS, StreamItem};
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

pub fn watch(args: WatchArgs) -> Result<ExitCode, Failure> {
    let client = args.connection.client()?;
    let path = match &args.ns {
        Some(ns) => format!("{EVENTS}?nsInstanceId={ns}"),
        None => EVENTS.to_owned(),
    };
    for item in client.events(&path)? {
        let item = item.map_err(|error| Failure::new(exit::UNAVAILABLE, format!("the event stream broke: {error}")))?;
        if let StreamItem::Event { kind, data } = item {
            show(&kind, &data, args.connection.json);
        }
    }
    Err(Failure::new(exit::UNAVAILABLE, "the server ended the event stream"))
}

/// Prints one event: its data with `--json`, else a timeline line.
fn show(kind: &str, data: &str, json: bool) {
    if json {
        outln!("{data}");
        return;
    }
    let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let text = |name: &str| data.get(name).and_then(Value::as_str).unwrap_or("-").to_owned();
    match kind {
        "lcm_op_occ" => outln!(
            "{} {} {} {} on NS instance {}",
            text("timeStamp"),
            text("lcmOperationType"),
            text("operationState"),
            text("nsLcmOpOccId"),
            text("nsInstanceId"),
        ),
        "step" => outln!("    {}", super::step_line(&data)),
        "ns_instance" => outln!("NS instance {} {}", text("nsInstanceId"), text("change")),
        "reset" => outln!("(events were missed: the stream starts over)"),
        other => outln!("{other}: {data}"),
    }
}
