//! RSS and Atom feeds into timestamped items; entries without a date are counted, garbage is an
//! error naming the source, and a poller yields each entry once.
#![allow(clippy::unwrap_used)]

use fxdesk_signals::feeds::{parse_feed, FeedPoller};
use fxdesk_signals::Source;

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>FX掲示板 新着</title>
  <link>http://example.invalid/</link>
  <description>posts</description>
  <item><title>ログインできない</title><guid>post-1</guid>
    <pubDate>Mon, 05 Aug 2024 09:12:34 +0900</pubDate></item>
  <item><title>約定しない</title><guid>post-2</guid>
    <pubDate>Mon, 05 Aug 2024 00:13:00 GMT</pubDate></item>
  <item><title>日付なし</title><guid>post-3</guid></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Broker status</title>
  <id>urn:x:feed</id>
  <updated>2024-08-05T00:20:00Z</updated>
  <entry><title>Degraded</title><id>urn:x:1</id><updated>2024-08-05T00:14:00Z</updated></entry>
  <entry><title>Resolved</title><id>urn:x:2</id>
    <published>2024-08-05T00:15:30Z</published><updated>2024-08-05T00:19:00Z</updated></entry>
</feed>"#;

// 2024-08-05T00:12:34Z in milliseconds since the epoch.
const AUG5_001234_MS: i64 = 1_722_816_754_000;

#[test]
fn rss_items_with_times_and_a_missing_date_counted() {
    let feed = parse_feed(RSS.as_bytes(), "rss").unwrap();
    assert_eq!(feed.title.as_deref(), Some("FX掲示板 新着"));
    assert_eq!(feed.report.entries_total, 3);
    assert_eq!(feed.report.items_parsed, 2);
    assert_eq!(feed.report.missing_date, 1);
    assert_eq!(feed.items[0].id, "post-1");
    assert_eq!(feed.items[0].published_at_unix_ms, AUG5_001234_MS);
    assert_eq!(feed.items[1].published_at_unix_ms, AUG5_001234_MS + 26_000);
}

#[test]
fn atom_prefers_published_then_updated() {
    let feed = parse_feed(ATOM.as_bytes(), "atom").unwrap();
    assert_eq!(feed.report.items_parsed, 2);
    assert_eq!(feed.items[0].published_at_unix_ms, AUG5_001234_MS + 86_000);
    assert_eq!(feed.items[1].published_at_unix_ms, AUG5_001234_MS + 176_000);
}

#[test]
fn garbage_is_an_error_naming_the_source() {
    let error = parse_feed(b"<html><body>503</body></html>", "peer-a.rss").unwrap_err();
    assert!(error.to_string().contains("peer-a.rss"), "{error}");
    assert!(parse_feed(b"", "empty").is_err());
    assert!(parse_feed(&[0xff, 0xfe, 0x00], "binary").is_err());
}

#[test]
fn poller_yields_each_entry_once() {
    let dir = std::env::temp_dir().join(format!("fxdesk-signals-feed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("feed.xml");
    std::fs::write(&path, RSS).unwrap();
    let mut poller = FeedPoller::new(Source::File(path.clone()));
    let first = poller.poll().unwrap();
    assert_eq!(first.new_items.len(), 2);
    assert_eq!(first.report.missing_date, 1);
    assert!(poller.poll().unwrap().new_items.is_empty());

    let grown = RSS.replace(
        "<item><title>日付なし",
        "<item><title>まだ落ちてる</title><guid>post-4</guid>\
         <pubDate>Mon, 05 Aug 2024 09:20:00 +0900</pubDate></item><item><title>日付なし",
    );
    std::fs::write(&path, grown).unwrap();
    let poll = poller.poll().unwrap();
    let ids: Vec<&str> = poll.new_items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["post-4"]);

    std::fs::write(&path, "not a feed").unwrap();
    assert!(poller.poll().is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn http_feed_poller_against_a_real_server() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed.xml", listener.local_addr().unwrap());
    let body = Arc::new(Mutex::new(ATOM.to_owned()));
    let served = body.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let payload = served.lock().unwrap().clone();
            let status = if payload.is_empty() {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/atom+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });

    let mut poller = FeedPoller::new(Source::Http(url));
    assert_eq!(poller.poll().unwrap().new_items.len(), 2);
    assert!(poller.poll().unwrap().new_items.is_empty());
    *body.lock().unwrap() = ATOM.replace(
        "</feed>",
        "<entry><title>Again</title><id>urn:x:3</id><updated>2024-08-05T00:30:00Z</updated></entry></feed>",
    );
    let poll = poller.poll().unwrap();
    assert_eq!(poll.new_items.len(), 1);
    assert_eq!(poll.new_items[0].id, "urn:x:3");
    body.lock().unwrap().clear();
    let error = poller.poll().unwrap_err().to_string();
    assert!(error.contains("500"), "{error}");
}
