//! The host against real compiled guests: every example on the bundled
//! 5GTANGO payloads, every hostile guest, digests, the precompiled cache,
//! contract versions, and concurrency.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

#[path = "support/components.rs"]
mod components;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use tango_model::fsm::{FsmEvent, StateReply};
use tango_model::ssm::{Placement, SsmEvent, VnfPlacement};
use tango_model::{KeyValue, UnitEnvs};
use wasmano_host::{
    Cause, Event, Fault, Host, HostConfig, Limits, LoadError, ManagerKind, Origin, Reply, Request, SpecificManager,
    WasmManager,
};

use components::Hostility;
use support::{guests, payload};

/// One host for the whole test binary, as the orchestrator has one.
fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| Host::new(HostConfig::default()).expect("host"))
}

fn manager(path: &std::path::Path, options: &[(&str, &str)], limits: Limits) -> WasmManager {
    let module = host().load_file(path, None).expect("load");
    let options = options.iter().map(|(key, value)| KeyValue::new(*key, *value)).collect();
    WasmManager::new(host(), module, "test-manager", options, limits).expect("manager")
}

fn ssm(event: SsmEvent, content: &serde_json::Value) -> Request {
    Request::new(Event::Ssm(event), content).expect("request")
}

fn fsm(event: FsmEvent, content: &serde_json::Value) -> Request {
    Request::new(Event::Fsm(event), content).expect("request")
}

#[test]
fn placement_example_places_the_corpus_vnf_on_a_vm_vim() {
    let manager = manager(&guests().placement, &[], Limits::default());
    let reply = manager
        .invoke_blocking(&ssm(
            SsmEvent::Placement,
            &payload("tng-sdk-sm/ssm/placement_event.yml"),
        ))
        .unwrap();
    // Two vm VIMs with 30 free cores each and a container VIM with 40: the VNF
    // is a VM, so the first of the two equal vm VIMs wins.
    assert_eq!(
        reply,
        Reply::Placement(Placement::of_vnfs(vec![VnfPlacement {
            vnf: "beee663b-10b5-43c3-b2db-1aa149256e60".into(),
            vim: "11111111-2222-3333-4444-555555555555".into(),
        }]))
    );
}

#[test]
fn configure_example_decides_per_vnf_on_every_corpus_configure_payload() {
    let manager = manager(&guests().configure, &[], Limits::default());
    let triggers = |file: &str| -> Vec<(String, bool)> {
        let reply = manager
            .invoke_blocking(&ssm(SsmEvent::Configure, &payload(file)))
            .unwrap();
        let Reply::Configure(decisions) = reply else {
            panic!("{file}: expected a configure reply")
        };
        // Only configure is switched, with a payload exactly when it fires.
        decisions
            .into_iter()
            .map(|decision| {
                assert!(
                    decision.start.is_none() && decision.stop.is_none() && decision.scale.is_none(),
                    "{file}"
                );
                let configure = decision.configure.expect("configure switched");
                assert_eq!(configure.trigger, configure.payload.is_some(), "{file}");
                (decision.id, configure.trigger)
            })
            .collect()
    };
    let cirros = "171b793b-a075-4b00-a947-887be5b5f1b1".to_owned();
    let msf = "aa1b793b-a075-4b00-a947-887be5b5f1aa".to_owned();
    assert_eq!(triggers("tng-sdk-sm/ssm/configure_event.yml"), [(cirros.clone(), true)]);
    // At instantiation only the VNF whose FSM declares configure is triggered
    // (msf-vnf1 comes without a descriptor); on reconfigure every VNF is.
    assert_eq!(
        triggers("industrial-pilot/ssm_configure_event_initialisation.yml"),
        [(msf.clone(), false), (cirros.clone(), true)]
    );
    assert_eq!(
        triggers("industrial-pilot/ssm_configure_event_reconfiguration.yml"),
        [(msf, true), (cirros, true)]
    );
}

#[test]
fn state_example_transforms_the_corpus_state() {
    let manager = manager(&guests().state, &[], Limits::default());
    let reply = manager
        .invoke_blocking(&ssm(SsmEvent::State, &payload("tng-sdk-sm/ssm/state_event.yml")))
        .unwrap();
    assert_eq!(
        reply,
        Reply::State(
            json!({"format": 2, "previous_address": "10.120.0.206", "entries": ["add some state"], "migrations": 1})
        )
    );
}

#[test]
fn function_manager_example_handles_every_corpus_fsm_event() {
    let manager = manager(
        &guests().vnf_manager,
        &[("state_entries", "sessions=3")],
        Limits::default(),
    );
    let started = manager
        .invoke_blocking(&fsm(FsmEvent::Start, &payload("tng-sdk-sm/fsm/start_event.yml")))
        .unwrap();
    assert_eq!(
        started,
        Reply::Started(vec![UnitEnvs::every_unit(vec![
            KeyValue::new("VNF_ID", "171b793b-a075-4b00-a947-887be5b5f1b1"),
            KeyValue::new("VNF_NAME", "testvnf"),
            KeyValue::new("VNF_ADDRESS", "10.120.0.206"),
        ])])
    );
    let stopped = manager
        .invoke_blocking(&fsm(FsmEvent::Stop, &payload("tng-sdk-sm/fsm/stop_event.yml")))
        .unwrap();
    assert_eq!(stopped, Reply::Stopped);
    for file in [
        "tng-sdk-sm/fsm/configure_event.yml",
        "industrial-pilot/fsm_configure_event.yml",
    ] {
        let reply = manager
            .invoke_blocking(&fsm(FsmEvent::Configure, &payload(file)))
            .unwrap();
        let Reply::Configured(envs) = reply else {
            panic!("{file}: expected envs")
        };
        assert_eq!(envs[0].unit, None, "{file}");
        assert_eq!(envs[0].envs[0].key, "PEERS", "{file}");
    }
    let extracted = manager
        .invoke_blocking(&fsm(
            FsmEvent::State,
            &payload("tng-sdk-sm/fsm/state_event_extract.yml"),
        ))
        .unwrap();
    // The option reached the guest through the host's `options` import.
    assert_eq!(
        extracted,
        Reply::FunctionState(StateReply::Extracted(json!("10.120.0.206\nsessions=3")))
    );
    let injected = manager
        .invoke_blocking(&fsm(FsmEvent::State, &payload("tng-sdk-sm/fsm/state_event_inject.yml")))
        .unwrap();
    assert_eq!(injected, Reply::FunctionState(StateReply::Injected));
}

#[test]
fn an_event_the_module_does_not_handle_is_not_handled() {
    let placement = manager(&guests().placement, &[], Limits::default());
    let error = placement
        .invoke_blocking(&ssm(SsmEvent::State, &json!({"state": "x"})))
        .unwrap_err();
    assert_eq!(error.cause, Cause::NotHandled);
    // An FSM event sent to an SSM is not handled either.
    let error = placement
        .invoke_blocking(&fsm(FsmEvent::Start, &json!({})))
        .unwrap_err();
    assert_eq!(error.cause, Cause::NotHandled);
}

#[test]
fn handled_events_come_from_the_module() {
    let events = manager(&guests().vnf_manager, &[], Limits::default())
        .handled_events()
        .unwrap();
    let without_scale = FsmEvent::ALL.into_iter().filter(|event| *event != FsmEvent::Scale);
    assert_eq!(events, without_scale.map(Event::Fsm).collect::<Vec<_>>());
    let events = manager(&guests().placement, &[], Limits::default())
        .handled_events()
        .unwrap();
    assert_eq!(events, [Event::Ssm(SsmEvent::Placement)]);
}

/// Runs the hostile guest with one behaviour and returns the cause and how long it took.
fn hostile(behaviour: &str, limits: Limits) -> (Cause, Duration) {
    let manager = manager(&guests().hostile, &[("behaviour", behaviour)], limits);
    let request = ssm(SsmEvent::State, &json!({"state": "anything"}));
    let started = Instant::now();
    let error = manager
        .invoke_blocking(&request)
        .expect_err("a hostile guest must not reply");
    (error.cause, started.elapsed())
}

#[test]
fn an_infinite_loop_is_stopped_at_its_deadline() {
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    let (cause, elapsed) = hostile("loop", limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::Timeout {
            deadline: limits.deadline
        })
    );
    assert!(elapsed >= limits.deadline, "stopped early: {elapsed:?}");
    assert!(
        elapsed < limits.deadline + Duration::from_millis(250),
        "stopped late: {elapsed:?}"
    );
}

#[test]
fn an_interrupted_guest_stops_before_its_deadline_and_is_not_blamed() {
    let limits = Limits {
        deadline: Duration::from_secs(10),
        ..Limits::default()
    };
    let manager = manager(&guests().hostile, &[("behaviour", "loop")], limits);
    let interrupt = Arc::new(AtomicBool::new(false));
    let request = ssm(SsmEvent::State, &json!({"state": "anything"})).interruptible(Arc::clone(&interrupt));
    let interrupter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        interrupt.store(true, Ordering::SeqCst);
    });
    let error = manager
        .invoke_blocking(&request)
        .expect_err("an interrupted guest does not reply");
    interrupter.join().unwrap();
    // A timeout would be the manager's fault; an interrupt is the orchestrator's doing.
    assert_eq!(error.cause, Cause::Interrupted);
    // Already interrupted: the guest does not even start.
    let again = manager.invoke_blocking(&request).expect_err("still interrupted");
    assert_eq!(again.cause, Cause::Interrupted);
}

#[test]
fn an_interruptible_request_keeps_its_deadline_and_its_reply() {
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    let never = Arc::new(AtomicBool::new(false));
    let looping = manager(&guests().hostile, &[("behaviour", "loop")], limits);
    let request = ssm(SsmEvent::State, &json!({"state": "anything"})).interruptible(Arc::clone(&never));
    let error = looping.invoke_blocking(&request).expect_err("a looping guest");
    assert_eq!(
        error.cause,
        Cause::Fault(Fault::Timeout {
            deadline: limits.deadline
        })
    );
    let state = manager(&guests().state, &[], Limits::default());
    let request = ssm(SsmEvent::State, &json!({"state": "sessions=3"})).interruptible(never);
    assert!(
        state.invoke_blocking(&request).is_ok(),
        "a request that is never interrupted runs as any other"
    );
}

#[test]
fn a_guest_that_sleeps_is_stopped_at_once() {
    let (cause, elapsed) = hostile("sleep", Limits::default());
    let Cause::Fault(Fault::Trap { kind }) = cause else {
        panic!("expected a trap, got {cause:?}")
    };
    assert!(kind.contains("tried to wait"), "{kind}");
    assert!(elapsed < Limits::default().deadline, "{elapsed:?}");
}

#[test]
fn a_log_flood_is_cut_off_and_the_event_completes() {
    // Sixteen thousand log calls take a debug build's host tens of
    // milliseconds of CPU: long enough to be demoted, and then to wait for
    // the CPU while other tests run. The deadline leaves room for that;
    // what is tested is the cut-off.
    let limits = Limits {
        deadline: Duration::from_secs(2),
        ..Limits::default()
    };
    let manager = manager(&guests().hostile, &[("behaviour", "log-flood")], limits);
    let reply = manager.invoke_blocking(&ssm(SsmEvent::State, &json!({"state": "x"})));
    assert_eq!(reply, Ok(Reply::State(serde_json::Value::Null)));
}

#[test]
fn limits_above_the_host_deadline_maximum_are_refused() {
    let module = host().load_file(&guests().state, None).unwrap();
    let limits = Limits {
        deadline: Duration::from_secs(3600),
        ..Limits::default()
    };
    let error = WasmManager::new(host(), module, "patient", Vec::new(), limits).unwrap_err();
    assert!(error.to_string().contains("above this host's maximum"), "{error}");
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let (cause, elapsed) = hostile("memory-bomb", limits);
    assert_eq!(cause, Cause::Fault(Fault::MemoryLimit { limit_bytes: 16 << 20 }));
    assert!(elapsed < limits.deadline + Duration::from_millis(250), "{elapsed:?}");
}

#[test]
fn a_panic_is_a_trap_not_an_error_answer() {
    let (cause, _) = hostile("panic", Limits::default());
    let Cause::Fault(Fault::Trap { kind }) = cause else {
        panic!("expected a trap, got {cause:?}")
    };
    assert!(kind.contains("panicked"), "{kind}");
}

#[test]
fn deep_recursion_traps_on_the_exhausted_stack() {
    let (cause, _) = hostile("recursion", Limits::default());
    let Cause::Fault(Fault::Trap { kind }) = cause else {
        panic!("expected a trap, got {cause:?}")
    };
    // Rust guests keep large frames in linear memory (a shadow stack below
    // the data), so overflowing it shows as an out-of-bounds access.
    assert!(
        kind.contains("stack overflow") || kind.contains("out of bounds"),
        "{kind}"
    );
}

#[test]
fn an_oversized_reply_is_refused_while_it_is_copied() {
    // Building the 8 MiB answer takes the guest tens of milliseconds, more
    // on a loaded machine: the deadline is not what this test is about.
    let limits = Limits {
        deadline: Duration::from_secs(5),
        ..Limits::default()
    };
    let (cause, _) = hostile("huge-reply", limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::ReplyTooLarge {
            limit_bytes: Limits::default().reply_bytes
        })
    );
}

/// Loads a hand-written hostile component.
fn hostile_component(hostility: Hostility, limits: Limits) -> WasmManager {
    let module = host()
        .load_bytes(&components::hostile_component(hostility), None)
        .unwrap_or_else(|error| panic!("{hostility:?}: {error}"));
    WasmManager::new(host(), module, format!("{hostility:?}"), Vec::new(), limits).unwrap()
}

/// The cause of a hand-written hostile component's failure on `event`.
fn hostile_component_cause(hostility: Hostility, event: SsmEvent, limits: Limits) -> Cause {
    let content = match event {
        SsmEvent::Placement => payload("tng-sdk-sm/ssm/placement_event.yml"),
        _ => json!({"state": "anything"}),
    };
    hostile_component(hostility, limits)
        .invoke_blocking(&ssm(event, &content))
        .expect_err("a hostile component must not reply")
        .cause
}

#[test]
fn aliased_strings_are_stopped_at_the_reply_cap_not_copied_100_times() {
    let limits = Limits::default();
    let cause = hostile_component_cause(Hostility::AliasedStrings, SsmEvent::Placement, limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::ReplyTooLarge {
            limit_bytes: limits.reply_bytes
        })
    );
}

#[test]
fn a_million_element_list_is_refused_before_it_is_allocated() {
    let limits = Limits::default();
    let cause = hostile_component_cause(Hostility::MillionEntries, SsmEvent::Placement, limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::ReplyTooLarge {
            limit_bytes: limits.reply_bytes
        })
    );
}

#[test]
fn an_error_message_over_4_kib_is_a_fault() {
    let cause = hostile_component_cause(Hostility::LongErrorMessage, SsmEvent::State, Limits::default());
    assert_eq!(cause, Cause::Fault(Fault::ErrorMessageTooLarge { size_bytes: 8192 }));
}

#[test]
fn an_error_message_reaches_the_operator_without_escapes() {
    let cause = hostile_component_cause(Hostility::EscapesInErrorMessage, SsmEvent::State, Limits::default());
    let Cause::Answered { message, .. } = cause else {
        panic!("expected an answered error, got {cause:?}")
    };
    assert!(!message.chars().any(char::is_control), "{message:?}");
    assert!(
        message.contains("red") && message.contains("forged log line"),
        "{message:?}"
    );
}

#[test]
fn a_log_line_over_the_cap_is_a_fault() {
    let limits = Limits::default();
    let cause = hostile_component_cause(Hostility::HugeLogLine, SsmEvent::State, limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::ReplyTooLarge {
            limit_bytes: limits.reply_bytes
        })
    );
}

#[test]
fn a_start_function_that_loops_is_stopped_at_the_deadline() {
    let limits = Limits {
        deadline: Duration::from_millis(30),
        ..Limits::default()
    };
    let cause = hostile_component_cause(Hostility::LoopAtStart, SsmEvent::State, limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::Timeout {
            deadline: limits.deadline
        })
    );
}

#[test]
fn a_start_function_that_traps_is_the_managers_fault() {
    let cause = hostile_component_cause(Hostility::TrapAtStart, SsmEvent::State, Limits::default());
    assert!(matches!(cause, Cause::Fault(Fault::Trap { .. })), "{cause:?}");
}

#[test]
fn memories_and_tables_share_one_budget() {
    // 1022 pages (63.9 MiB) fit a 64 MiB cap on their own, and so does a
    // table of 20,000 elements: together they do not.
    let limits = Limits::default();
    let cause = hostile_component_cause(Hostility::MemoryPlusTable, SsmEvent::State, limits);
    assert_eq!(
        cause,
        Cause::Fault(Fault::MemoryLimit {
            limit_bytes: limits.memory_bytes
        })
    );
    let roomier = Limits {
        memory_bytes: 65 << 20,
        ..limits
    };
    let manager = hostile_component(Hostility::MemoryPlusTable, roomier);
    assert!(
        manager
            .invoke_blocking(&ssm(SsmEvent::State, &json!({"state": 1})))
            .is_ok()
    );
}

#[test]
fn a_module_with_more_memories_than_the_sandbox_grants_is_refused_at_load() {
    let error = host()
        .load_bytes(&components::hostile_component(Hostility::TwoMemories), None)
        .expect_err("two memories in one module");
    assert!(error.to_string().contains("memories count of 2"), "{error}");
}

/// A component built against an edited copy of the contract (same name
/// and version, other types) is told apart from a sandbox fault: the
/// message names the contract and what to do.
#[test]
fn a_component_whose_exports_differ_from_the_contract_is_named_as_such() {
    let mismatched = hostile_component(Hostility::MismatchedContract, Limits::default());
    let placement = mismatched
        .invoke_blocking(&ssm(
            SsmEvent::Placement,
            &payload("tng-sdk-sm/ssm/placement_event.yml"),
        ))
        .expect_err("placement's request has another type")
        .cause;
    let checked = mismatched.check_contract().expect_err("onboarding's check");
    for cause in [placement, checked] {
        let Cause::Fault(Fault::ContractMismatch(detail)) = &cause else {
            panic!("expected a contract mismatch, got {cause:?}")
        };
        assert!(detail.contains("type mismatch"), "{detail}");
        let message = cause.to_string();
        assert!(
            message.contains("wasmano:sm@2.0.0") && message.contains("rebuild"),
            "{message}"
        );
    }
    // A call checks only its own function: state has the contract's type.
    assert!(
        mismatched
            .invoke_blocking(&ssm(SsmEvent::State, &json!({"state": 1})))
            .is_ok()
    );
    assert!(
        hostile_component(Hostility::AliasedStrings, Limits::default())
            .check_contract()
            .is_ok()
    );
}

#[test]
fn a_guest_cannot_hoard_host_resources() {
    // 2,000 live stdout streams: within wasmtime's defaults (a million table
    // entries, 100,000 handles), past the sandbox's 1,000.
    let cause = hostile_component_cause(Hostility::HoardHandles, SsmEvent::State, Limits::default());
    let Cause::Fault(Fault::Trap { kind }) = cause else {
        panic!("expected a trap, got {cause:?}")
    };
    assert!(kind.contains("no free keys"), "{kind}");
}

#[test]
fn random_numbers_are_reproducible_from_the_requests_seed() {
    let manager = manager(&guests().hostile, &[("behaviour", "random")], Limits::default());
    let request = ssm(SsmEvent::State, &json!({"state": 1}));
    let draw = |request: &Request| manager.invoke_blocking(request).expect("the random behaviour answers");
    let seeded = request.clone().with_seed(7);
    assert_eq!(draw(&seeded), draw(&seeded.clone()));
    assert_eq!(draw(&request), draw(&request));
    assert_ne!(draw(&seeded), draw(&request.clone().with_seed(8)));
    assert_ne!(
        ssm(SsmEvent::State, &json!({})).seed(),
        ssm(SsmEvent::State, &json!({})).seed()
    );
}

#[test]
fn an_error_answer_is_not_a_fault() {
    let (cause, _) = hostile("error", Limits::default());
    assert_eq!(
        cause,
        Cause::Answered {
            message: "hostile manager answers an error on purpose".into(),
            content: None,
        }
    );
}

#[test]
fn the_host_keeps_serving_after_every_kind_of_fault() {
    let limits = Limits {
        deadline: Duration::from_millis(30),
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    for behaviour in ["loop", "memory-bomb", "panic", "recursion", "huge-reply", "sleep"] {
        let (cause, _) = hostile(behaviour, limits);
        assert!(matches!(cause, Cause::Fault(_)), "{behaviour}: {cause:?}");
    }
    let placement = manager(&guests().placement, &[], Limits::default());
    let request = ssm(SsmEvent::Placement, &payload("tng-sdk-sm/ssm/placement_event.yml"));
    for _ in 0..50 {
        assert!(matches!(placement.invoke_blocking(&request), Ok(Reply::Placement(_))));
    }
}

#[test]
fn invocations_run_in_parallel_while_a_neighbour_loops() {
    let placement = manager(&guests().placement, &[], Limits::default());
    let request = ssm(SsmEvent::Placement, &payload("tng-sdk-sm/ssm/placement_event.yml"));
    let looping = manager(
        &guests().hostile,
        &[("behaviour", "loop")],
        Limits {
            deadline: Duration::from_secs(3),
            ..Limits::default()
        },
    );
    std::thread::scope(|scope| {
        let neighbour = scope.spawn(|| looping.invoke_blocking(&ssm(SsmEvent::State, &json!({"state": 1}))));
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| (0..100).filter(|_| placement.invoke_blocking(&request).is_ok()).count()))
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap(), 100);
        }
        // The workers did not queue behind the looping neighbour: it is still looping.
        assert!(
            !neighbour.is_finished(),
            "the invocations waited for the neighbour's deadline"
        );
        let neighbour = neighbour.join().unwrap().unwrap_err();
        assert!(matches!(neighbour.cause, Cause::Fault(Fault::Timeout { .. })));
    });
}

/// The scheduling policy of one of this process's threads (5 is `SCHED_IDLE`).
fn policy_of_thread(thread: &str) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{thread}/stat")).unwrap();
    // The fields after the command name (which may hold spaces): state is
    // the first of them (field 3), policy the 39th (field 41).
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[38].parse().unwrap()
}

const SCHED_IDLE: u32 = 5;

#[test]
fn a_hook_that_runs_long_is_demoted_until_it_ends() {
    if !host().demotes_long_hooks() {
        eprintln!("SKIPPED: this process may not restore a thread's scheduling class, so the host does not demote");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test with the privilege"
        );
        return;
    }
    let looping = manager(
        &guests().hostile,
        &[("behaviour", "loop")],
        Limits {
            deadline: Duration::from_millis(500),
            ..Limits::default()
        },
    );
    let demoted_before = host().demoted_hooks().unwrap();
    let (thread_sender, thread) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        let thread = link.file_name().unwrap().to_string_lossy().into_owned();
        let before = policy_of_thread(&thread);
        thread_sender.send(thread.clone()).unwrap();
        let error = looping
            .invoke_blocking(&ssm(SsmEvent::State, &json!({"state": 1})))
            .unwrap_err();
        (error.cause, before, policy_of_thread(&thread))
    });
    let thread = thread.recv().unwrap();
    let mut idle_seen = false;
    while !runner.is_finished() {
        idle_seen |= policy_of_thread(&thread) == SCHED_IDLE;
        std::thread::sleep(Duration::from_millis(2));
    }
    let (cause, before, after) = runner.join().unwrap();
    assert!(matches!(cause, Cause::Fault(Fault::Timeout { .. })), "{cause:?}");
    assert!(idle_seen, "the looping hook kept its scheduling class");
    assert!(
        host().demoted_hooks().unwrap() > demoted_before,
        "the demotion was not counted"
    );
    assert_ne!(before, SCHED_IDLE);
    assert_eq!(after, before, "the thread did not get its scheduling class back");
}

/// Keeps the calling thread on the first CPU only.
fn pin_to_first_cpu() {
    // SAFETY: the set is initialised before use; sched_setaffinity only
    // reads it, and acts on the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set), 0);
    }
}

#[test]
fn a_demoted_hook_is_stopped_at_its_deadline_on_a_busy_cpu() {
    let limits = Limits {
        deadline: Duration::from_millis(100),
        ..Limits::default()
    };
    let looping = manager(&guests().hostile, &[("behaviour", "loop")], limits);
    // Two threads keep the hook's CPU busy until it ends: a hook in the
    // idle class, left to itself, would hardly run, nor see its deadline,
    // while they spin.
    let hook_ended = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let hook_ended = Arc::clone(&hook_ended);
            std::thread::spawn(move || {
                pin_to_first_cpu();
                let give_up = Instant::now() + Duration::from_secs(3);
                while !hook_ended.load(Ordering::Relaxed) && Instant::now() < give_up {}
            })
        })
        .collect();
    let (error, elapsed) = std::thread::spawn(move || {
        pin_to_first_cpu();
        let started = Instant::now();
        let error = looping
            .invoke_blocking(&ssm(SsmEvent::State, &json!({"state": 1})))
            .unwrap_err();
        (error, started.elapsed())
    })
    .join()
    .unwrap();
    hook_ended.store(true, Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().unwrap();
    }
    assert_eq!(
        error.cause,
        Cause::Fault(Fault::Timeout {
            deadline: limits.deadline
        })
    );
    assert!(
        elapsed < limits.deadline + Duration::from_millis(250),
        "stopped late: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_specific_manager_interface_runs_many_invocations() {
    let manager: Arc<dyn SpecificManager> = Arc::new(manager(&guests().placement, &[], Limits::default()));
    assert_eq!(manager.kind(), ManagerKind::Service);
    let request = ssm(SsmEvent::Placement, &payload("tng-sdk-sm/ssm/placement_event.yml"));
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let manager = Arc::clone(&manager);
            let request = request.clone();
            tokio::spawn(async move { manager.invoke(request).await })
        })
        .collect();
    for call in calls {
        assert!(matches!(call.await.unwrap(), Ok(Reply::Placement(_))));
    }
}

#[test]
fn a_pinned_digest_must_match() {
    let bytes = std::fs::read(&guests().placement).unwrap();
    let module = host().load_bytes(&bytes, None).unwrap();
    let digest = module.sha256().to_owned();
    assert!(host().load_bytes(&bytes, Some(&digest.to_uppercase())).is_ok());
    let mut wrong = digest.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).unwrap();
    match host().load_bytes(&bytes, Some(&wrong)) {
        Err(LoadError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, digest);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(matches!(
        host().load_bytes(&bytes, Some("abc")),
        Err(LoadError::InvalidDigest(_))
    ));
}

#[test]
fn a_second_load_reads_the_precompiled_cache() {
    let cache = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        max_instances: 8,
        ..HostConfig::default()
    };
    let bytes = std::fs::read(&guests().state).unwrap();
    let first = Host::new(config.clone()).unwrap().load_bytes(&bytes, None).unwrap();
    assert_eq!(first.origin(), Origin::Compiled);
    let second_host = Host::new(config).unwrap();
    let second = second_host.load_bytes(&bytes, None).unwrap();
    assert_eq!(second.origin(), Origin::Cached);
    // The cached module runs like the compiled one.
    let manager = WasmManager::new(&second_host, second, "cached", Vec::new(), Limits::default()).unwrap();
    assert!(
        manager
            .invoke_blocking(&ssm(SsmEvent::State, &json!({"state": "10.0.0.1"})))
            .is_ok()
    );
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        max_instances: 8,
        ..HostConfig::default()
    };
    let bytes = std::fs::read(&guests().state).unwrap();
    let host = Host::new(config).unwrap();
    host.load_bytes(&bytes, None).unwrap();
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not an artifact").unwrap();
    }
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Compiled);
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Cached);
}

/// A host with a private cache in a fresh directory, and the state example's bytes.
fn cached_host() -> (tempfile::TempDir, Host, Vec<u8>) {
    let cache = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        max_instances: 8,
        ..HostConfig::default()
    };
    let host = Host::new(config).unwrap();
    let bytes = std::fs::read(&guests().state).unwrap();
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Compiled);
    (cache, host, bytes)
}

/// The cache's artifacts (`.cwasm` files).
fn artifacts(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "cwasm"))
        .collect()
}

#[test]
fn a_tampered_artifact_is_recompiled_never_run() {
    let (cache, host, bytes) = cached_host();
    let [artifact] = artifacts(cache.path()).try_into().unwrap();
    // A flipped byte deep in the code section: wasmtime's own header checks
    // would not notice it; the recorded digest does.
    let mut tampered = std::fs::read(&artifact).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    std::fs::write(&artifact, &tampered).unwrap();
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Compiled);
    assert_ne!(std::fs::read(&artifact).unwrap(), tampered, "the artifact is replaced");
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Cached);
}

#[test]
fn an_artifact_without_its_digest_is_recompiled() {
    let (cache, host, bytes) = cached_host();
    let [artifact] = artifacts(cache.path()).try_into().unwrap();
    std::fs::remove_file(artifact.with_extension("cwasm.blake3")).unwrap();
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Compiled);
}

#[test]
fn a_link_in_place_of_an_artifact_is_not_followed() {
    let (cache, host, bytes) = cached_host();
    let [artifact] = artifacts(cache.path()).try_into().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("artifact.cwasm");
    std::fs::rename(&artifact, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &artifact).unwrap();
    assert_eq!(host.load_bytes(&bytes, None).unwrap().origin(), Origin::Compiled);
}

#[test]
fn verifying_a_module_leaves_the_cache_untouched() {
    let cache = tempfile::tempdir().unwrap();
    let host = Host::new(HostConfig {
        cache_dir: Some(cache.path().join("cache")),
        max_instances: 8,
        ..HostConfig::default()
    })
    .unwrap();
    let bytes = std::fs::read(&guests().state).unwrap();
    host.verify_bytes(&bytes, None).unwrap();
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[test]
fn a_module_over_the_size_cap_is_refused_before_compiling() {
    let host = Host::new(HostConfig {
        max_instances: 8,
        max_module_bytes: 1024,
        ..HostConfig::default()
    })
    .unwrap();
    let bytes = std::fs::read(&guests().state).unwrap();
    assert!(matches!(
        host.load_bytes(&bytes, None),
        Err(LoadError::TooLarge { limit_bytes: 1024, .. })
    ));
}

#[test]
fn compiling_past_the_budget_is_refused() {
    let host = Host::new(HostConfig {
        max_instances: 8,
        compile_budget: Duration::from_micros(1),
        ..HostConfig::default()
    })
    .unwrap();
    let bytes = std::fs::read(&guests().placement).unwrap();
    assert!(matches!(
        host.load_bytes(&bytes, None),
        Err(LoadError::CompileTimeout { .. })
    ));
}

/// A compilation past its budget goes on in the background (cranelift cannot
/// be interrupted), holding its slot: a second module waits for a slot and is
/// refused as "busy" instead of starting another thread beside it, and a
/// slot comes free once the abandoned compilation ends.
#[test]
fn compilations_past_their_budget_hold_their_slot_until_they_end() {
    let host = Host::new(HostConfig {
        max_instances: 8,
        compile_budget: Duration::from_millis(1),
        max_compilations: 1,
        ..HostConfig::default()
    })
    .unwrap();
    let bytes = std::fs::read(&guests().configure).unwrap();
    assert!(matches!(
        host.load_bytes(&bytes, None),
        Err(LoadError::CompileTimeout { .. })
    ));
    match host.load_bytes(&bytes, None) {
        Err(error @ LoadError::CompilerBusy { running: 1, .. }) => {
            assert!(
                error.to_string().contains("1 earlier compilations are still running"),
                "{error}"
            );
        }
        other => panic!("expected the one slot to be held, got {other:?}"),
    }
    // Once the abandoned compilation ends, the slot serves the next one
    // (which, at this budget, runs past it in turn).
    let started = Instant::now();
    loop {
        match host.load_bytes(&bytes, None) {
            Err(LoadError::CompileTimeout { .. }) => break,
            Err(LoadError::CompilerBusy { .. }) if started.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => panic!("expected the slot to come free, got {other:?}"),
        }
    }
}

#[test]
fn a_module_built_against_another_contract_version_is_refused() {
    match host().load_file(&guests().hostile_contract, None) {
        Err(error @ LoadError::ContractMismatch { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("wasmano:sm@2.0.0") && message.contains("wasmano:sm@1.0.0"),
                "{message}"
            );
        }
        other => panic!("expected a contract mismatch, got {other:?}"),
    }
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    assert!(matches!(
        host().load_bytes(b"\0asm garbage", None),
        Err(LoadError::NotAComponent(_))
    ));
    let missing = host().load_file(std::path::Path::new("/nonexistent/manager.wasm"), None);
    assert!(matches!(missing, Err(LoadError::Read { .. })));
}

#[test]
fn limits_above_the_host_maximum_are_refused() {
    let module = host().load_file(&guests().state, None).unwrap();
    let limits = Limits {
        memory_bytes: 1 << 40,
        ..Limits::default()
    };
    assert!(WasmManager::new(host(), module, "greedy", Vec::new(), limits).is_err());
}
