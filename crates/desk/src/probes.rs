//! Active HTTP(S) and TCP probes. One check = one attempt with a timeout; the desk counts
//! failed checks in a row against the probe's `retries` before declaring the component down.

use std::time::Duration;

use crate::config::{ProbeConfig, ProbeKind};

/// Runs one check of a probe: `Ok` with a short note, or `Err` with why it failed.
pub async fn check(http: &reqwest::Client, probe: &ProbeConfig) -> Result<String, String> {
    let timeout = Duration::from_millis(probe.timeout_ms);
    match probe.kind {
        ProbeKind::Http => {
            let response = http
                .get(&probe.target)
                .timeout(timeout)
                .send()
                .await
                .map_err(|err| format!("GET {}: {err}", probe.target))?;
            let status = response.status();
            if status.is_success() || status.is_redirection() {
                Ok(format!("HTTP {}", status.as_u16()))
            } else {
                Err(format!("GET {}: HTTP {}", probe.target, status.as_u16()))
            }
        }
        ProbeKind::Tcp => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&probe.target)).await
            {
                Ok(Ok(_stream)) => Ok("connected".into()),
                Ok(Err(err)) => Err(format!("connect {}: {err}", probe.target)),
                Err(_) => Err(format!(
                    "connect {}: timed out after {} ms",
                    probe.target, probe.timeout_ms
                )),
            }
        }
    }
}
