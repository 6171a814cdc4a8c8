//! `fxdesk record` and `fxdesk market` as child processes: a recorder SIGKILLed mid-feed leaves
//! an archive that reads back exactly the ticks it had recorded; restarted on the same feed it
//! completes the archive without duplicating a tick; `--listen` archives posted quotes; the
//! import command prints its report.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fxdesk_market::archive::read_all;
use fxdesk_market::{read_tick_file, Catalog, Tick};

fn fxdesk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fxdesk"))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../market/data")
        .join(name)
}

/// Reads the child's first stdout line.
fn first_line(child: &mut Child) -> (String, BufReader<std::process::ChildStdout>) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    (line, reader)
}

fn archived(dir: &Path) -> Vec<Tick> {
    let (ticks, report) = read_all(dir, &Catalog::defaults(), i64::MIN, i64::MAX).unwrap();
    assert_eq!(report.corrupt_lines, 0, "{report}");
    ticks
}

#[test]
fn killed_recorder_keeps_exactly_what_it_recorded_and_a_restart_completes_it() {
    let catalog = Catalog::defaults();
    let feed = data("ticks_sample.csv");
    let expected = read_tick_file(&feed, |s| catalog.lookup(s)).unwrap().ticks;
    assert_eq!(expected.len(), 400);
    let archive = tempfile::tempdir().unwrap();

    // 200 hours of ticks in about 3 seconds; killed once some are on disk.
    let mut child = fxdesk()
        .args(["record", "--flush-ms", "5", "--speed", "240000", "--feed"])
        .arg(&feed)
        .arg("--archive")
        .arg(archive.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (line, _stdout) = first_line(&mut child);
    assert!(line.starts_with("recording to"), "{line:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let (ticks, _) = read_all(archive.path(), &catalog, i64::MIN, i64::MAX).unwrap();
        if ticks.len() >= 20 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let first = archived(archive.path());
    assert!(!first.is_empty(), "nothing was recorded before the kill");
    assert!(
        first.len() < expected.len(),
        "the feed finished before the kill"
    );
    // Each instrument's file holds exactly a prefix of that instrument's ticks (the files are
    // flushed one after the other, so the kill may fall between two of them).
    for instrument in [0u16, 1] {
        let of = |ticks: &[Tick]| -> Vec<Tick> {
            ticks
                .iter()
                .copied()
                .filter(|t| t.instrument.0 == instrument)
                .collect()
        };
        let (got, all) = (of(&first), of(&expected));
        assert_eq!(
            got,
            all[..got.len()],
            "instrument {instrument}: a prefix, exactly"
        );
    }
    assert!(first.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));

    // Restarted on the same feed, as fast as possible: it completes the archive.
    let output = fxdesk()
        .args(["record", "--speed", "10000000", "--feed"])
        .arg(&feed)
        .arg("--archive")
        .arg(archive.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "recorded {} ticks (skipped {}",
            expected.len() - first.len(),
            first.len()
        )),
        "{stdout}"
    );
    assert_eq!(archived(archive.path()), expected);

    // The archive merges both instruments in time order.
    let instruments: std::collections::BTreeSet<u16> =
        expected.iter().map(|t| t.instrument.0).collect();
    assert_eq!(instruments.len(), 2);
}

fn post(addr: &str, token: Option<&str>, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "POST /v1/quotes HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap()
}

#[test]
fn listening_recorder_archives_posted_quotes_and_refuses_bad_ones() {
    let archive = tempfile::tempdir().unwrap();
    let mut child = fxdesk()
        .args(["record", "--listen", "127.0.0.1:0", "--archive"])
        .arg(archive.path())
        .env("FXDESK_RECORD_TOKEN", "feed-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, mut stdout) = first_line(&mut child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();

    let token = Some("feed-secret");
    let quote = |time: &str, bid: &str, ask: &str| {
        format!(r#"{{"instrument":"USD/JPY","bid":"{bid}","ask":"{ask}","time":"{time}"}}"#)
    };
    assert_eq!(
        post(
            &addr,
            token,
            &quote("2024-01-02T00:00:00Z", "141.100", "141.105")
        ),
        201
    );
    assert_eq!(
        post(
            &addr,
            token,
            &quote("2024-01-02T00:00:01Z", "141.110", "141.115")
        ),
        201
    );
    assert_eq!(
        post(
            &addr,
            None,
            &quote("2024-01-02T00:00:02Z", "141.1", "141.2")
        ),
        401
    );
    assert_eq!(post(&addr, token, "{not json"), 400);
    assert_eq!(
        post(
            &addr,
            token,
            &quote("2024-01-02T00:00:03Z", "141.2", "141.1")
        ),
        422
    );
    assert_eq!(
        post(
            &addr,
            token,
            &quote("2024-01-02T00:00:04Z", "141.1234", "141.2")
        ),
        422
    );

    // SIGTERM: syncs and exits cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success());
    let ticks = archived(archive.path());
    assert_eq!(ticks.len(), 2);
    assert_eq!((ticks[1].bid, ticks[1].ask), (141_110, 141_115));
}

#[test]
fn market_import_prints_the_report_and_writes_what_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("DAT_ASCII_EURUSD_T_201202.csv");
    std::fs::write(
        &file,
        "20120201 000003660,1.306600,1.306770,0\n\
         20120201 000003660,1.306600,1.306770,0\n\
         20120201 000003973,1.306580,1.306750,0\n\
         20120201 000004000,1.306900,1.306750,0\n\
         garbage\n",
    )
    .unwrap();
    let out = dir.path().join("out.csv");
    let archive = dir.path().join("archive");
    let output = fxdesk()
        .args([
            "market",
            "import",
            "--format",
            "histdata",
            "--instrument",
            "EUR/USD",
        ])
        .arg(&file)
        .arg("--out-csv")
        .arg(&out)
        .arg("--archive")
        .arg(&archive)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("ticks used 2, rejected 3"), "{stdout}");
    assert!(
        stdout.contains("duplicate") && stdout.contains("line 2:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("crossed") && stdout.contains("line 4:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("malformed") && stdout.contains("line 5:"),
        "{stdout}"
    );
    let catalog = Catalog::defaults();
    let written = read_tick_file(&out, |s| catalog.lookup(s)).unwrap().ticks;
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].bid, 130_660);
    assert_eq!(archived(&archive), written);

    // --strict turns left-out lines into a failure.
    let strict = fxdesk()
        .args([
            "market",
            "import",
            "--strict",
            "--format",
            "histdata",
            "--instrument",
            "EUR/USD",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!strict.status.success());
}

#[test]
fn ticks_from_real_bars_are_deterministic_and_read_back_from_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        let output = fxdesk()
            .args([
                "market",
                "ticks-from-bars",
                "--seed",
                "7",
                "--ticks-per-bar",
                "30",
            ])
            .args([
                "--from",
                "2017-04-21T18:00:00Z",
                "--to",
                "2017-04-24T00:00:00Z",
            ])
            .arg("--bars")
            .arg(data("EURUSD_H1_2017-04_2018-02.csv"))
            .arg("--out-csv")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(out).unwrap()
    };
    let first = run(&dir.path().join("a.csv"));
    assert_eq!(first, run(&dir.path().join("b.csv")));
    let catalog = Catalog::defaults();
    let ticks = read_tick_file(&dir.path().join("a.csv"), |s| catalog.lookup(s))
        .unwrap()
        .ticks;
    // Friday 18:00..21:00 and Sunday 21:00..24:00: 6 bars of 30 ticks.
    assert_eq!(ticks.len(), 180);
}
