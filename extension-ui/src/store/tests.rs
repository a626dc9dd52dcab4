use super::*;
use fluxlive_protocol::debug::{ComponentInfo, HistoryBounds, InstanceInfo, SnapshotFrame};
use fluxlive_protocol::record::{
    ActionRecord, CallSource, DiffRecord, InstanceRef, Outcome, RecordBody,
};
use fluxlive_protocol::session::Session;
use fluxlive_protocol::ErrorCode;
use serde_json::json;

fn hello(started: u64) -> HubFrame {
    HubFrame::Hello(Hello {
        protocol: 1,
        app_protocol: 1,
        runtime: "0.1.0".into(),
        capabilities: vec!["time_travel".into()],
        history: HistoryBounds {
            capacity: 100,
            oldest_seq: 0,
            next_seq: 1,
        },
        recording: true,
        started_unix_us: started,
        components: vec![ComponentInfo {
            name: "Counter".into(),
            actions: vec!["increment".into(), "add".into()],
        }],
    })
}

fn hero() -> Option<InstanceRef> {
    Some(InstanceRef {
        iid: 3,
        id: "hero".into(),
        component: "Counter".into(),
    })
}

fn mount(seq: u64) -> Record {
    Record {
        seq,
        ts_us: seq * 10,
        conn: 1,
        instance: hero(),
        body: RecordBody::Mount {
            props: json!({"start": 10}),
            version: 1,
            state: json!({"count": 10}),
        },
    }
}

fn increment(seq: u64, base: u64, count: i64) -> [Record; 2] {
    let ops =
        serde_json::from_value(json!([{"op":"replace","path":"/count","value":count}])).unwrap();
    [
        Record {
            seq,
            ts_us: seq * 10,
            conn: 1,
            instance: hero(),
            body: RecordBody::Action(ActionRecord {
                method: "increment".into(),
                args: json!([]),
                args_truncated: false,
                dur_us: 12,
                outcome: Outcome::Ok {
                    result: json!(null),
                },
                version_before: base,
                version_after: base + 1,
                trace: None,
                source: CallSource::Client,
            }),
        },
        Record {
            seq: seq + 1,
            ts_us: seq * 10 + 5,
            conn: 1,
            instance: hero(),
            body: RecordBody::Diff(DiffRecord {
                base,
                version: base + 1,
                ops,
                bytes: 60,
                diff_us: 4,
                encode_us: 1,
                trace: None,
            }),
        },
    ]
}

fn frame(f: HubFrame) -> Action {
    Action::Frame(Box::new(f))
}

fn empty_snapshot(req: u32) -> HubFrame {
    HubFrame::Snapshot(SnapshotFrame {
        req,
        instances: vec![],
        connections: 0,
        total_mounted: 0,
    })
}

/// A model connected to a runtime whose first snapshot was answered.
fn connected() -> Model {
    let mut m = Model::default();
    m.apply(Action::Status(ConnStatus::Connected));
    m.apply(frame(hello(1000)));
    let snap = sent(&mut m)
        .iter()
        .find(|c| matches!(c, PanelCommand::Snapshot { .. }))
        .map(PanelCommand::req);
    m.apply(frame(empty_snapshot(snap.unwrap())));
    m
}

fn sent(m: &mut Model) -> Vec<PanelCommand> {
    m.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send(c) => Some(c),
            Effect::Download { .. } | Effect::Disconnect(_) => None,
        })
        .collect()
}

/// Imports a session file holding one mount record.
fn import_one_mount(m: &mut Model) {
    let text = Session {
        header: SessionHeader::new("0.1.0", 1, 1),
        records: vec![mount(1)],
    }
    .to_jsonl();
    m.apply(Action::Import {
        name: "s".into(),
        text: text.into(),
    });
}

fn records(m: &mut Model, recs: Vec<Record>) {
    m.apply(frame(HubFrame::Records { records: recs }));
}

#[test]
fn connected_only_after_hello_then_subscribes_and_snapshots() {
    let mut m = Model::default();
    m.apply(Action::Status(ConnStatus::Connected));
    assert_eq!(m.status, ConnStatus::Connecting);
    assert!(sent(&mut m).is_empty());
    m.apply(frame(hello(1000)));
    assert_eq!(m.status, ConnStatus::Connected);
    let cmds = sent(&mut m);
    assert!(
        matches!(cmds[0], PanelCommand::Subscribe { from_seq: None, .. }),
        "{cmds:?}"
    );
    assert!(matches!(cmds[1], PanelCommand::Snapshot { .. }));
    assert_eq!(cmds.len(), 2);
}

#[test]
fn records_flow_into_log_instances_and_timeline() {
    let mut m = connected();
    let mut recs = vec![mount(1)];
    recs.extend(increment(2, 1, 11));
    records(&mut m, recs);
    assert_eq!(m.log.len(), 3);
    assert_eq!(m.filtered.len(), 3);
    let hero = m.instances.by_iid(3).unwrap();
    assert_eq!(hero.state, Some(json!({"count": 11})));
    assert_eq!(hero.version, 2);
    // a duplicate from an overlapping backfill is ignored
    records(&mut m, vec![mount(1)]);
    assert_eq!(m.log.len(), 3);
}

#[test]
fn reconnect_resumes_after_last_seq_and_restart_resets() {
    let mut m = connected();
    records(&mut m, vec![mount(1)]);
    sent(&mut m);
    m.apply(Action::Status(ConnStatus::Reconnecting {
        attempt: 1,
        delay_ms: 250,
    }));
    m.apply(Action::Status(ConnStatus::Connected));
    m.apply(frame(hello(1000)));
    let cmds = sent(&mut m);
    assert!(
        matches!(
            cmds[0],
            PanelCommand::Subscribe {
                from_seq: Some(2),
                ..
            }
        ),
        "{cmds:?}"
    );
    assert_eq!(m.log.len(), 1);
    // a different start time means a new runtime: old records go
    m.apply(frame(hello(2000)));
    assert_eq!(m.log.len(), 0);
    let cmds = sent(&mut m);
    assert!(
        matches!(cmds[0], PanelCommand::Subscribe { from_seq: None, .. }),
        "{cmds:?}"
    );
}

#[test]
fn filtered_position_finds_records_in_the_filtered_list() {
    let mut m = connected();
    let mut recs = vec![mount(1)];
    recs.extend(increment(2, 1, 11));
    records(&mut m, recs);
    assert_eq!(m.filtered_position(3), Some(2));
    m.apply(Action::SetFilter(TimelineFilter {
        kind: Some(RecordKind::Diff),
        ..Default::default()
    }));
    assert_eq!(m.filtered_position(3), Some(0));
    assert_eq!(m.filtered_position(2), None);
}

#[test]
fn filter_applies_to_existing_and_new_rows() {
    let mut m = connected();
    records(&mut m, vec![mount(1)]);
    m.apply(Action::SetFilter(TimelineFilter {
        method: Some("increment".into()),
        ..Default::default()
    }));
    assert!(m.filtered.is_empty());
    records(&mut m, increment(2, 1, 11).to_vec());
    assert_eq!(m.filtered.len(), 1);
    assert_eq!(m.log.row(m.filtered[0]).unwrap().seq, 2);
}

#[test]
fn dispatch_result_and_error_reach_the_dispatch_state() {
    let mut m = connected();
    sent(&mut m);
    m.apply(Action::Dispatch {
        iid: 3,
        method: "add".into(),
        args: vec![json!(5)],
    });
    let cmds = sent(&mut m);
    let PanelCommand::Dispatch {
        req,
        iid,
        method,
        args,
    } = &cmds[0]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        (*iid, method.as_str(), args.clone()),
        (3, "add", vec![json!(5)])
    );
    assert_eq!(m.dispatch.as_ref().unwrap().result, None);
    m.apply(frame(HubFrame::DispatchResult {
        req: *req,
        result: json!(15),
    }));
    assert_eq!(m.dispatch.as_ref().unwrap().result, Some(Ok(json!(15))));

    m.apply(Action::Dispatch {
        iid: 3,
        method: "fail".into(),
        args: vec![],
    });
    let req = sent(&mut m)[0].req();
    m.apply(frame(HubFrame::Error {
        req: Some(req),
        code: ErrorCode::ActionFailed,
        message: "Counter.fail: nope".into(),
    }));
    assert_eq!(
        m.dispatch.as_ref().unwrap().result,
        Some(Err("action_failed: Counter.fail: nope".into()))
    );
    assert_eq!(m.last_error, None);
}

#[test]
fn commands_without_a_connection_report_instead_of_sending() {
    let mut m = Model::default();
    m.apply(Action::Dispatch {
        iid: 3,
        method: "add".into(),
        args: vec![],
    });
    assert!(m.take_effects().is_empty());
    assert!(m.last_error.as_deref().unwrap().contains("not connected"));
    assert_eq!(m.dispatch, None);
}

#[test]
fn export_chunks_become_one_download_that_imports_back() {
    let mut m = connected();
    let mut recs = vec![mount(1)];
    recs.extend(increment(2, 1, 11));
    records(&mut m, recs.clone());
    sent(&mut m);
    m.apply(Action::Export);
    let req = sent(&mut m)[0].req();
    let text = Session {
        header: SessionHeader::new("0.1.0", 1000, 3),
        records: recs,
    }
    .to_jsonl();
    let (a, b) = text.split_at(text.len() / 2);
    m.apply(frame(HubFrame::ExportChunk {
        req,
        data: a.into(),
        last: false,
    }));
    assert!(m.take_effects().is_empty());
    m.apply(frame(HubFrame::ExportChunk {
        req,
        data: b.into(),
        last: true,
    }));
    let effects = m.take_effects();
    let Some(Effect::Download { name, text: got }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert!(name.ends_with(".jsonl"));
    assert_eq!(&**got, text.as_str());

    // a fresh panel with no server shows the same records
    let mut offline = Model::default();
    offline.apply(Action::Import {
        name: "s.jsonl".into(),
        text: Rc::clone(got),
    });
    assert!(matches!(offline.source, Source::Imported { .. }));
    let seqs: Vec<u64> = offline.log.rows().iter().map(|r| r.seq).collect();
    let live: Vec<u64> = m.log.rows().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, live);
    assert_eq!(
        offline.instances.by_iid(3).unwrap().state,
        Some(json!({"count": 11}))
    );
}

#[test]
fn bad_import_keeps_what_was_there() {
    let mut m = connected();
    records(&mut m, vec![mount(1)]);
    m.apply(Action::Import {
        name: "x.jsonl".into(),
        text: "not json".into(),
    });
    assert_eq!(m.log.len(), 1);
    assert_eq!(m.source, Source::Live);
    assert!(m.last_error.as_deref().unwrap().contains("x.jsonl"));
}

#[test]
fn imported_view_ignores_live_records_until_return() {
    let mut m = connected();
    import_one_mount(&mut m);
    records(&mut m, increment(5, 1, 11).to_vec());
    assert_eq!(m.log.len(), 1);
    assert_eq!(m.ignored_live, 2);
    sent(&mut m);
    m.apply(Action::ReturnToLive);
    assert_eq!(m.log.len(), 0);
    assert!(matches!(
        sent(&mut m)[0],
        PanelCommand::Subscribe { from_seq: None, .. }
    ));
}

#[test]
fn selection_moves_the_highlight_and_picker_selects() {
    let mut m = connected();
    sent(&mut m);
    m.apply(Action::Select(Some(3)));
    assert!(matches!(
        sent(&mut m)[..],
        [PanelCommand::Highlight {
            iid: 3,
            on: true,
            ..
        }]
    ));
    m.apply(Action::Picker(true));
    assert!(m.picking);
    sent(&mut m);
    m.apply(frame(HubFrame::Picked { iid: Some(7) }));
    assert!(!m.picking);
    assert_eq!(m.selected, Some(7));
    let cmds = sent(&mut m);
    assert!(
        matches!(
            cmds[..],
            [
                PanelCommand::Highlight {
                    iid: 3,
                    on: false,
                    ..
                },
                PanelCommand::Highlight {
                    iid: 7,
                    on: true,
                    ..
                }
            ]
        ),
        "{cmds:?}"
    );
    // hovering the selected instance does not clear its outline
    m.apply(Action::Hover(7, false));
    assert!(sent(&mut m).is_empty());
}

#[test]
fn travel_previews_locally_and_back_to_live_clears() {
    let mut m = connected();
    let mut recs = vec![mount(1)];
    recs.extend(increment(2, 1, 11));
    recs.extend(increment(4, 2, 12));
    records(&mut m, recs);
    sent(&mut m);
    m.apply(Action::TimeTravel(3, 1));
    assert_eq!(
        m.preview.as_ref().unwrap().state,
        Some(Ok(json!({"count": 10})))
    );
    let cmds = sent(&mut m);
    let PanelCommand::TimeTravel {
        req,
        iid: 3,
        version: 1,
    } = cmds[0]
    else {
        panic!("{cmds:?}")
    };
    m.apply(frame(HubFrame::Ack { req }));
    assert!(m.instances.by_iid(3).unwrap().travelling);
    assert!(matches!(sent(&mut m)[..], [PanelCommand::Snapshot { .. }]));
    m.apply(Action::BackToLive(3));
    let req = sent(&mut m)[0].req();
    m.apply(frame(HubFrame::Ack { req }));
    assert!(!m.instances.by_iid(3).unwrap().travelling);
    assert_eq!(m.preview, None);
}

#[test]
fn offline_preview_ends_without_a_server() {
    let mut recs = vec![mount(1)];
    recs.extend(increment(2, 1, 11));
    let text = Session {
        header: SessionHeader::new("0.1.0", 1, 3),
        records: recs,
    }
    .to_jsonl();
    let mut m = Model::default();
    m.apply(Action::Import {
        name: "s".into(),
        text: text.into(),
    });
    m.apply(Action::Preview(3, 1));
    assert_eq!(
        m.preview.as_ref().unwrap().state,
        Some(Ok(json!({"count": 10})))
    );
    m.apply(Action::Preview(3, 7));
    assert!(matches!(m.preview.as_ref().unwrap().state, Some(Err(_))));
    m.apply(Action::EndPreview);
    assert_eq!(m.preview, None);
    assert!(m.take_effects().is_empty());
}

#[test]
fn preview_of_unrecorded_version_asks_the_server() {
    let mut m = connected();
    sent(&mut m);
    m.apply(Action::Preview(3, 9));
    let cmds = sent(&mut m);
    let PanelCommand::StateAt {
        req,
        iid: 3,
        version: Some(9),
    } = cmds[0]
    else {
        panic!("{cmds:?}")
    };
    m.apply(frame(HubFrame::State {
        req,
        iid: 3,
        version: 9,
        state: json!({"count": 1}),
    }));
    assert_eq!(
        m.preview.as_ref().unwrap().state,
        Some(Ok(json!({"count": 1})))
    );
}

#[test]
fn snapshot_answer_lists_instances_and_status_counts_drops() {
    let mut m = connected();
    let snap = SnapshotFrame {
        req: 99,
        instances: vec![InstanceInfo {
            iid: 4,
            id: "todos".into(),
            component: "TodoList".into(),
            conn: 2,
            version: 3,
            state: json!({"items": []}),
            props: json!({}),
            travelling: false,
        }],
        connections: 1,
        total_mounted: 4,
    };
    m.apply(frame(HubFrame::Snapshot(snap)));
    assert_eq!(m.instances.live_count(), 1);
    assert_eq!(m.connections, 1);
    m.apply(frame(HubFrame::Status {
        recording: false,
        dropped: 17,
    }));
    assert!(!m.recording);
    assert_eq!(m.dropped, 17);
}

#[test]
fn clear_forgets_records_and_tells_the_server() {
    let mut m = connected();
    records(&mut m, vec![mount(1)]);
    sent(&mut m);
    m.apply(Action::Clear);
    assert_eq!(m.log.len(), 0);
    assert!(m.filtered.is_empty());
    let cmds = sent(&mut m);
    assert!(
        matches!(
            cmds[..],
            [PanelCommand::Clear { .. }, PanelCommand::Snapshot { .. }]
        ),
        "{cmds:?}"
    );
}

#[test]
fn replay_needs_a_session_and_reports() {
    let mut m = connected();
    m.apply(Action::Replay);
    assert!(m.last_error.is_some());
    import_one_mount(&mut m);
    sent(&mut m);
    m.apply(Action::Replay);
    let req = sent(&mut m)[0].req();
    assert_eq!(m.replay, Some(None));
    let report = ReplayReport {
        instances: 1,
        actions: 0,
        divergence: None,
    };
    m.apply(frame(HubFrame::Replay {
        req,
        report: report.clone(),
    }));
    assert_eq!(m.replay, Some(Some(Ok(report))));
}

#[test]
fn snapshot_asked_while_one_is_in_flight_is_asked_again_after_it() {
    let mut m = Model::default();
    m.apply(Action::Status(ConnStatus::Connected));
    m.apply(frame(hello(1000)));
    let first = sent(&mut m)[1].req();
    m.apply(Action::Refresh);
    assert!(sent(&mut m).is_empty());
    m.apply(frame(empty_snapshot(first)));
    assert!(matches!(sent(&mut m)[..], [PanelCommand::Snapshot { .. }]));
}

#[test]
fn a_runtime_speaking_another_debug_protocol_is_disconnected() {
    let mut m = Model::default();
    m.apply(Action::Status(ConnStatus::Connected));
    let HubFrame::Hello(mut h) = hello(1000) else {
        unreachable!()
    };
    h.protocol = DEBUG_PROTOCOL_VERSION + 1;
    m.apply(frame(HubFrame::Hello(h)));
    let effects = m.take_effects();
    let want = format!("protocol v{}", DEBUG_PROTOCOL_VERSION + 1);
    assert!(
        matches!(&effects[..], [Effect::Disconnect(why)] if why.contains(&want)),
        "{effects:?}"
    );
    assert_ne!(m.status, ConnStatus::Connected);
    m.apply(Action::Status(ConnStatus::Closed("x".into())));
    assert_eq!(m.status, ConnStatus::Closed("x".into()));
}

#[test]
fn otlp_export_is_offered_only_when_announced_and_downloads_a_trace_file() {
    let mut m = connected();
    assert!(!m.can_export_otlp());
    if let Some(h) = m.hello.as_mut() {
        h.capabilities.push("export:otlp-json".into());
    }
    assert!(m.can_export_otlp());
    sent(&mut m);
    m.apply(Action::ExportOtlp);
    let cmd = sent(&mut m).remove(0);
    let req = cmd.req();
    assert!(
        matches!(&cmd, PanelCommand::Export { format: Some(f), .. } if f == "otlp-json"),
        "{cmd:?}"
    );
    m.apply(frame(HubFrame::ExportChunk {
        req,
        data: "{\"resourceSpans\":[]}".into(),
        last: true,
    }));
    let downloads: Vec<String> = m
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Download { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(downloads.len(), 1);
    assert!(downloads[0].ends_with(".otlp.json"), "{downloads:?}");
    assert!(
        m.session_text.is_none(),
        "an OTLP body is not a browsable session"
    );
}

#[test]
fn a_session_larger_than_one_part_is_sent_in_parts_under_one_ref() {
    let mut m = connected();
    let mut recs = vec![mount(1)];
    let mut seq = 2;
    // Enough records for a session file of several parts.
    while recs.len() < 8_000 {
        recs.extend(increment(seq, seq - 1, seq as i64));
        seq += 2;
    }
    let text = Session {
        header: SessionHeader::new("0.1.0", 1, seq),
        records: recs,
    }
    .to_jsonl();
    assert!(text.len() > 2 * REPLAY_PART_BYTES, "{} bytes", text.len());
    m.apply(Action::Import {
        name: "big".into(),
        text: text.clone().into(),
    });
    sent(&mut m);
    m.apply(Action::Replay);
    let cmds = sent(&mut m);
    assert!(cmds.len() >= 3, "{} parts", cmds.len());
    let req = cmds[0].req();
    let mut joined = String::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let PanelCommand::Replay {
            req: r,
            session,
            more,
        } = cmd
        else {
            panic!("part {i} is not a replay: {cmd:?}");
        };
        assert_eq!(*r, req);
        assert_eq!(*more, i + 1 < cmds.len(), "part {i}");
        assert!(session.len() <= REPLAY_PART_BYTES);
        joined.push_str(session);
    }
    assert_eq!(joined, text);
    assert_eq!(m.replay, Some(None));
}
