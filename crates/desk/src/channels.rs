//! Sending one delivery through its channel. Each send has its own timeout and its own
//! result; the desk sends deliveries concurrently, so a failing channel never holds up others.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{json, Value};

use crate::config::{ChannelConfig, GatewayBodyFormat};

/// Largest response body read back from a webhook or gateway (for the delivery log).
pub const MAX_RESPONSE_EXCERPT_BYTES: usize = 512;

/// Why a send failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub detail: String,
    /// A missing address or a malformed one: retrying cannot succeed.
    pub permanent: bool,
}

impl SendFailure {
    fn retry(detail: impl Into<String>) -> Self {
        SendFailure {
            detail: detail.into(),
            permanent: false,
        }
    }

    fn permanent(detail: impl Into<String>) -> Self {
        SendFailure {
            detail: detail.into(),
            permanent: true,
        }
    }
}

/// A human-readable text of a notification payload, with acknowledgement links.
pub fn notification_text(payload: &Value) -> String {
    let mut text = payload["message"].as_str().unwrap_or_default().to_owned();
    if let Some(recipients) = payload["recipients"].as_array() {
        for recipient in recipients {
            if let (Some(name), Some(url)) =
                (recipient["name"].as_str(), recipient["ack_url"].as_str())
            {
                text.push_str(&format!("\nAcknowledge as {name}: {url}"));
            }
        }
    }
    text
}

/// Sends `payload` through `channel`; `recipient` is the person for per-person channels.
pub async fn send(
    http: &reqwest::Client,
    channel: &ChannelConfig,
    payload: &Value,
    timeout: Duration,
) -> Result<String, SendFailure> {
    let person = &payload["recipients"][0];
    match channel {
        ChannelConfig::Webhook {
            url, bearer_token, ..
        } => {
            let mut request = http.post(url).timeout(timeout).json(payload);
            if let Some(token) = bearer_token {
                request = request.bearer_auth(token);
            }
            http_outcome(request.send().await).await
        }
        ChannelConfig::Slack { url, .. } => {
            let body = json!({ "text": notification_text(payload) });
            http_outcome(http.post(url).timeout(timeout).json(&body).send().await).await
        }
        ChannelConfig::Gateway {
            url,
            body_template,
            body_format,
            bearer_token,
            ..
        } => {
            let Some(phone) = person["phone"].as_str() else {
                return Err(SendFailure::permanent("recipient has no phone number"));
            };
            let values = [
                ("to", phone.to_owned()),
                (
                    "message",
                    payload["message"].as_str().unwrap_or_default().to_owned(),
                ),
                ("incident_id", payload["incident"]["id"].to_string()),
                (
                    "ack_url",
                    person["ack_url"].as_str().unwrap_or_default().to_owned(),
                ),
            ];
            let body = render_template(body_template, *body_format, &values);
            let content_type = match body_format {
                GatewayBodyFormat::Json => "application/json",
                GatewayBodyFormat::Form => "application/x-www-form-urlencoded",
            };
            let mut request = http
                .post(url)
                .timeout(timeout)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
            if let Some(token) = bearer_token {
                request = request.bearer_auth(token);
            }
            http_outcome(request.send().await).await
        }
        ChannelConfig::Email {
            smtp_host,
            smtp_port,
            from,
            username,
            password,
            ..
        } => {
            let Some(address) = person["email"].as_str() else {
                return Err(SendFailure::permanent("recipient has no email address"));
            };
            let from = from
                .parse()
                .map_err(|err| SendFailure::permanent(format!("bad from address: {err}")))?;
            let to = address
                .parse()
                .map_err(|err| SendFailure::permanent(format!("bad email address: {err}")))?;
            let subject = format!(
                "[fxdesk] incident {}: {}",
                payload["incident"]["id"],
                payload["incident"]["title"].as_str().unwrap_or_default()
            );
            let message = Message::builder()
                .from(from)
                .to(to)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(notification_text(payload))
                .map_err(|err| SendFailure::permanent(format!("building email: {err}")))?;
            let mut transport =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp_host.as_str())
                    .port(*smtp_port)
                    .timeout(Some(timeout));
            if let (Some(username), Some(password)) = (username, password) {
                transport =
                    transport.credentials(Credentials::new(username.clone(), password.clone()));
            }
            let transport = transport.build();
            match tokio::time::timeout(timeout, transport.send(message)).await {
                Ok(Ok(response)) => Ok(format!("SMTP {}", response.code())),
                Ok(Err(err)) => Err(SendFailure::retry(format!("SMTP: {err}"))),
                Err(_) => Err(SendFailure::retry("SMTP: timed out")),
            }
        }
    }
}

async fn http_outcome(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<String, SendFailure> {
    let response = result.map_err(|err| SendFailure::retry(format!("HTTP: {err}")))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let excerpt: String = body.chars().take(MAX_RESPONSE_EXCERPT_BYTES).collect();
    if status.is_success() {
        Ok(format!("HTTP {}", status.as_u16()))
    } else {
        Err(SendFailure::retry(format!(
            "HTTP {}: {excerpt}",
            status.as_u16()
        )))
    }
}

/// Replaces `{{name}}` placeholders, escaping values for the body format.
pub fn render_template(
    template: &str,
    format: GatewayBodyFormat,
    values: &[(&str, String)],
) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        let escaped = match format {
            GatewayBodyFormat::Json => {
                let quoted = Value::String(value.clone()).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            }
            GatewayBodyFormat::Form => form_escape(value),
        };
        out = out.replace(&format!("{{{{{name}}}}}"), &escaped);
    }
    out
}

fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_for_their_format() {
        let values = [
            ("to", "+81 90\"1".to_owned()),
            ("message", "a&b=c".to_owned()),
        ];
        let json = render_template(
            r#"{"to":"{{to}}","text":"{{message}}"}"#,
            GatewayBodyFormat::Json,
            &values,
        );
        let parsed: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["to"], "+81 90\"1");
        assert_eq!(parsed["text"], "a&b=c");
        let form = render_template(
            "to={{to}}&body={{message}}",
            GatewayBodyFormat::Form,
            &values,
        );
        assert_eq!(form, "to=%2B81+90%221&body=a%26b%3Dc");
    }

    #[test]
    fn text_carries_the_ack_links() {
        let payload = json!({
            "message": "Trading down",
            "recipients": [{"name": "Aiko", "ack_url": "http://x/ack"}]
        });
        assert_eq!(
            notification_text(&payload),
            "Trading down\nAcknowledge as Aiko: http://x/ack"
        );
    }
}
