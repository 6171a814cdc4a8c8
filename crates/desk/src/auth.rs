//! Credentials and permissions: argon2id password hashes, random API tokens stored as SHA-256,
//! HMAC-signed acknowledgement links, and the one table of what each role may do.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::UnixMs;
use crate::config::AuthConfig;
use crate::error::{DeskError, Result};
use crate::model::Role;

/// Longest password accepted (argon2 would take more, but nobody needs it and it bounds work).
pub const MAX_PASSWORD_BYTES: usize = 1_024;
pub const MIN_PASSWORD_BYTES: usize = 12;
/// Prefix of every API token, so leaked tokens are easy to find by scanners.
pub const TOKEN_PREFIX: &str = "fxd_";

/// Something a request may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read components, incidents, timelines, deliveries and figures.
    ViewIncidents,
    /// Open, update, acknowledge and resolve incidents.
    ManageIncidents,
    /// Set a component's status by hand (maintenance, ...).
    ManageComponents,
    /// Create users.
    ManageUsers,
    /// Read the audit trail.
    ViewAudit,
    /// Scrape `/metrics`.
    ViewMetrics,
    /// See report obligations, drafts, versions and the completeness check.
    ViewReports,
    /// Classify incidents, submit reports (compliance).
    ManageReports,
    /// Record the impact figures of an incident.
    RecordImpact,
    /// Push outside-signal counts (the call centre's calls per minute); they can open incidents.
    PushSignals,
    /// Read backfill plans (per-customer corrections, the price path of the window).
    ReviewBackfill,
    /// Approve a backfill plan: the checker of maker-checker on money (approvers and admins).
    ApproveBackfill,
}

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ViewIncidents => "view incidents",
            Permission::ManageIncidents => "manage incidents",
            Permission::ManageComponents => "manage components",
            Permission::ManageUsers => "manage users",
            Permission::ViewAudit => "view the audit trail",
            Permission::ViewMetrics => "view metrics",
            Permission::ViewReports => "view regulator reports",
            Permission::ManageReports => "classify incidents and submit regulator reports",
            Permission::RecordImpact => "record an incident's impact figures",
            Permission::PushSignals => "push signal counts",
            Permission::ReviewBackfill => "review backfill plans",
            Permission::ApproveBackfill => "approve backfill plans",
        }
    }
}

/// The one place roles are checked.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin => true,
        Role::Viewer => matches!(permission, ViewIncidents | ViewMetrics),
        // Approvers are senior operators who may also approve money-moving plans.
        Role::Operator | Role::Approver => {
            matches!(
                permission,
                ViewIncidents
                    | ManageIncidents
                    | ManageComponents
                    | ViewMetrics
                    | ViewReports
                    | RecordImpact
                    | PushSignals
                    | ReviewBackfill
            ) || (role == Role::Approver && permission == ApproveBackfill)
        }
        Role::Compliance => matches!(
            permission,
            ViewIncidents
                | ViewAudit
                | ViewMetrics
                | ViewReports
                | ManageReports
                | RecordImpact
                | ReviewBackfill
        ),
    }
}

/// Fails with `Forbidden` unless `role` has `permission`.
pub fn require(role: Role, permission: Permission) -> Result<()> {
    if allows(role, permission) {
        Ok(())
    } else {
        Err(DeskError::Forbidden {
            role: role.to_string(),
            action: permission.describe().into(),
        })
    }
}

fn argon2(config: &AuthConfig) -> Result<Argon2<'static>> {
    let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None).map_err(
        |err| DeskError::PasswordHash {
            detail: err.to_string(),
        },
    )?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn check_password_shape(password: &str) -> Result<()> {
    if password.len() < MIN_PASSWORD_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Err(DeskError::invalid(
            "password",
            format!("must be {MIN_PASSWORD_BYTES}..={MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Hashes a new password (PHC string, argon2id with a random salt).
pub fn hash_password(config: &AuthConfig, password: &str) -> Result<String> {
    check_password_shape(password)?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2(config)?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| DeskError::PasswordHash {
            detail: err.to_string(),
        })
}

/// Whether `password` matches a stored PHC hash (the hash carries its own parameters).
pub fn verify_password(password: &str, phc_hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc_hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A new random API token (256 bits) and its SHA-256, which is all that is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let digest = sha256_hex(&token);
    (token, digest)
}

/// SHA-256 of a string, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Constant-time comparison of a presented secret against a stored SHA-256 hex digest.
pub fn matches_sha256(presented: &str, expected_hex: &str) -> bool {
    let digest = Sha256::digest(presented.as_bytes());
    let Ok(expected) = hex::decode(expected_hex) else {
        return false;
    };
    if expected.len() != digest.len() {
        return false;
    }
    digest
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Random secret for signing links, hex.
pub fn new_link_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn link_mac(secret: &[u8], incident_id: i64, person: &str, expires_at_ms: UnixMs) -> Hmac<Sha256> {
    // Hmac accepts keys of any length, so this cannot fail; fall back to an empty-key MAC
    // rather than panic if that ever changed (the signature would then never verify).
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()));
    mac.update(format!("ack\n{incident_id}\n{person}\n{expires_at_ms}").as_bytes());
    mac
}

/// Signature of an acknowledgement link for `person` on `incident_id`, valid until `expires_at_ms`.
pub fn sign_ack_link(
    secret: &[u8],
    incident_id: i64,
    person: &str,
    expires_at_ms: UnixMs,
) -> String {
    hex::encode(
        link_mac(secret, incident_id, person, expires_at_ms)
            .finalize()
            .into_bytes(),
    )
}

/// Checks a signed link (constant time) and its expiry.
pub fn verify_ack_link(
    secret: &[u8],
    incident_id: i64,
    person: &str,
    expires_at_ms: UnixMs,
    signature_hex: &str,
    now_ms: UnixMs,
) -> Result<()> {
    let bad = |detail: &str| DeskError::Unauthenticated {
        detail: detail.into(),
    };
    if now_ms > expires_at_ms {
        return Err(bad("acknowledgement link expired"));
    }
    let signature = hex::decode(signature_hex).map_err(|_| bad("malformed link signature"))?;
    link_mac(secret, incident_id, person, expires_at_ms)
        .verify_slice(&signature)
        .map_err(|_| bad("bad link signature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> AuthConfig {
        AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            session_ttl_s: 60,
        }
    }

    #[test]
    fn passwords_verify_only_when_right() {
        let hash = hash_password(&cheap(), "correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password(&cheap(), "short").is_err());
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (token, digest) = new_token();
        let (other, _) = new_token();
        assert_ne!(token, other);
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(matches_sha256(&token, &digest));
        assert!(!matches_sha256(&other, &digest));
        assert!(!matches_sha256(&token, "zz"));
    }

    #[test]
    fn roles_allow_what_they_should() {
        assert!(!allows(Role::Viewer, Permission::ManageIncidents));
        assert!(allows(Role::Viewer, Permission::ViewIncidents));
        assert!(allows(Role::Operator, Permission::ManageIncidents));
        assert!(!allows(Role::Operator, Permission::ManageUsers));
        assert!(!allows(Role::Compliance, Permission::ManageIncidents));
        assert!(allows(Role::Compliance, Permission::ViewAudit));
        assert!(allows(Role::Compliance, Permission::ManageReports));
        assert!(!allows(Role::Operator, Permission::ManageReports));
        assert!(!allows(Role::Operator, Permission::ViewAudit));
        assert!(!allows(Role::Viewer, Permission::ViewReports));
        assert!(allows(Role::Admin, Permission::ManageUsers));
        assert!(matches!(
            require(Role::Viewer, Permission::ManageIncidents),
            Err(DeskError::Forbidden { .. })
        ));
    }

    #[test]
    fn ack_links_are_bound_to_incident_person_and_expiry() {
        let secret = b"secret";
        let signature = sign_ack_link(secret, 7, "aiko", 10_000);
        assert!(verify_ack_link(secret, 7, "aiko", 10_000, &signature, 9_000).is_ok());
        assert!(verify_ack_link(secret, 8, "aiko", 10_000, &signature, 9_000).is_err());
        assert!(verify_ack_link(secret, 7, "ben", 10_000, &signature, 9_000).is_err());
        assert!(verify_ack_link(secret, 7, "aiko", 20_000, &signature, 9_000).is_err());
        assert!(verify_ack_link(secret, 7, "aiko", 10_000, &signature, 10_001).is_err());
        assert!(verify_ack_link(secret, 7, "aiko", 10_000, "nothex", 9_000).is_err());
    }
}
