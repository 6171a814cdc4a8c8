//! API tokens and roles. Tokens live outside the engine, in `DATA_DIR/tokens.json`, stored only
//! as SHA-256 hashes; the plain token is shown once, when it is made.
//!
//! Roles: `admin` (everything), `feed` (posts quotes, reads quotes), `customer` (bound to one
//! account: trades and reads that account only).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

use fxdesk_engine::AccountId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most tokens the store holds.
pub const TOKENS_MAX: usize = 1_000_000;
/// Longest bearer token accepted, in bytes (ours are 68).
pub const TOKEN_LEN_MAX: usize = 256;
/// Prefix of every token fxdesk makes, so a leaked one is easy to find in logs and code.
pub const TOKEN_PREFIX: &str = "fxd_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Feed,
    Customer,
}

/// Who is calling, once the token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Feed,
    Customer(AccountId),
}

impl Caller {
    pub fn role(self) -> Role {
        match self {
            Caller::Admin => Role::Admin,
            Caller::Feed => Role::Feed,
            Caller::Customer(_) => Role::Customer,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token store {path}: {action}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token store {path} is not valid: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the token store is full ({TOKENS_MAX} tokens)")]
    Full,
    #[error("FXDESK_ADMIN_TOKEN must be {min}..={TOKEN_LEN_MAX} printable ASCII characters without spaces")]
    BadAdminToken { min: usize },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken {
    /// SHA-256 of the token, hex.
    sha256: String,
    role: Role,
    #[serde(default)]
    account_id: Option<u64>,
    created_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTokens {
    tokens: Vec<StoredToken>,
}

/// The token store: a hash map in memory, a JSON file on disk rewritten atomically on change.
pub struct TokenStore {
    path: PathBuf,
    by_hash: RwLock<HashMap<[u8; 32], Caller>>,
    file: Mutex<StoredTokens>,
}

/// Shortest admin token accepted from `FXDESK_ADMIN_TOKEN`.
pub const ADMIN_TOKEN_LEN_MIN: usize = 16;

impl TokenStore {
    /// Opens (or creates) `DATA_DIR/tokens.json`.
    pub fn open(data_dir: &Path) -> Result<TokenStore, AuthError> {
        let path = data_dir.join("tokens.json");
        let stored = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<StoredTokens>(&bytes).map_err(|e| AuthError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredTokens::default(),
            Err(source) => {
                return Err(AuthError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        let mut by_hash = HashMap::with_capacity(stored.tokens.len());
        for token in &stored.tokens {
            let corrupt = |reason: String| AuthError::Corrupt {
                path: path.clone(),
                reason,
            };
            let bytes = hex::decode(&token.sha256)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| corrupt(format!("bad sha256 {:?}", token.sha256)))?;
            let caller = match (token.role, token.account_id) {
                (Role::Admin, None) => Caller::Admin,
                (Role::Feed, None) => Caller::Feed,
                (Role::Customer, Some(id)) => Caller::Customer(AccountId(id)),
                (role, account) => {
                    return Err(corrupt(format!("role {role:?} with account {account:?}")))
                }
            };
            by_hash.insert(bytes, caller);
        }
        Ok(TokenStore {
            path,
            by_hash: RwLock::new(by_hash),
            file: Mutex::new(stored),
        })
    }

    /// Who holds `token`, if anyone.
    pub fn check(&self, token: &str) -> Option<Caller> {
        if token.len() > TOKEN_LEN_MAX {
            return None;
        }
        let hash = sha256(token);
        self.by_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hash)
            .copied()
    }

    pub fn has_admin(&self) -> bool {
        self.by_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .any(|c| *c == Caller::Admin)
    }

    /// Makes a new random token for `caller`, stores its hash durably, and returns it.
    pub fn issue(&self, caller: Caller) -> Result<String, AuthError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        self.add(&token, caller)?;
        Ok(token)
    }

    /// Stores `token` (given by the operator) for `caller` unless it is there already.
    pub fn ensure(&self, token: &str, caller: Caller) -> Result<(), AuthError> {
        let valid = (ADMIN_TOKEN_LEN_MIN..=TOKEN_LEN_MAX).contains(&token.len())
            && token.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(AuthError::BadAdminToken {
                min: ADMIN_TOKEN_LEN_MIN,
            });
        }
        if self.check(token) == Some(caller) {
            return Ok(());
        }
        self.add(token, caller)
    }

    fn add(&self, token: &str, caller: Caller) -> Result<(), AuthError> {
        let hash = sha256(token);
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if file.tokens.len() >= TOKENS_MAX {
            return Err(AuthError::Full);
        }
        let (role, account_id) = match caller {
            Caller::Admin => (Role::Admin, None),
            Caller::Feed => (Role::Feed, None),
            Caller::Customer(id) => (Role::Customer, Some(id.0)),
        };
        file.tokens.push(StoredToken {
            sha256: hex::encode(hash),
            role,
            account_id,
            created_at: jiff::Timestamp::now().to_string(),
        });
        if let Err(error) = write_atomically(&self.path, &file) {
            file.tokens.pop();
            return Err(error);
        }
        self.by_hash
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash, caller);
        Ok(())
    }
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Temp file, fsync, rename, fsync of the directory: the store is always the old or new whole.
fn write_atomically(path: &Path, tokens: &StoredTokens) -> Result<(), AuthError> {
    let io = |action, source| AuthError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(tokens).map_err(|e| AuthError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let temp = path.with_extension("json.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| io("create temp file", e))?;
    file.write_all(&bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("fsync", e))?;
    fs::rename(&temp, path).map_err(|e| io("rename", e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("fsync directory", e))?;
    }
    Ok(())
}

/// Writes the first admin token to `path` with mode 0600 (refusing to overwrite).
pub fn write_admin_token_file(path: &Path, token: &str) -> Result<(), AuthError> {
    let io = |action, source| AuthError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create admin token file", e))?;
    file.write_all(format!("{token}\n").as_bytes())
        .map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("fsync", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_reopen_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let admin = store.issue(Caller::Admin).unwrap();
        let customer = store.issue(Caller::Customer(AccountId(7))).unwrap();
        assert_eq!(store.check(&admin), Some(Caller::Admin));
        assert_eq!(store.check("fxd_nope"), None);
        let text = fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        assert!(!text.contains(&admin[4..]), "plain token written to disk");
        let reopened = TokenStore::open(dir.path()).unwrap();
        assert_eq!(
            reopened.check(&customer),
            Some(Caller::Customer(AccountId(7)))
        );
        assert!(reopened.has_admin());
    }

    #[test]
    fn operator_admin_token_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        assert!(store.ensure("short", Caller::Admin).is_err());
        store
            .ensure("a-long-enough-admin-token", Caller::Admin)
            .unwrap();
        store
            .ensure("a-long-enough-admin-token", Caller::Admin)
            .unwrap();
        assert_eq!(
            store.check("a-long-enough-admin-token"),
            Some(Caller::Admin)
        );
    }
}
