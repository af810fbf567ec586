//! The four roles and what each may do. One exhaustive table ([`Role::permits`]): the HTTP
//! layer, the CLI and the docs' roles × permissions table (docs/access.md) all read it.

use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Everything, users included.
    Admin,
    /// The video team (视频专班): runs the register, exemptions, baselines and work orders.
    Operator,
    /// A maintenance contractor (运维单位): sees only the devices it maintains and its own work
    /// orders; responds to and repairs them.
    Contractor,
    /// Read-only oversight: reports, history, the audit log.
    Auditor,
}
crate::text_enum!(Role, "role");

/// Everything a user can ask camwatch to do, as one closed set. Reads are filtered by the
/// principal's scope on top of this; writes are refused outright when the role lacks them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// The register: device records (without credentials).
    ReadDevices,
    /// Live status, causes, probe outcomes, evidence frames, fleet summaries, the event stream.
    ReadStatus,
    /// Status history (spans) and exemptions.
    ReadHistory,
    /// Monthly reports and their exports.
    ReadReports,
    /// Work orders and their events.
    ReadWorkOrders,
    /// The audit log.
    ReadAuditLog,
    /// Create, update, delete and import devices.
    WriteDevices,
    /// Add and import exemptions.
    WriteExemptions,
    /// Approve baseline pictures.
    WriteBaselines,
    /// Open a work order by hand.
    OpenWorkOrder,
    /// Respond to an order (the contractor's acceptance).
    AcceptWorkOrder,
    /// Report an order repaired.
    RepairWorkOrder,
    /// Close or send back a repaired order after review.
    ReviewWorkOrder,
    /// Reopen a closed order.
    ReopenWorkOrder,
    /// Assign an order to a contractor.
    AssignWorkOrder,
    /// Add a note or an attachment to an order.
    NoteWorkOrder,
    /// Take part in the daily patrol (巡检): see the day's batch, record verdicts (a fault
    /// opens a work order).
    Patrol,
    /// Create users, reset passwords, disable, issue and revoke others' tokens, unlock.
    ManageUsers,
    /// Change one's own password (the only action left when it must be changed).
    ChangeOwnPassword,
}
crate::text_enum!(Action, "action");

impl Action {
    /// Whether the action only reads. A read-only token may do these and nothing else.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::ReadDevices
                | Self::ReadStatus
                | Self::ReadHistory
                | Self::ReadReports
                | Self::ReadWorkOrders
                | Self::ReadAuditLog
        )
    }
}

impl Role {
    /// Whether this role may do `action` at all (scope is checked separately, per row).
    pub fn permits(self, action: Action) -> bool {
        use Action as A;
        match self {
            Self::Admin => true,
            Self::Operator => !matches!(action, A::ReadAuditLog | A::ManageUsers),
            Self::Contractor => matches!(
                action,
                A::ReadDevices
                    | A::ReadStatus
                    | A::ReadHistory
                    | A::ReadReports
                    | A::ReadWorkOrders
                    | A::AcceptWorkOrder
                    | A::RepairWorkOrder
                    | A::NoteWorkOrder
                    | A::ChangeOwnPassword
            ),
            Self::Auditor => action.is_read() || action == A::ChangeOwnPassword,
        }
    }

    /// Whether users of this role stand for a maintainer (and must name one).
    pub fn needs_maintainer(self) -> bool {
        self == Self::Contractor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    /// The whole table, spelled out: a change to any cell must change this test too.
    #[test]
    fn the_permission_table() {
        use Action as A;
        let allowed = |r: Role| -> Vec<Action> {
            A::VARIANTS
                .iter()
                .copied()
                .filter(|a| r.permits(*a))
                .collect()
        };
        assert_eq!(allowed(Role::Admin), A::VARIANTS.to_vec());
        assert_eq!(
            allowed(Role::Operator),
            [
                A::ReadDevices,
                A::ReadStatus,
                A::ReadHistory,
                A::ReadReports,
                A::ReadWorkOrders,
                A::WriteDevices,
                A::WriteExemptions,
                A::WriteBaselines,
                A::OpenWorkOrder,
                A::AcceptWorkOrder,
                A::RepairWorkOrder,
                A::ReviewWorkOrder,
                A::ReopenWorkOrder,
                A::AssignWorkOrder,
                A::NoteWorkOrder,
                A::Patrol,
                A::ChangeOwnPassword,
            ]
        );
        assert_eq!(
            allowed(Role::Contractor),
            [
                A::ReadDevices,
                A::ReadStatus,
                A::ReadHistory,
                A::ReadReports,
                A::ReadWorkOrders,
                A::AcceptWorkOrder,
                A::RepairWorkOrder,
                A::NoteWorkOrder,
                A::ChangeOwnPassword,
            ]
        );
        assert_eq!(
            allowed(Role::Auditor),
            [
                A::ReadDevices,
                A::ReadStatus,
                A::ReadHistory,
                A::ReadReports,
                A::ReadWorkOrders,
                A::ReadAuditLog,
                A::ChangeOwnPassword,
            ]
        );
    }

    #[test]
    fn only_admins_manage_users_and_only_admins_and_auditors_read_the_audit_log() {
        for r in Role::VARIANTS {
            assert_eq!(r.permits(Action::ManageUsers), *r == Role::Admin);
            assert_eq!(
                r.permits(Action::ReadAuditLog),
                matches!(r, Role::Admin | Role::Auditor)
            );
            assert!(r.permits(Action::ChangeOwnPassword), "{r}");
        }
    }

    #[test]
    fn an_auditor_changes_nothing_but_its_password() {
        for a in Action::VARIANTS {
            if Role::Auditor.permits(*a) {
                assert!(a.is_read() || *a == Action::ChangeOwnPassword, "{a}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for r in Role::VARIANTS {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        for a in Action::VARIANTS {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), *a);
        }
        assert_eq!(Role::Contractor.as_str(), "contractor");
        assert_eq!(Action::ReadAuditLog.as_str(), "read_audit_log");
        assert_eq!(
            "root".parse::<Role>().unwrap_err(),
            "unknown role \"root\" (expected one of: admin, operator, contractor, auditor)"
        );
    }
}
