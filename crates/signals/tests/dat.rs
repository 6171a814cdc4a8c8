//! Parsing real-format dat threads (Shift_JIS, broken lines, missing fields) and polling them
//! from a file and over HTTP from a real server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use fxdesk_signals::dat::{parse_board_date, parse_thread, DatLineProblem};
use fxdesk_signals::poll::DatPoller;
use fxdesk_signals::time::{days_from_civil, JST_OFFSET_S};
use fxdesk_signals::Source;

const FIXTURE: &[u8] = include_bytes!("data/thread.dat");

fn jst_ms(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
    (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - JST_OFFSET_S) * 1000
}

fn sjis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(
        !unmappable,
        "fixture text must be representable in Shift_JIS"
    );
    bytes.into_owned()
}

fn post_line(number: u32, time: &str, body: &str, title: &str) -> String {
    format!("名無しさん<>sage<>2024/08/05(月) {time} ID:id{number:04}<>{body}<>{title}\n")
}

#[test]
fn fixture_thread_counts_every_bad_line_by_reason() {
    let thread = parse_thread(FIXTURE);
    let report = &thread.report;
    assert_eq!(report.lines_total, 9);
    assert_eq!(report.posts_parsed, 5);
    assert_eq!(report.missing_fields, 1);
    assert_eq!(report.undecodable, 1);
    assert_eq!(report.deleted, 1);
    assert_eq!(report.bad_date, 1);
    assert_eq!(report.line_too_long, 0);
    assert_eq!(
        report.lines_rejected() + report.posts_parsed,
        report.lines_total
    );

    assert_eq!(
        thread.title.as_deref(),
        Some("【FX】ドル円デスク Part1【障害】")
    );
    let numbers: Vec<u32> = thread.posts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 7, 8, 9], "post numbers are line numbers");
    let first = &thread.posts[0];
    assert_eq!(first.name, "名無しさん@お腹いっぱい。");
    assert_eq!(first.mail, "sage");
    assert_eq!(first.poster_id.as_deref(), Some("AbCdEf0"));
    assert_eq!(first.body, "ログインできない <br> 落ちてる？");
    assert_eq!(first.posted_at_unix_ms, jst_ms(2024, 8, 5, 9, 12, 34) + 560);
    // CRLF line: the \r does not leak into the fields.
    assert_eq!(thread.posts[2].body, "戻った？");
    // Two-digit year of old threads.
    assert_eq!(
        thread.posts[3].posted_at_unix_ms,
        jst_ms(2024, 8, 5, 9, 15, 10)
    );

    // Each bad line is kept with its position.
    let problems: Vec<(u32, &DatLineProblem)> = report
        .first_errors
        .iter()
        .map(|e| (e.line_number, &e.problem))
        .collect();
    assert!(matches!(
        problems[0],
        (3, DatLineProblem::MissingFields { fields_found: 3 })
    ));
    assert!(matches!(problems[1], (4, DatLineProblem::Undecodable)));
    assert!(matches!(problems[2], (5, DatLineProblem::Deleted)));
    assert!(matches!(problems[3], (6, DatLineProblem::BadDate { .. })));
    let line_4_offset = FIXTURE
        .split(|&b| b == b'\n')
        .take(3)
        .map(|line| line.len() as u64 + 1)
        .sum::<u64>();
    assert_eq!(report.first_errors[1].byte_offset, line_4_offset);
}

#[test]
fn encoded_lines_round_trip_and_empty_input_is_fine() {
    let text = post_line(1, "23:59:59.99", "板が重い", "スレ");
    let thread = parse_thread(&sjis(&text));
    assert_eq!(thread.report.posts_parsed, 1);
    assert_eq!(thread.posts[0].body, "板が重い");
    assert_eq!(
        thread.posts[0].posted_at_unix_ms,
        jst_ms(2024, 8, 5, 23, 59, 59) + 990
    );
    let empty = parse_thread(b"");
    assert_eq!(empty.report.lines_total, 0);
    let blank = parse_thread(b"\n\n");
    assert_eq!(blank.report.missing_fields, 2);
    // A UTF-8 thread is not Shift_JIS: its lines are counted as undecodable, not misread.
    let utf8 = parse_thread(text.as_bytes());
    assert_eq!(utf8.report.posts_parsed + utf8.report.undecodable, 1);
}

#[test]
fn over_long_line_is_counted_not_parsed() {
    let mut bytes = sjis(&post_line(1, "09:00:00.00", "ok", "t"));
    bytes.extend(std::iter::repeat_n(
        b'a',
        fxdesk_signals::dat::DAT_LINE_BYTES_MAX + 1,
    ));
    bytes.push(b'\n');
    bytes.extend(sjis(&post_line(3, "09:00:01.00", "ok", "")));
    let thread = parse_thread(&bytes);
    assert_eq!(thread.report.line_too_long, 1);
    assert_eq!(thread.report.posts_parsed, 2);
    assert_eq!(thread.posts[1].number, 3);
}

#[test]
fn date_field_variants() {
    assert!(parse_board_date("2024/08/05(月) 09:12:34.56 ID:AbCdEf0").is_some());
    assert!(parse_board_date("2024/08/05（月） 09:12:34").is_some());
    assert!(parse_board_date("2024/08/05(Mon) 09:12:34.5 ID:x BE:1-2").is_some());
    assert!(parse_board_date("2024/08/05(月) 9:12:34").is_some());
    assert!(parse_board_date("Over 1000 Thread").is_none());
    assert!(parse_board_date("2024/08/05(月)").is_none());
}

#[test]
fn file_poller_yields_only_new_complete_posts() {
    let dir = std::env::temp_dir().join(format!("fxdesk-signals-poll-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ours.dat");
    let title = "【FX】テスト Part1";
    let mut content = sjis(&post_line(1, "09:00:00.00", "一", title));
    content.extend(sjis(&post_line(2, "09:00:10.00", "二", "")));
    std::fs::write(&path, &content).unwrap();

    let mut poller = DatPoller::new(Source::File(path.clone()));
    let first = poller.poll().unwrap();
    assert_eq!(first.new_posts.len(), 2);
    assert_eq!(poller.title(), Some(title));
    assert!(poller.poll().unwrap().new_posts.is_empty());

    // A post half written: nothing until its newline arrives.
    let third = sjis(&post_line(3, "09:01:00.00", "三", ""));
    let (head, tail) = third.split_at(10);
    append(&path, head);
    assert!(poller.poll().unwrap().new_posts.is_empty());
    append(&path, tail);
    let poll = poller.poll().unwrap();
    assert_eq!(poll.new_posts.len(), 1);
    assert_eq!(poll.new_posts[0].number, 3);
    assert_eq!(poll.new_posts[0].body, "三");

    // The board deletes post 2 in place: the file changes length, same thread (same title).
    let mut rewritten = sjis(&post_line(1, "09:00:00.00", "一", title));
    rewritten.extend(sjis("あぼーん<>あぼーん<>あぼーん<>あぼーん<>\n"));
    rewritten.extend(sjis(&post_line(3, "09:01:00.00", "三", "")));
    rewritten.extend(sjis(&post_line(4, "09:02:00.00", "四", "")));
    std::fs::write(&path, &rewritten).unwrap();
    let poll = poller.poll().unwrap();
    assert!(poll.restarted);
    let numbers: Vec<u32> = poll.new_posts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [4], "posts already yielded are not yielded again");

    // A new thread replaces the file: everything in it is new.
    let mut next = sjis(&post_line(1, "10:00:00.00", "新", "【FX】テスト Part2"));
    next.extend(sjis(&post_line(2, "10:00:05.00", "新二", "")));
    std::fs::write(&path, &next).unwrap();
    let poll = poller.poll().unwrap();
    assert!(poll.restarted);
    assert_eq!(poll.new_posts.len(), 2);
    assert_eq!(poller.title(), Some("【FX】テスト Part2"));

    // A missing file is an error that loses nothing.
    let offset = poller.offset_bytes();
    std::fs::remove_file(&path).unwrap();
    assert!(poller.poll().is_err());
    assert_eq!(poller.offset_bytes(), offset);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn append(path: &std::path::Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// A tiny HTTP/1.1 file server on 127.0.0.1 for one growing dat file. It honours
/// `Range: bytes=N-` (206 / 416) unless `ignore_range`, can be told to fail with 503, and
/// records the ranges it was asked for.
struct DatServer {
    url: String,
    content: Arc<Mutex<Vec<u8>>>,
    fail: Arc<Mutex<bool>>,
    ranges_asked: Arc<Mutex<Vec<Option<u64>>>>,
}

impl DatServer {
    fn start(ignore_range: bool) -> DatServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/test/dat/1722816754.dat",
            listener.local_addr().unwrap()
        );
        let content = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(Mutex::new(false));
        let ranges_asked = Arc::new(Mutex::new(Vec::new()));
        let (c, f, r) = (content.clone(), fail.clone(), ranges_asked.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut range_start = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("range: bytes=") {
                        range_start = value.trim().trim_end_matches('-').parse::<u64>().ok();
                    }
                }
                r.lock().unwrap().push(range_start);
                let body = c.lock().unwrap().clone();
                let (status, payload, extra) = if *f.lock().unwrap() {
                    ("503 Service Unavailable", Vec::new(), String::new())
                } else {
                    match range_start {
                        Some(start) if !ignore_range => {
                            if start >= body.len() as u64 {
                                (
                                    "416 Range Not Satisfiable",
                                    Vec::new(),
                                    format!("Content-Range: bytes */{}\r\n", body.len()),
                                )
                            } else {
                                let part = body[start as usize..].to_vec();
                                let extra = format!(
                                    "Content-Range: bytes {start}-{}/{}\r\n",
                                    body.len() - 1,
                                    body.len()
                                );
                                ("206 Partial Content", part, extra)
                            }
                        }
                        _ => ("200 OK", body, String::new()),
                    }
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                    payload.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&payload);
                let _ = stream.flush();
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
            }
        });
        DatServer {
            url,
            content,
            fail,
            ranges_asked,
        }
    }

    fn append(&self, bytes: &[u8]) {
        self.content.lock().unwrap().extend_from_slice(bytes);
    }
}

#[test]
fn http_poller_reads_only_new_bytes_with_range() {
    let server = DatServer::start(false);
    server.append(&sjis(&post_line(1, "09:00:00.00", "落ちた？", "スレ")));
    server.append(&sjis(&post_line(2, "09:00:02.00", "落ちてる", "")));
    let mut poller = DatPoller::new(Source::Http(server.url.clone()));
    assert_eq!(poller.poll().unwrap().new_posts.len(), 2);
    let offset = poller.offset_bytes();

    // Nothing new: the server answers 206 with just the check byte.
    assert!(poller.poll().unwrap().new_posts.is_empty());
    server.append(&sjis(&post_line(3, "09:00:30.00", "ログインできない", "")));
    let poll = poller.poll().unwrap();
    assert_eq!(poll.new_posts.len(), 1);
    assert_eq!(poll.new_posts[0].body, "ログインできない");
    // Only the new bytes (plus the one check byte) crossed the wire.
    assert_eq!(poll.bytes_read, poller.offset_bytes() - offset);
    let ranges = server.ranges_asked.lock().unwrap().clone();
    assert_eq!(ranges, [None, Some(offset - 1), Some(offset - 1)]);

    // A failing server is an error; the next poll after recovery loses nothing.
    *server.fail.lock().unwrap() = true;
    server.append(&sjis(&post_line(4, "09:01:00.00", "まだ？", "")));
    let error = poller.poll().unwrap_err().to_string();
    assert!(error.contains("503"), "{error}");
    *server.fail.lock().unwrap() = false;
    let poll = poller.poll().unwrap();
    assert_eq!(poll.new_posts.len(), 1);
    assert_eq!(poll.new_posts[0].number, 4);

    // The thread shrinks (replaced): 416 with the new length, then a fresh read.
    *server.content.lock().unwrap() = sjis(&post_line(1, "11:00:00.00", "次スレ", "次"));
    let poll = poller.poll().unwrap();
    assert!(poll.restarted);
    assert_eq!(poll.new_posts.len(), 1);
    assert_eq!(poll.new_posts[0].body, "次スレ");
}

#[test]
fn http_poller_copes_with_a_server_that_ignores_range() {
    let server = DatServer::start(true);
    server.append(&sjis(&post_line(1, "09:00:00.00", "一", "スレ")));
    let mut poller = DatPoller::new(Source::Http(server.url.clone()));
    assert_eq!(poller.poll().unwrap().new_posts.len(), 1);
    server.append(&sjis(&post_line(2, "09:00:01.00", "二", "")));
    server.append(&sjis(&post_line(3, "09:00:02.00", "三", "")));
    let poll = poller.poll().unwrap();
    let numbers: Vec<u32> = poll.new_posts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [2, 3]);
    assert!(!poll.restarted);
}

#[test]
fn unreachable_url_is_a_clear_error() {
    // Bind then drop a listener: the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut poller = DatPoller::new(Source::Http(format!("http://127.0.0.1:{port}/x.dat")));
    let error = poller.poll().unwrap_err().to_string();
    assert!(error.contains("127.0.0.1"), "{error}");
}

#[test]
fn file_poller_skips_a_runaway_line_across_polls() {
    let dir = std::env::temp_dir().join(format!("fxdesk-signals-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("long.dat");
    std::fs::write(&path, sjis(&post_line(1, "09:00:00.00", "一", "スレ"))).unwrap();
    let mut poller = DatPoller::new(Source::File(path.clone()));
    assert_eq!(poller.poll().unwrap().new_posts.len(), 1);

    // A line longer than any post, still without its newline.
    append(
        &path,
        &vec![b'x'; fxdesk_signals::dat::DAT_LINE_BYTES_MAX + 10],
    );
    let poll = poller.poll().unwrap();
    assert!(poll.new_posts.is_empty());
    assert_eq!(poll.report.line_too_long, 1);
    // More of it, then its end and a real post.
    append(&path, &vec![b'y'; 1000]);
    assert!(poller.poll().unwrap().new_posts.is_empty());
    append(&path, b"zzz\n");
    append(&path, &sjis(&post_line(3, "09:00:05.00", "三", "")));
    let poll = poller.poll().unwrap();
    let numbers: Vec<u32> = poll.new_posts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [3]);
    assert_eq!(poller.report_total().line_too_long, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
