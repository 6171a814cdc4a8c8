//! The monitor end to end: configuration, push counts, poll ingestion, waiting for late
//! streams, and alarms that explain themselves.
#![allow(clippy::unwrap_used)]

use fxdesk_signals::counts::{COUNT_HISTORY_MINUTES, COUNT_PER_MINUTE_MAX};
use fxdesk_signals::dat::DatPost;
use fxdesk_signals::monitor::STREAM_WAIT_MINUTES_MAX;
use fxdesk_signals::poll::DatPoll;
use fxdesk_signals::{Sensitivity, SignalsConfig, SignalsError, SignalsMonitor, UnixMinute};

const CONFIG: &str = r#"
sensitivity = "standard"

[[streams]]
name = "5ch/ours"
role = "ours"
groups = ["5ch"]

[[streams]]
name = "5ch/peer-a"
role = "peer"
groups = ["5ch"]

[[streams]]
name = "5ch/peer-b"
role = "peer"
groups = ["5ch"]
"#;

const START: UnixMinute = UnixMinute(28_713_600); // 2024-08-05T00:00Z

fn monitor() -> SignalsMonitor {
    let config: SignalsConfig = toml::from_str(CONFIG).unwrap();
    assert_eq!(config.sensitivity, Sensitivity::Standard);
    SignalsMonitor::new(&config, START).unwrap()
}

/// Pushes one minute for all three streams and advances past it.
fn push(
    monitor: &mut SignalsMonitor,
    minute: UnixMinute,
    ours: u32,
    a: u32,
    b: u32,
) -> Vec<fxdesk_signals::Alarm> {
    let now = minute.plus(1);
    monitor.record_count("5ch/ours", minute, ours, now).unwrap();
    monitor.record_count("5ch/peer-a", minute, a, now).unwrap();
    monitor.record_count("5ch/peer-b", minute, b, now).unwrap();
    monitor.advance(now)
}

/// Deterministic "noisy" counts around a mean (no RNG needed for this test).
fn wobble(mean: u32, i: i64) -> u32 {
    let offsets = [0i64, 2, -1, 3, -2, 1, -3, 0, 2, -1];
    (i64::from(mean) + offsets[(i % 10) as usize] * i64::from(mean) / 10).max(0) as u32
}

#[test]
fn configuration_is_validated() {
    let bad = [
        // Two `ours` in a group.
        "[[streams]]\nname='a'\nrole='ours'\ngroups=['g']\n[[streams]]\nname='b'\nrole='ours'\ngroups=['g']\n[[streams]]\nname='c'\nrole='peer'\ngroups=['g']",
        // No peer.
        "[[streams]]\nname='a'\nrole='ours'\ngroups=['g']",
        // Duplicate name.
        "[[streams]]\nname='a'\nrole='ours'\ngroups=['g']\n[[streams]]\nname='a'\nrole='peer'\ngroups=['g']",
        // Empty name.
        "[[streams]]\nname=''\nrole='ours'\ngroups=['g']\n[[streams]]\nname='b'\nrole='peer'\ngroups=['g']",
        // Nothing.
        "streams = []",
        // No group, and a group listed twice.
        "[[streams]]\nname='a'\nrole='ours'\ngroups=[]\n[[streams]]\nname='b'\nrole='peer'\ngroups=['g']",
        "[[streams]]\nname='a'\nrole='ours'\ngroups=['g','g']\n[[streams]]\nname='b'\nrole='peer'\ngroups=['g']",
    ];
    for text in bad {
        let config: SignalsConfig = toml::from_str(text).unwrap();
        let error = SignalsMonitor::new(&config, START).unwrap_err();
        assert!(matches!(error, SignalsError::Config(_)), "{text}: {error}");
    }
    // Unknown role is refused by the format itself.
    assert!(
        toml::from_str::<SignalsConfig>("[[streams]]\nname='a'\nrole='boss'\ngroups=['g']")
            .is_err()
    );
}

#[test]
fn push_counts_are_bounded_and_idempotent() {
    let mut monitor = monitor();
    let now = START.plus(10);
    assert!(matches!(
        monitor.record_count("nope", now, 1, now),
        Err(SignalsError::UnknownStream(_))
    ));
    assert!(monitor
        .record_count("5ch/ours", now.plus(60), 1, now)
        .is_err());
    assert!(monitor
        .record_count(
            "5ch/ours",
            now.plus(-(COUNT_HISTORY_MINUTES as i64)),
            1,
            now
        )
        .is_err());
    assert!(monitor
        .record_count("5ch/ours", now, COUNT_PER_MINUTE_MAX + 1, now)
        .is_err());
    // Retrying the same push sets the same value: no double counting.
    monitor.record_count("5ch/ours", START, 7, now).unwrap();
    monitor.record_count("5ch/ours", START, 7, now).unwrap();
    let error = monitor.record_count("5ch/ours", START, 7, START.plus(-5));
    assert!(error.is_err(), "a minute after `now` is refused");
}

#[test]
fn outage_alarms_with_an_explanation_and_market_spike_does_not() {
    let mut monitor = monitor();
    let mut minute = START;
    // Three quiet hours: ours ~10/min, peers ~20 and ~15.
    for i in 0..180 {
        assert!(push(
            &mut monitor,
            minute,
            wobble(10, i),
            wobble(20, i + 3),
            wobble(15, i + 7)
        )
        .is_empty());
        minute = minute.plus(1);
    }
    // A market-wide spike: everyone x8 for 20 minutes.
    for i in 0..20 {
        let alarms = push(
            &mut monitor,
            minute,
            wobble(80, i),
            wobble(160, i + 3),
            wobble(120, i + 5),
        );
        assert!(alarms.is_empty(), "market spike raised {alarms:?}");
        minute = minute.plus(1);
    }
    for i in 0..60 {
        assert!(push(
            &mut monitor,
            minute,
            wobble(10, i),
            wobble(20, i + 3),
            wobble(15, i + 7)
        )
        .is_empty());
        minute = minute.plus(1);
    }
    // Our outage: ours x3, peers unchanged.
    let outage_start = minute;
    let mut alarm = None;
    for i in 0..10 {
        let alarms = push(
            &mut monitor,
            minute,
            wobble(30, i),
            wobble(20, i + 3),
            wobble(15, i + 7),
        );
        minute = minute.plus(1);
        if let Some(first) = alarms.into_iter().next() {
            alarm = Some(first);
            break;
        }
    }
    let alarm = alarm.expect("outage not detected within 10 minutes");
    eprintln!("{}", alarm.summary);
    assert!(alarm.fired_at.0 - outage_start.0 <= 2, "{alarm:?}");
    assert_eq!(alarm.onset, outage_start);
    assert_eq!(alarm.group, "5ch");
    assert_eq!(alarm.ours_stream, "5ch/ours");
    assert!(
        (alarm.ratio_usual - 10.0 / 35.0).abs() < 0.02,
        "{}",
        alarm.ratio_usual
    );
    assert!(
        alarm.ours_per_minute > 25.0 && alarm.expected_per_minute < 12.0,
        "{alarm:?}"
    );
    assert_eq!(alarm.peers.len(), 2);
    assert_eq!(alarm.peers[0].stream, "5ch/peer-a");
    assert!(
        alarm.summary.contains("5ch/ours rose to"),
        "{}",
        alarm.summary
    );
    assert!(alarm.summary.contains("5ch/peer-b"), "{}", alarm.summary);
    assert!(alarm.score >= alarm.threshold);
}

#[test]
fn a_silent_peer_poller_delays_then_skips_minutes_but_never_alarms() {
    let mut monitor = monitor();
    let mut minute = START;
    for i in 0..150 {
        push(
            &mut monitor,
            minute,
            wobble(10, i),
            wobble(20, i),
            wobble(15, i),
        );
        minute = minute.plus(1);
    }
    // peer-b's poller stops reporting: its counts would read 0, which would triple our share.
    for i in 0..30 {
        let now = minute.plus(1);
        monitor
            .record_count("5ch/ours", minute, wobble(10, i), now)
            .unwrap();
        monitor
            .record_count("5ch/peer-a", minute, wobble(20, i), now)
            .unwrap();
        assert!(monitor.advance(now).is_empty());
        minute = minute.plus(1);
    }
    let status = &monitor.status()[0];
    assert_eq!(status.waiting_for, ["5ch/peer-b"]);
    assert_eq!(status.minutes_skipped, 30 - STREAM_WAIT_MINUTES_MAX as u64);
    assert_eq!(status.minutes_judged, 150);
}

#[test]
fn dat_polls_feed_counts_and_complete_minutes() {
    let mut monitor = monitor();
    let post = |at_ms: i64| DatPost {
        number: 1,
        name: String::new(),
        mail: String::new(),
        posted_at_unix_ms: at_ms,
        poster_id: None,
        body: String::new(),
    };
    let minute_ms = START.start_unix_s() * 1000;
    let poll = DatPoll {
        new_posts: vec![
            post(minute_ms + 1_000),
            post(minute_ms + 59_000),
            post(minute_ms + 61_000),
            // A board clock far ahead, and a post from days ago: counted as out of window.
            post(minute_ms + 3_600_000),
            post(minute_ms - 3 * 86_400_000),
        ],
        ..DatPoll::default()
    };
    let polled_at = minute_ms + 135_000;
    let report = monitor
        .record_dat_poll("5ch/ours", &poll, polled_at)
        .unwrap();
    assert_eq!(report.counted, 3);
    assert_eq!(report.out_of_window, 2);
    assert!(monitor
        .record_dat_poll("5ch/unknown", &poll, polled_at)
        .is_err());
    // Minutes 0 and 1 are complete for ours (polled at 2:15, settle 10 s); the peers say nothing
    // yet, so nothing is judged.
    monitor.advance(START.plus(2));
    assert_eq!(monitor.status()[0].minutes_judged, 0);
    for peer in ["5ch/peer-a", "5ch/peer-b"] {
        monitor
            .record_dat_poll(peer, &DatPoll::default(), polled_at)
            .unwrap();
    }
    monitor.advance(START.plus(2));
    assert_eq!(monitor.status()[0].minutes_judged, 2);
    // A post for a minute already judged is counted, and reported late.
    let late = DatPoll {
        new_posts: vec![post(minute_ms + 5_000)],
        ..DatPoll::default()
    };
    let report = monitor
        .record_dat_poll("5ch/ours", &late, polled_at)
        .unwrap();
    assert_eq!((report.counted, report.late), (1, 1));
}

#[test]
fn call_centre_is_judged_against_the_peers_boards() {
    let config: SignalsConfig = toml::from_str(
        r#"
        [[streams]]
        name = "5ch/ours"
        role = "ours"
        groups = ["5ch"]
        [[streams]]
        name = "5ch/peer-a"
        role = "peer"
        groups = ["5ch", "calls"]
        [[streams]]
        name = "5ch/peer-b"
        role = "peer"
        groups = ["5ch", "calls"]
        [[streams]]
        name = "calls/ours"
        role = "ours"
        groups = ["calls"]
        "#,
    )
    .unwrap();
    let mut monitor = SignalsMonitor::new(&config, START).unwrap();
    let status = monitor.status();
    assert_eq!(status.len(), 2);
    assert_eq!(status[0].group, "5ch");
    assert_eq!(status[0].peers, status[1].peers);

    let mut minute = START;
    let mut step = |monitor: &mut SignalsMonitor, calls: u32, board: u32, a: u32, b: u32| {
        let now = minute.plus(1);
        for (stream, count) in [
            ("calls/ours", calls),
            ("5ch/ours", board),
            ("5ch/peer-a", a),
            ("5ch/peer-b", b),
        ] {
            monitor.record_count(stream, minute, count, now).unwrap();
        }
        minute = now;
        monitor.advance(now)
    };
    for i in 0..200 {
        assert!(step(
            &mut monitor,
            wobble(12, i),
            wobble(10, i + 1),
            wobble(20, i + 2),
            wobble(15, i + 3)
        )
        .is_empty());
    }
    // The whole market gets excited: calls rise with the peers' chatter, nothing pages.
    for i in 0..15 {
        let alarms = step(
            &mut monitor,
            wobble(60, i),
            wobble(50, i + 1),
            wobble(100, i + 2),
            wobble(75, i + 3),
        );
        assert!(alarms.is_empty(), "{alarms:?}");
    }
    for i in 0..60 {
        assert!(step(
            &mut monitor,
            wobble(12, i),
            wobble(10, i + 1),
            wobble(20, i + 2),
            wobble(15, i + 3)
        )
        .is_empty());
    }
    // Our phones ring while the boards stay calm (our board too): the "calls" group alarms.
    let mut alarms = Vec::new();
    for i in 0..10 {
        alarms.extend(step(
            &mut monitor,
            wobble(40, i),
            wobble(10, i + 1),
            wobble(20, i + 2),
            wobble(15, i + 3),
        ));
    }
    assert!(!alarms.is_empty());
    assert!(
        alarms.iter().all(|alarm| alarm.group == "calls"),
        "{alarms:?}"
    );
}
