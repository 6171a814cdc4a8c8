//! Reading a source's bytes: a local file or an HTTP(S) URL, whole or from a byte offset.
//! HTTPS needs the crate's `tls` feature; plain `http://` always works.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::SignalsError;

/// Time limit of one HTTP request, connect to last byte.
pub const HTTP_TIMEOUT_S: u64 = 15;

/// Where a thread or a feed is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    File(PathBuf),
    /// An `http://` or (with the `tls` feature) `https://` URL.
    Http(String),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Http(url) => url.clone(),
        }
    }
}

/// Bytes read from `from_offset` on.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The bytes from the requested offset to the end (possibly none).
    From { bytes: Vec<u8> },
    /// The source is now shorter than the requested offset: it was replaced or truncated.
    Shrunk,
}

pub(crate) fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(HTTP_TIMEOUT_S)))
        // Statuses are handled here (206, 416, ...), not turned into errors by the client.
        .http_status_as_error(false)
        .build()
        .into()
}

/// Reads at most `limit_bytes` from `from_offset` to the end of the source.
pub(crate) fn fetch_from(
    source: &Source,
    agent: &ureq::Agent,
    from_offset: u64,
    limit_bytes: u64,
) -> Result<Fetched, SignalsError> {
    match source {
        Source::File(path) => fetch_file(path, from_offset, limit_bytes),
        Source::Http(url) => fetch_http(agent, url, from_offset, limit_bytes),
    }
}

fn fetch_file(path: &PathBuf, from_offset: u64, limit_bytes: u64) -> Result<Fetched, SignalsError> {
    let io_error = |source| SignalsError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let length = file.metadata().map_err(io_error)?.len();
    if length < from_offset {
        return Ok(Fetched::Shrunk);
    }
    file.seek(SeekFrom::Start(from_offset)).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(limit_bytes)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    Ok(Fetched::From { bytes })
}

fn fetch_http(
    agent: &ureq::Agent,
    url: &str,
    from_offset: u64,
    limit_bytes: u64,
) -> Result<Fetched, SignalsError> {
    let http_error = |error: ureq::Error| SignalsError::Http {
        url: url.to_owned(),
        message: error.to_string(),
    };
    let mut request = agent.get(url);
    if from_offset > 0 {
        request = request.header("Range", format!("bytes={from_offset}-"));
    }
    let mut response = request.call().map_err(http_error)?;
    let status = response.status().as_u16();
    match status {
        206 => {
            let bytes = read_limited(&mut response, limit_bytes).map_err(http_error)?;
            Ok(Fetched::From { bytes })
        }
        200 => {
            // The server ignored the Range header and sent everything: skip what we have.
            let all = read_limited(&mut response, from_offset.saturating_add(limit_bytes))
                .map_err(http_error)?;
            match usize::try_from(from_offset)
                .ok()
                .and_then(|offset| all.get(offset..))
            {
                Some(new) => Ok(Fetched::From {
                    bytes: new.to_vec(),
                }),
                None => Ok(Fetched::Shrunk),
            }
        }
        416 => {
            // Nothing at or after the offset. `Content-Range: bytes */LENGTH` says whether the
            // resource merely has no new bytes or became shorter than the offset.
            let length = response
                .headers()
                .get("content-range")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().strip_prefix("bytes */"))
                .and_then(|length| length.trim().parse::<u64>().ok());
            match length {
                Some(length) if length < from_offset => Ok(Fetched::Shrunk),
                _ => Ok(Fetched::From { bytes: Vec::new() }),
            }
        }
        _ => Err(SignalsError::HttpStatus {
            url: url.to_owned(),
            status,
        }),
    }
}

/// Reads the body up to `limit_bytes`; past that the read stops (the rest is left for the next
/// poll), so a huge or endless body cannot exhaust memory.
fn read_limited(
    response: &mut ureq::http::Response<ureq::Body>,
    limit_bytes: u64,
) -> Result<Vec<u8>, ureq::Error> {
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(limit_bytes)
        .read_to_end(&mut bytes)
        .map_err(ureq::Error::Io)?;
    Ok(bytes)
}
