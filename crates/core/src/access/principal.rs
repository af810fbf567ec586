//! An authenticated caller: a user logged in with a session, or an integration with an API
//! token. Every check the HTTP layer makes goes through it: [`Principal::require`] before an
//! action, [`Principal::scope`] for the rows.

use serde::{Deserialize, Serialize};

use super::role::{Action, Role};
use super::scope::Scope;

/// What an API token may do on top of its user's role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TokenAccess {
    /// Reads only (a dashboard, the city platform pulling status).
    ReadOnly,
    /// Whatever the user's role permits (a contractor's ticketing system answering orders).
    Full,
}
crate::text_enum!(TokenAccess, "token access");

/// Whether the user's password must be changed before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordState {
    Current,
    /// Set by an admin (or the first start): only [`Action::ChangeOwnPassword`] is allowed.
    MustChange,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    /// The user name; the audit log's actor.
    pub name: String,
    pub role: Role,
    /// The user's scope, narrowed by the token's when through a token.
    pub scope: Scope,
    /// `Some` when authenticated by an API token: its id and what it may do.
    pub token: Option<(i64, TokenAccess)>,
    pub password: PasswordState,
}

/// Why an action was refused (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub action: Action,
    pub reason: DeniedReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeniedReason {
    /// The role does not permit it.
    Role(Role),
    /// Through a read-only token.
    ReadOnlyToken,
    /// The password must be changed first.
    MustChangePassword,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            DeniedReason::Role(r) => write!(f, "the role {r} may not {}", self.action),
            DeniedReason::ReadOnlyToken => write!(f, "a read-only token may not {}", self.action),
            DeniedReason::MustChangePassword => {
                write!(f, "the password must be changed first")
            }
        }
    }
}

impl std::error::Error for Denied {}

impl Principal {
    /// `Ok` when this caller may do `action` (on rows its scope sees).
    pub fn require(&self, action: Action) -> Result<(), Denied> {
        let deny = |reason| Err(Denied { action, reason });
        if self.password == PasswordState::MustChange && action != Action::ChangeOwnPassword {
            return deny(DeniedReason::MustChangePassword);
        }
        if !self.role.permits(action) {
            return deny(DeniedReason::Role(self.role));
        }
        if matches!(self.token, Some((_, TokenAccess::ReadOnly))) && !action.is_read() {
            return deny(DeniedReason::ReadOnlyToken);
        }
        Ok(())
    }

    pub fn can(&self, action: Action) -> bool {
        self.require(action).is_ok()
    }

    /// Whether this caller may do `action` on a device in `region` maintained by `maintainer`.
    pub fn may_on_device(&self, action: Action, region: &str, maintainer: Option<&str>) -> bool {
        self.can(action) && self.scope.sees_device(region, maintainer)
    }

    /// Whether this caller may do `action` on a work order in `region` assigned to
    /// `contractor`.
    pub fn may_on_work_order(
        &self,
        action: Action,
        region: &str,
        contractor: Option<&str>,
    ) -> bool {
        self.can(action) && self.scope.sees_work_order(region, contractor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::scope::RegionPrefix;
    use strum::VariantArray;

    fn who(role: Role, scope: Scope) -> Principal {
        Principal {
            user_id: 1,
            name: "u".into(),
            role,
            scope,
            token: None,
            password: PasswordState::Current,
        }
    }

    fn hefei() -> Scope {
        Scope::new(["3401".parse::<RegionPrefix>().unwrap()], None)
    }

    #[test]
    fn a_session_may_what_its_role_permits() {
        for r in Role::VARIANTS {
            let p = who(*r, Scope::all());
            for a in Action::VARIANTS {
                assert_eq!(p.can(*a), r.permits(*a), "{r} {a}");
            }
        }
        let e = who(Role::Auditor, Scope::all())
            .require(Action::WriteDevices)
            .unwrap_err();
        assert_eq!(e.to_string(), "the role auditor may not write_devices");
    }

    #[test]
    fn a_read_only_token_reads_and_nothing_else() {
        let mut p = who(Role::Admin, Scope::all());
        p.token = Some((7, TokenAccess::ReadOnly));
        for a in Action::VARIANTS {
            assert_eq!(p.can(*a), a.is_read(), "{a}");
        }
        assert_eq!(
            p.require(Action::ManageUsers).unwrap_err().reason,
            DeniedReason::ReadOnlyToken
        );
        p.token = Some((7, TokenAccess::Full));
        assert!(p.can(Action::ManageUsers));
    }

    #[test]
    fn a_full_token_never_exceeds_its_role() {
        let mut p = who(Role::Contractor, Scope::all());
        p.token = Some((1, TokenAccess::Full));
        for a in Action::VARIANTS {
            assert_eq!(p.can(*a), Role::Contractor.permits(*a), "{a}");
        }
    }

    #[test]
    fn a_password_to_change_blocks_everything_else() {
        let mut p = who(Role::Admin, Scope::all());
        p.password = PasswordState::MustChange;
        for a in Action::VARIANTS {
            assert_eq!(p.can(*a), *a == Action::ChangeOwnPassword, "{a}");
        }
        assert_eq!(
            p.require(Action::ReadDevices).unwrap_err().to_string(),
            "the password must be changed first"
        );
    }

    #[test]
    fn rows_are_checked_against_the_scope() {
        let op = who(Role::Operator, hefei());
        assert!(op.may_on_device(Action::WriteDevices, "340104", None));
        assert!(!op.may_on_device(Action::WriteDevices, "340204", None));
        let jia = who(
            Role::Contractor,
            Scope::new(Vec::new(), Some("甲公司".into())),
        );
        assert!(jia.may_on_work_order(Action::AcceptWorkOrder, "340104", Some("甲公司")));
        assert!(!jia.may_on_work_order(Action::AcceptWorkOrder, "340104", Some("乙公司")));
        assert!(
            !jia.may_on_work_order(Action::ReviewWorkOrder, "340104", Some("甲公司")),
            "a contractor does not review its own repair"
        );
        let aud = who(Role::Auditor, Scope::all());
        assert!(aud.may_on_device(Action::ReadHistory, "110101", None));
        assert!(!aud.may_on_device(Action::WriteBaselines, "110101", None));
    }
}
