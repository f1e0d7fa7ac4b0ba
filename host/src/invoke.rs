//! One invocation: a fresh store and instance, the call, and the sorting of
//! what came back into a [`Reply`] or an [`InvocationError`].
//!
//! The guest's own answers (an error message, "not handled") are kept apart
//! from sandbox [`Fault`]s (deadline, memory budget, trap, oversized or
//! invalid reply) all the way up: the orchestrator and the CLI treat them
//! differently. A fault while the instance is created (a start function that
//! traps or loops) is the manager's fault like any other; only the host
//! running out of pool slots is the host's.
//!
//! Nothing a guest hands over is copied before it is bounded: wasmtime's
//! hostcall fuel is set to the reply cap, so lifting a reply (or any one
//! guest-to-host call, such as a log line) stops as soon as its strings and
//! list elements add up to more than the cap, whatever the guest's lengths
//! claim and however its strings alias each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tango_model::fsm::{FsmEvent, StateReply};
use tango_model::ssm::{
    EventSwitch, LinkPlacement, LinkSite, Placement, SsmEvent, VnfPlacement, VnfSwitches, WorkflowRequest,
};
use tango_model::{KeyValue, UnitEnvs};
use wasmtime::component::{ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower};
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::{fsm, fsm_exports, ssm, ssm_exports, wit_types};
use crate::contract::HOST_CONTRACT_VERSION;
use crate::engine::{EPOCH_TICK, HostInner};
use crate::event::{Event, Payload, Reply, Request};
use crate::manager::Limits;
use crate::module::{Exports, PreInstance};
use crate::priority::{Demotions, HoldsDemotion, Slice};
use crate::sandbox::{Identity, MAX_RESOURCES, Sandbox, sanitized};

/// Why an invocation produced no reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("manager {manager}, {event}: {cause}")]
pub struct InvocationError {
    /// The manager's id.
    pub manager: String,
    /// The event invoked.
    pub event: Event,
    /// What happened.
    pub cause: Cause,
}

/// What ended an invocation without a reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Cause {
    /// The manager handled the event and answered with an error.
    #[error("the manager answered an error: {message}")]
    Answered {
        /// Its message, sanitized.
        message: String,
        /// The content it answered with the error, if any.
        content: Option<Value>,
    },
    /// The manager does not handle this event.
    #[error("the manager does not handle this event")]
    NotHandled,
    /// The sandbox stopped the manager or refused its reply.
    #[error("sandbox fault: {0}")]
    Fault(Fault),
    /// The host could not run the invocation (e.g. no instance slot free):
    /// not the manager's doing.
    #[error("the host could not run the invocation: {0}")]
    Host(String),
    /// The orchestrator stopped the invocation (a forceful cancel of its
    /// operation): not the manager's doing.
    #[error("interrupted by the orchestrator")]
    Interrupted,
}

/// A sandbox fault: the manager misbehaved, whatever it meant to answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    /// The invocation ran past its deadline.
    #[error("deadline of {} ms exceeded", .deadline.as_millis())]
    Timeout {
        /// The deadline.
        deadline: Duration,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("memory cap of {limit_bytes} bytes exceeded")]
    MemoryLimit {
        /// The cap.
        limit_bytes: usize,
    },
    /// The guest trapped (a panic shows as `unreachable`).
    #[error("trap: {kind}")]
    Trap {
        /// The trap's kind, as wasmtime names it.
        kind: String,
    },
    /// The reply, or one other transfer from the guest (a log line, a WASI
    /// write), is larger than the cap: copying it stopped at the cap.
    #[error("the manager handed over more than the cap of {limit_bytes} bytes at once (a reply or a log line)")]
    ReplyTooLarge {
        /// The cap.
        limit_bytes: usize,
    },
    /// The manager's error message is longer than [`MAX_ERROR_MESSAGE_BYTES`].
    #[error("error message of {size_bytes} bytes exceeds the cap of {MAX_ERROR_MESSAGE_BYTES} bytes")]
    ErrorMessageTooLarge {
        /// The message's size.
        size_bytes: usize,
    },
    /// The component needs more than the sandbox grants one instance (core
    /// instances, memories, tables, host resources).
    #[error("beyond the sandbox's limits: {0}")]
    SandboxLimit(String),
    /// The component's exports have other types than the contract this host
    /// runs, though they carry its name and version (built against an
    /// edited or draft copy of `wit/`).
    #[error(
        "its exports do not have the types of wasmano:sm@{HOST_CONTRACT_VERSION} as this host defines them; rebuild it against this host's wit/: {0}"
    )]
    ContractMismatch(String),
    /// A legacy manager did not start, register or subscribe in time.
    #[error("did not start: {0}")]
    DidNotStart(String),
    /// The reply does not have the contract's shape (e.g. a document that is
    /// not JSON).
    #[error("invalid reply: {0}")]
    InvalidReply(String),
}

/// The longest error message a manager may answer; longer is a fault.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4 << 10;

/// Runs one request in a fresh instance of `pre`.
pub(crate) fn invoke(
    host: &HostInner,
    pre: &PreInstance,
    identity: &Arc<Identity>,
    limits: &Limits,
    request: &Request,
) -> Result<Reply, InvocationError> {
    let error = |cause| InvocationError {
        manager: identity.id.clone(),
        event: request.event,
        cause,
    };
    if request
        .interrupt
        .as_ref()
        .is_some_and(|interrupt| interrupt.load(Ordering::SeqCst))
    {
        return Err(error(Cause::Interrupted));
    }
    let mut store = new_store(host, identity, limits, request.seed, request.interrupt.clone());
    let outcome = call(&mut store, pre, request);
    store.data_mut().end_call();
    let answer = outcome.map_err(|failure| error(classify(&store, &failure, limits)))?;
    let reply = answer.map_err(|answer| {
        error(match answer {
            wit_types::ManagerError::NotHandled => Cause::NotHandled,
            wit_types::ManagerError::Failed(failure) if failure.message.len() > MAX_ERROR_MESSAGE_BYTES => {
                Cause::Fault(Fault::ErrorMessageTooLarge {
                    size_bytes: failure.message.len(),
                })
            }
            wit_types::ManagerError::Failed(failure) => match failure
                .content
                .as_deref()
                .map(|text| document(text, "the error's content"))
                .transpose()
            {
                Ok(content) => Cause::Answered {
                    message: sanitized(&failure.message),
                    content,
                },
                Err(invalid) => Cause::Fault(Fault::InvalidReply(invalid)),
            },
        })
    })?;
    reply
        .into_reply()
        .map_err(|message| error(Cause::Fault(Fault::InvalidReply(message))))
}

/// Instantiates the module and looks up every function of its contract,
/// checking each one's type, as the generated bindings do: what onboarding
/// asks of a module once, where an invocation checks only the function it
/// calls.
pub(crate) fn check_contract(
    host: &HostInner,
    pre: &PreInstance,
    identity: &Arc<Identity>,
    limits: &Limits,
) -> Result<(), Cause> {
    let mut store = new_store(host, identity, limits, 0, None);
    let instance_pre = pre.instance_pre.clone();
    let checked = match &pre.exports {
        Exports::Service { .. } => ssm::ServiceManagerModulePre::new(instance_pre)
            .and_then(|bindings| bindings.instantiate(&mut store))
            .map(drop),
        Exports::Function { .. } => fsm::FunctionManagerModulePre::new(instance_pre)
            .and_then(|bindings| bindings.instantiate(&mut store))
            .map(drop),
    };
    store.data_mut().end_call();
    checked.map_err(|error| classify(&store, &CallError::Instantiate(error), limits))
}

/// Asks a fresh instance which events the module handles (its `handles`
/// export), under the same limits as an event.
pub(crate) fn handled_events(
    host: &HostInner,
    pre: &PreInstance,
    identity: &Arc<Identity>,
    limits: &Limits,
) -> Result<Vec<Event>, Cause> {
    let mut store = new_store(host, identity, limits, 0, None);
    let outcome = instantiate(&mut store, pre).and_then(|instance| match &pre.exports {
        Exports::Service { handles, .. } => {
            let events: Vec<ssm_exports::SsmEvent> = call_export(&mut store, &instance, handles, ())?;
            Ok(events.into_iter().map(|event| Event::Ssm(ssm_event(event))).collect())
        }
        Exports::Function { handles, .. } => {
            let events: Vec<fsm_exports::FsmEvent> = call_export(&mut store, &instance, handles, ())?;
            Ok(events.into_iter().map(|event| Event::Fsm(fsm_event(event))).collect())
        }
    });
    store.data_mut().end_call();
    outcome.map_err(|failure| classify(&store, &failure, limits))
}

fn ssm_event(event: ssm_exports::SsmEvent) -> SsmEvent {
    match event {
        ssm_exports::SsmEvent::Placement => SsmEvent::Placement,
        ssm_exports::SsmEvent::Configure => SsmEvent::Configure,
        ssm_exports::SsmEvent::State => SsmEvent::State,
        ssm_exports::SsmEvent::Task => SsmEvent::Task,
        ssm_exports::SsmEvent::Monitor => SsmEvent::Monitor,
    }
}

fn fsm_event(event: fsm_exports::FsmEvent) -> FsmEvent {
    match event {
        fsm_exports::FsmEvent::Start => FsmEvent::Start,
        fsm_exports::FsmEvent::Stop => FsmEvent::Stop,
        fsm_exports::FsmEvent::Configure => FsmEvent::Configure,
        fsm_exports::FsmEvent::State => FsmEvent::State,
        fsm_exports::FsmEvent::Scale => FsmEvent::Scale,
    }
}

/// A store for one invocation: sandbox (random seeded with `seed`), memory
/// budget, transfer cap, handle cap, deadline, and the orchestrator's
/// interrupt flag if the request has one.
fn new_store(
    host: &HostInner,
    identity: &Arc<Identity>,
    limits: &Limits,
    seed: u64,
    interrupt: Option<Arc<AtomicBool>>,
) -> Store<Sandbox> {
    let mut store = Store::new(
        &host.engine,
        Sandbox::new(Arc::clone(identity), limits.memory_bytes, seed),
    );
    store.limiter(|sandbox| &mut sandbox.limiter);
    store.set_hostcall_fuel(limits.reply_bytes);
    store.set_max_component_handles(MAX_RESOURCES);
    let demotion = host.config.demote_after.zip(host.demotions.clone());
    stop_at_deadline(&mut store, interrupt, limits.deadline, demotion);
    store
}

/// The marker of an invocation stopped by its interrupt flag.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by the orchestrator")]
struct Interrupted;

/// Stops the guest once `deadline` of real time has passed, never before:
/// the epoch only wakes the check, and the clock decides. (The epoch ticker
/// catches up in bursts when it was not scheduled for a while, so counting
/// ticks alone could end a deadline a little early.) With an `interrupt`
/// flag the check runs at every tick, so the guest also stops at the first
/// tick after the flag is set. A deadline ends in a trap [`classify`]
/// reports as a timeout. A guest past its [`Slice`] of `demote_after` runs
/// the rest of the call in the idle scheduling class; the store's data
/// holds the demotion until the call ends.
fn stop_at_deadline<T: HoldsDemotion>(
    store: &mut Store<T>,
    interrupt: Option<Arc<AtomicBool>>,
    deadline: Duration,
    demotion: Option<(Duration, Arc<Demotions>)>,
) {
    let started = Instant::now();
    let deadline_at = started + deadline;
    let mut pending_demotion = demotion
        .filter(|(after, _)| *after < deadline)
        .map(|(after, demotions)| (Slice::new(started, after), demotions));
    let every_tick = interrupt.is_some();
    let next_check = move |now: Instant, next_look: Option<Instant>| match every_tick {
        true => 1,
        false => deadline_ticks(
            next_look
                .unwrap_or(deadline_at)
                .min(deadline_at)
                .saturating_duration_since(now),
        ),
    };
    store.set_epoch_deadline(next_check(
        started,
        pending_demotion.as_ref().map(|(slice, _)| slice.next_look()),
    ));
    store.epoch_deadline_callback(move |mut context| {
        if interrupt.as_ref().is_some_and(|flag| flag.load(Ordering::SeqCst)) {
            return Err(wasmtime::Error::new(Interrupted));
        }
        let now = Instant::now();
        if now >= deadline_at {
            return Err(Trap::Interrupt.into());
        }
        if pending_demotion.as_mut().is_some_and(|(slice, _)| slice.spent(now))
            && let Some((_, demotions)) = pending_demotion.take()
            && let Some(demotion) = demotions.demote_current_thread(deadline_at, interrupt.clone())
        {
            context.data_mut().hold(demotion);
        }
        let next_look = pending_demotion.as_ref().map(|(slice, _)| slice.next_look());
        Ok(UpdateDeadline::Continue(next_check(now, next_look)))
    });
}

/// Enough ticks that the deadline is never cut short by a partly elapsed tick.
fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
}

/// A guest's answer, before its documents are checked.
enum RawReply {
    Placement(ssm_exports::Mapping),
    Configure(Vec<ssm_exports::VnfSwitches>),
    State(String),
    Schedule(Vec<String>),
    Workflows(Vec<ssm_exports::WorkflowRequest>),
    Started(Vec<wit_types::UnitEnvs>),
    Stopped,
    Configured(Vec<wit_types::UnitEnvs>),
    FunctionState(fsm_exports::StateReply),
    Scaled(Vec<wit_types::UnitEnvs>),
}

type Answer = Result<RawReply, wit_types::ManagerError>;

/// Where a call failed: creating the instance, or running the event.
enum CallError {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

fn call(store: &mut Store<Sandbox>, pre: &PreInstance, request: &Request) -> Result<Answer, CallError> {
    // A request for the other kind of manager is not handled by this one.
    let not_handled = Ok(Err(wit_types::ManagerError::NotHandled));
    match (&pre.exports, request.event, &request.payload) {
        (
            Exports::Service {
                placement,
                configure,
                state,
                task,
                monitor,
                ..
            },
            Event::Ssm(event),
            payload,
        ) => {
            let instance = instantiate(store, pre)?;
            Ok(match (event, payload) {
                (SsmEvent::Placement, Payload::Placement(request)) => {
                    let answer: Result<ssm_exports::Mapping, _> = call_export(store, &instance, placement, (request,))?;
                    answer.map(RawReply::Placement)
                }
                (SsmEvent::Configure, Payload::Document(content)) => {
                    let answer: Result<Vec<ssm_exports::VnfSwitches>, _> =
                        call_export(store, &instance, configure, (content.as_str(),))?;
                    answer.map(RawReply::Configure)
                }
                (SsmEvent::State, Payload::Document(content)) => {
                    let answer: Result<String, _> = call_export(store, &instance, state, (content.as_str(),))?;
                    answer.map(RawReply::State)
                }
                (SsmEvent::Task, Payload::Document(content)) => {
                    let answer: Result<Vec<String>, _> = call_export(store, &instance, task, (content.as_str(),))?;
                    answer.map(RawReply::Schedule)
                }
                (SsmEvent::Monitor, Payload::Document(content)) => {
                    let answer: Result<Vec<ssm_exports::WorkflowRequest>, _> =
                        call_export(store, &instance, monitor, (content.as_str(),))?;
                    answer.map(RawReply::Workflows)
                }
                _ => return not_handled,
            })
        }
        (
            Exports::Function {
                start,
                stop,
                configure,
                state,
                scale,
                ..
            },
            Event::Fsm(event),
            Payload::Document(content),
        ) => {
            let instance = instantiate(store, pre)?;
            let content = (content.as_str(),);
            Ok(match event {
                FsmEvent::Start => {
                    let answer: Result<Vec<wit_types::UnitEnvs>, _> = call_export(store, &instance, start, content)?;
                    answer.map(RawReply::Started)
                }
                FsmEvent::Stop => {
                    let answer: Result<(), _> = call_export(store, &instance, stop, content)?;
                    answer.map(|()| RawReply::Stopped)
                }
                FsmEvent::Configure => {
                    let answer: Result<Vec<wit_types::UnitEnvs>, _> =
                        call_export(store, &instance, configure, content)?;
                    answer.map(RawReply::Configured)
                }
                FsmEvent::State => {
                    let answer: Result<fsm_exports::StateReply, _> = call_export(store, &instance, state, content)?;
                    answer.map(RawReply::FunctionState)
                }
                FsmEvent::Scale => {
                    let answer: Result<Vec<wit_types::UnitEnvs>, _> = call_export(store, &instance, scale, content)?;
                    answer.map(RawReply::Scaled)
                }
            })
        }
        _ => not_handled,
    }
}

/// A fresh instance of the module.
fn instantiate(store: &mut Store<Sandbox>, pre: &PreInstance) -> Result<Instance, CallError> {
    pre.instance_pre
        .instantiate(&mut *store)
        .map_err(CallError::Instantiate)
}

/// Calls one function of the contract on `instance`. Its type is checked
/// against the contract's as it is looked up: a mismatch counts as part of
/// instantiating (a component built against another `wit/`).
fn call_export<P, R>(
    store: &mut Store<Sandbox>,
    instance: &Instance,
    index: &ComponentExportIndex,
    params: P,
) -> Result<R, CallError>
where
    P: ComponentNamedList + Lower + Send + Sync,
    (R,): ComponentNamedList + Lift + Send + Sync,
{
    let function = instance
        .get_typed_func::<P, (R,)>(&mut *store, index)
        .map_err(CallError::Instantiate)?;
    let (answer,) = function.call(&mut *store, params).map_err(CallError::Run)?;
    Ok(answer)
}

/// What wasmtime says when a transfer from the guest ran out of hostcall
/// fuel. Its error type is private, so the message is matched; a host test
/// (an aliasing guest) fails if an upgrade changes it.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Whose doing a failed call was: the guest's (a fault) or the host's.
fn classify(store: &Store<Sandbox>, error: &CallError, limits: &Limits) -> Cause {
    if store.data().limiter.refused {
        return Cause::Fault(Fault::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        });
    }
    let (error, instantiating) = match error {
        CallError::Instantiate(error) => (error, true),
        CallError::Run(error) => (error, false),
    };
    if error.downcast_ref::<Interrupted>().is_some() {
        return Cause::Interrupted;
    }
    if let Some(exhausted) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return Cause::Host(format!("no instance slot free: {exhausted}"));
    }
    let trap = error.downcast_ref::<Trap>();
    Cause::Fault(match trap {
        Some(Trap::Interrupt) => Fault::Timeout {
            deadline: limits.deadline,
        },
        Some(Trap::UnreachableCodeReached) => Fault::Trap {
            kind: "unreachable code reached (the guest panicked)".into(),
        },
        Some(trap) => Fault::Trap { kind: trap.to_string() },
        None if error
            .chain()
            .any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED)) =>
        {
            Fault::ReplyTooLarge {
                limit_bytes: limits.reply_bytes,
            }
        }
        // The bindings check every export's type as they instantiate.
        None if instantiating && error.chain().any(|cause| cause.to_string().contains("type mismatch")) => {
            Fault::ContractMismatch(sanitized(&format!("{error:#}")))
        }
        // Otherwise, without a trap, instantiation fails on what the pool
        // refuses this one component (too many memories, tables, core
        // instances).
        None if instantiating => Fault::SandboxLimit(sanitized(&format!("{error:#}"))),
        // A guest-supplied text (names in a backtrace, a WASI error) may
        // carry escapes: never let it reach a terminal raw.
        None => Fault::Trap {
            kind: sanitized(&format!("{error:#}")),
        },
    })
}

/// Envs as the orchestrator applies them: a unit and a key must be plain
/// names.
fn envs(list: Vec<wit_types::UnitEnvs>) -> Result<Vec<UnitEnvs>, String> {
    list.into_iter()
        .map(|entry| {
            let unit = entry.unit.map(|unit| identifier(unit, "an env's unit")).transpose()?;
            let envs = entry
                .envs
                .into_iter()
                .map(|pair| Ok(KeyValue::new(identifier(pair.key, "an env key")?, pair.value)))
                .collect::<Result<_, String>>()?;
            Ok(UnitEnvs { unit, envs })
        })
        .collect()
}

/// An identifier from a reply (a VNF, a VIM, an env key): it ends up in
/// records, logs and messages, so a control character in it (a terminal
/// escape, a forged line) makes the reply invalid.
fn identifier(text: String, what: &str) -> Result<String, String> {
    if text.chars().any(char::is_control) {
        return Err(format!("{what} holds control characters: {:?}", sanitized(&text)));
    }
    Ok(text)
}

fn document(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|error| format!("{what} is not a JSON document: {error}"))
}

fn placement(mapping: ssm_exports::Mapping) -> Result<Placement, String> {
    let vnfs = mapping
        .vnfs
        .into_iter()
        .map(|entry| {
            Ok(VnfPlacement {
                vnf: identifier(entry.vnf, "a placed VNF's id")?,
                vim: identifier(entry.vim, "a VIM's id")?,
            })
        })
        .collect::<Result<_, String>>()?;
    let links = mapping
        .links
        .into_iter()
        .map(|entry| {
            Ok(LinkPlacement {
                link: identifier(entry.link, "a placed virtual link's id")?,
                site: match entry.site {
                    ssm_exports::LinkSite::Vim(vim) => LinkSite::Vim(identifier(vim, "a VIM's id")?),
                    ssm_exports::LinkSite::Wim(wim) => LinkSite::Wim(identifier(wim, "a WIM's id")?),
                },
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Placement { vnfs, links })
}

fn switches(entry: ssm_exports::VnfSwitches) -> Result<VnfSwitches, String> {
    let id = identifier(entry.id, "a configured VNF's id")?;
    let switch = |switch: Option<ssm_exports::EventSwitch>, event: &str| {
        switch
            .map(|switch| {
                let payload = switch
                    .payload
                    .map(|payload| document(&payload, &format!("the {event} payload for VNF {id}")))
                    .transpose()?;
                Ok::<_, String>(EventSwitch {
                    trigger: switch.trigger,
                    payload,
                })
            })
            .transpose()
    };
    Ok(VnfSwitches {
        start: switch(entry.start, "start")?,
        stop: switch(entry.stop, "stop")?,
        configure: switch(entry.configure, "configure")?,
        scale: switch(entry.scale, "scale")?,
        id,
    })
}

fn workflow(request: ssm_exports::WorkflowRequest) -> Result<WorkflowRequest, String> {
    Ok(match request {
        ssm_exports::WorkflowRequest::ScaleOut(scale) => WorkflowRequest::ScaleOut {
            vnf: identifier(scale.vnf, "a VNF to scale out")?,
            instances: scale.instances,
        },
        ssm_exports::WorkflowRequest::ScaleIn(instances) => WorkflowRequest::ScaleIn(
            instances
                .into_iter()
                .map(|instance| identifier(instance, "a VNF instance to scale in"))
                .collect::<Result<_, String>>()?,
        ),
        ssm_exports::WorkflowRequest::Reconfigure(payload) => WorkflowRequest::Reconfigure(
            payload
                .map(|payload| document(&payload, "the reconfiguration payload"))
                .transpose()?,
        ),
    })
}

impl RawReply {
    fn into_reply(self) -> Result<Reply, String> {
        Ok(match self {
            Self::Placement(mapping) => Reply::Placement(placement(mapping)?),
            Self::Configure(entries) => {
                Reply::Configure(entries.into_iter().map(switches).collect::<Result<_, String>>()?)
            }
            Self::State(text) => Reply::State(document(&text, "the state content")?),
            Self::Schedule(steps) => Reply::Schedule(
                steps
                    .into_iter()
                    .map(|step| identifier(step, "a scheduled step"))
                    .collect::<Result<_, String>>()?,
            ),
            Self::Workflows(requests) => {
                Reply::Workflows(requests.into_iter().map(workflow).collect::<Result<_, String>>()?)
            }
            Self::Started(list) => Reply::Started(envs(list)?),
            Self::Stopped => Reply::Stopped,
            Self::Configured(list) => Reply::Configured(envs(list)?),
            Self::Scaled(list) => Reply::Scaled(envs(list)?),
            Self::FunctionState(fsm_exports::StateReply::Extracted(text)) => {
                Reply::FunctionState(StateReply::Extracted(document(&text, "the extracted state")?))
            }
            Self::FunctionState(fsm_exports::StateReply::Injected) => Reply::FunctionState(StateReply::Injected),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_and_adds_a_tick() {
        assert_eq!(deadline_ticks(Duration::from_millis(100)), 101);
        assert_eq!(deadline_ticks(Duration::from_micros(1500)), 3);
    }

    /// The epoch ticker catches up in bursts after it was not scheduled for
    /// a while; a burst of ticks must not end a deadline before its time.
    #[test]
    fn a_burst_of_epoch_ticks_does_not_end_the_deadline_early() {
        struct NoSandbox;
        impl HoldsDemotion for NoSandbox {
            fn hold(&mut self, _: crate::priority::Demotion) {}
        }
        let engine = wasmtime::Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap();
        let spin_forever = wat::parse_str(r#"(module (func (export "spin") (loop (br 0))))"#).unwrap();
        let module = wasmtime::Module::new(&engine, spin_forever).unwrap();
        let mut store = Store::new(&engine, NoSandbox);
        let deadline = Duration::from_millis(60);
        stop_at_deadline(&mut store, None, deadline, None);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
        let ticker = std::thread::spawn({
            let engine = engine.clone();
            move || {
                for _ in 0..10_000 {
                    engine.increment_epoch();
                }
                for _ in 0..200 {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            }
        });
        let started = Instant::now();
        let error = spin.call(&mut store, ()).unwrap_err();
        let elapsed = started.elapsed();
        ticker.join().unwrap();
        assert_eq!(error.downcast_ref::<Trap>(), Some(&Trap::Interrupt));
        assert!(
            elapsed >= deadline,
            "stopped after {elapsed:?}, before its deadline of {deadline:?}"
        );
    }
}
