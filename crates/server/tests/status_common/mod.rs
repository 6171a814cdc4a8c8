//! A desk with the status page and console on a real loopback socket, a SQLite file and a
//! manual clock, plus a small cookie-aware client for the console's forms.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use fxdesk_desk::{Desk, DeskConfig, ManualClock, Store};

/// 2026-11-23 12:00:00 UTC, a Monday.
pub const MONDAY_NOON_MS: i64 = 1_795_435_200_000;

pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let (random, _) = fxdesk_desk::auth::new_token();
        let path = std::env::temp_dir().join(format!("fxdesk-status-test-{}", &random[4..20]));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Site {
    pub base: String,
    pub desk: Arc<Desk>,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    _dir: TempDir,
}

pub const OPERATOR: (&str, &str) = ("olga", "olga password!");
pub const VIEWER: (&str, &str) = ("vic", "vic password!");

pub async fn start() -> Site {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener).await
}

pub async fn start_on(listener: tokio::net::TcpListener) -> Site {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = format!(
        r#"
[engine]
enabled = false
[[people]]
id = "aiko"
name = "Aiko Tanaka"
phone = "+81-90-0000-0001"
[[people]]
id = "ben"
name = "Ben Sato"
[[schedules]]
id = "support"
rotation_start = "2026-11-23T00:00:00Z"
shift_hours = 24
members = ["aiko", "ben"]
[[probes]]
id = "website"
component = "login"
kind = "tcp"
target = "127.0.0.1:9"
interval_s = 30
[links]
public_url = "{base}"
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
"#
    );
    let dir = TempDir::new();
    let store = Store::open_sqlite(&dir.0.join("desk.sqlite"))
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let desk = Desk::open(
        DeskConfig::from_toml(&config).unwrap(),
        store,
        clock.clone(),
        None,
    )
    .await
    .unwrap();
    let admin = desk
        .bootstrap_admin("admin", "admin password 1")
        .await
        .unwrap()
        .unwrap();
    let admin = fxdesk_desk::Principal {
        user_id: admin.id,
        username: admin.username,
        role: admin.role,
    };
    for ((name, password), role) in [(OPERATOR, "operator"), (VIEWER, "viewer")] {
        desk.create_user(
            &admin,
            name,
            password,
            fxdesk_desk::Role::parse(role).unwrap(),
        )
        .await
        .unwrap();
    }
    tokio::spawn(fxdesk_server::desk::serve(listener, desk.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Wait until the site answers (it seeds templates before serving).
    for _ in 0..200 {
        if http.get(format!("{base}/status.css")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Site {
        base,
        desk,
        clock,
        http,
        _dir: dir,
    }
}

impl Site {
    pub async fn principal(&self, (name, password): (&str, &str)) -> fxdesk_desk::Principal {
        let issued = self.desk.login(name, password).await.unwrap();
        issued.user
    }

    /// Opens a major-outage incident on trading by hand.
    pub async fn open_incident(&self, title: &str) -> i64 {
        let operator = self.principal(OPERATOR).await;
        self.desk
            .open_incident(
                &operator,
                serde_json::from_value(serde_json::json!({
                    "component": "trading", "title": title, "impact": "major_outage"
                }))
                .unwrap(),
            )
            .await
            .unwrap()
            .id
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn get_text(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let response = self.get(path, headers).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, text) = self.get_text(path, &[]).await;
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Logs into the console; returns the session cookie (`name=value`).
    pub async fn console_login(&self, (name, password): (&str, &str)) -> String {
        let response = self
            .http
            .post(format!("{}/console/login", self.base))
            .form(&[("username", name), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303);
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    pub async fn console_get(&self, cookie: &str, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn console_post(
        &self,
        cookie: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// The CSRF token in a console page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a csrf token") + marker.len();
    html[start..start + 32].to_owned()
}
