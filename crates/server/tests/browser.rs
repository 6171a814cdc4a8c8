//! The console and the status page in a real headless Chromium (Debian's package), driven
//! through chromedriver (WebDriver) against the real server on a loopback socket: log in,
//! acknowledge an incident, post an update from a template, watch the console refresh itself by
//! server-sent events, and see the notice on the public page in Japanese and English.
//! Screenshots go to `docs/screenshots/`; the checks are on elements and text, not pixels.
//!
//! Run: `FXDESK_CHROMIUM=/usr/bin/chromium cargo test -p fxdesk-server --test browser -- --include-ignored`
//! (chromedriver is taken from FXDESK_CHROMEDRIVER, else next to the browser, else from PATH).
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod status_common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use fxdesk_desk::notices::NewNotice;
use status_common::{start, OPERATOR};

/// chromedriver as a child process, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver_path(chromium: &str) -> PathBuf {
    if let Ok(path) = std::env::var("FXDESK_CHROMEDRIVER") {
        return PathBuf::from(path);
    }
    let beside = PathBuf::from(chromium).with_file_name("chromedriver");
    if beside.exists() {
        beside
    } else {
        PathBuf::from("chromedriver")
    }
}

async fn start_driver(chromium: &str) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = chromedriver_path(chromium);
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "cannot start {} (Debian: chromium-driver): {err}",
                path.display()
            )
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

async fn browser(driver: &Driver, chromium: &str, profile: &std::path::Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--window-size=1280,1400", "--lang=ja",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap()
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

/// The text of the element matching `css`, looked up again if the live refresh replaced it
/// between finding and reading.
async fn text_of(client: &Client, css: &str) -> String {
    let mut last_error = String::new();
    for _ in 0..20 {
        match client.find(Locator::Css(css)).await {
            Ok(element) => match element.text().await {
                Ok(text) => return text,
                Err(err) => last_error = err.to_string(),
            },
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot read {css}: {last_error}");
}

/// Polls the page until `css` contains `needle` (live updates arrive asynchronously).
async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}; last text: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FXDESK_CHROMIUM (path to Debian's chromium) and chromedriver; .ci/run sets it"]
async fn operator_acknowledges_and_posts_a_notice_seen_on_the_public_page() {
    let chromium = std::env::var("FXDESK_CHROMIUM")
        .expect("FXDESK_CHROMIUM must be the path to the chromium binary (e.g. /usr/bin/chromium)");
    let site = start().await;
    let id = site
        .open_incident("Trading stopped: orders are not acknowledged")
        .await;
    let driver = start_driver(&chromium).await;
    // Our own profile directory, removed when the test ends (chromedriver's would be left
    // behind in /tmp, since the driver is killed).
    let profile = status_common::TempDir::new();
    let client = browser(&driver, &chromium, &profile.0).await;
    // Close the browser even when a check fails, so no Chromium outlives the test.
    let outcome = std::panic::AssertUnwindSafe(drive(&site, &client, id))
        .catch_unwind()
        .await;
    let closed = client.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.unwrap();
}

async fn drive(site: &status_common::Site, client: &Client, id: i64) {
    let client = client.clone();

    // Not logged in: the console sends us to the login form.
    client
        .goto(&format!("{}/console", site.base))
        .await
        .unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/console/login"));
    screenshot(&client, "console-login.png").await;
    client
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(OPERATOR.0)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(OPERATOR.1)
        .await
        .unwrap();
    client
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The dashboard: the open incident and who is on call.
    // Each click below loads or patches the page; its text is waited for, not read at once
    // (on a busy machine the old page can still be there).
    wait_for_text(&client, "#whoami", "olga (operator)").await;
    wait_for_text(&client, "#open-incidents", "Trading stopped").await;
    wait_for_text(&client, "#oncall-support", "Aiko Tanaka").await;
    screenshot(&client, "console-dashboard.png").await;

    // Acknowledge.
    client
        .find(Locator::Css(&format!(
            "#open-incidents a[href=\"/console/incidents/{id}\"]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#incident-ack").await, "not yet");
    client
        .find(Locator::Id("ack"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "#incident-ack", "by user:olga").await;
    assert!(
        client.find(Locator::Id("ack")).await.is_err(),
        "acknowledged twice?"
    );

    // Post the first notice from its template, previewing first.
    client
        .find(Locator::Id("message-ja"))
        .await
        .unwrap()
        .send_keys("次回は15:30ごろにお知らせします。")
        .await
        .unwrap();
    client
        .find(Locator::Id("message-en"))
        .await
        .unwrap()
        .send_keys("Next update at about 15:30.")
        .await
        .unwrap();
    client
        .find(Locator::Id("notice-preview"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let preview = wait_for_text(&client, "#preview", "お電話でのご注文はお受けできません").await;
    assert!(preview.contains("cannot take orders by phone"));
    screenshot(&client, "console-incident-preview.png").await;
    client
        .find(Locator::Id("notice-publish"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notices = wait_for_text(&client, "#notices", "全力で取り組んでおります").await;
    assert!(notices.contains("Next update at about 15:30."), "{notices}");

    // Another operator posts an update elsewhere: this page refreshes itself (SSE + fetch).
    let operator = site.principal(OPERATOR).await;
    site.desk
        .publish_notice(
            &operator,
            id,
            NewNotice {
                kind: "update".into(),
                state: "identified".into(),
                body_ja: "原因を特定し、復旧作業を進めております。".into(),
                body_en: "We have identified the cause and are restoring the service.".into(),
                inputs: serde_json::Value::Null,
            },
        )
        .await
        .unwrap();
    wait_for_text(&client, "#notices", "We have identified the cause").await;
    wait_for_text(&client, "#incident-state", "identified").await;
    screenshot(&client, "console-incident.png").await;

    // The public page, in Japanese, then switched to English by its link.
    client
        .goto(&format!("{}/?lang=ja", site.base))
        .await
        .unwrap();
    let overall = text_of(&client, "#overall").await;
    assert_eq!(overall, "サービスが停止しています");
    let active = text_of(&client, "#active-incidents").await;
    assert!(
        active.contains("原因を特定し、復旧作業を進めております。"),
        "{active}"
    );
    assert!(active.contains("全力で取り組んでおります"));
    assert_eq!(
        client
            .find_all(Locator::Css("svg.uptime"))
            .await
            .unwrap()
            .len(),
        4
    );
    screenshot(&client, "status-ja.png").await;
    client
        .find(Locator::Id("switch-lang"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "#overall", "Major System Outage").await;
    let active = text_of(&client, "#active-incidents").await;
    assert!(active.contains("We have identified the cause"), "{active}");
    assert!(active.contains("Next update at about 15:30."));
    assert!(!active.contains("全力"));
    screenshot(&client, "status-en.png").await;
}
