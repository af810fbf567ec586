//! What a notification says, independent of where it goes: [`Notification`] is the outbox
//! row's JSON payload, written by the work-order engine and rendered per target at send time
//! (`render`). [`rows_for`] fans one notification out to the configured targets that want it.
//!
//! Invariants: the payload is self-contained (a renderer needs nothing but it and the
//! target), bounded in size (at most [`MAX_DEVICES`] devices listed, the count beside), and
//! never contains a secret. This module does no I/O.

use serde::{Deserialize, Serialize};

use camwatch_store::NewOutboxRow;

use crate::config::Target;

/// Devices listed by name in one notification; the rest are only counted.
pub const MAX_DEVICES: usize = 20;

/// Why a notification is sent.
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
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NotificationKind {
    /// A work order was opened (and assigned, when a contractor is known).
    Opened,
    /// The response deadline passed without the order being accepted.
    ResponseOverdue,
    /// The repair deadline passed without a repair.
    RepairOverdue,
    /// A repair was reported but the monitor still sees the fault.
    RepairNotVerified,
    /// A closed order was reopened (the fault came back).
    Reopened,
    /// The daily summary of one contractor's orders.
    Digest,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The Chinese label used in messages.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Opened => "新工单",
            Self::ResponseOverdue => "响应超时",
            Self::RepairOverdue => "修复超时",
            Self::RepairNotVerified => "修复未通过核验",
            Self::Reopened => "工单重开",
            Self::Digest => "每日工单汇总",
        }
    }
}

/// A device an order covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    /// The 20-digit GB/T 28181 code.
    pub code: String,
    pub name: String,
}

/// One order in a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestOrder {
    pub order_id: i64,
    pub title: String,
    /// The order's state (`pending`, `accepted`, …).
    pub state: String,
    /// The deadline that applies now (response, else repair), if any.
    pub due_at: Option<i64>,
    pub overdue: bool,
}

/// The daily summary of one contractor's orders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub open: u64,
    pub overdue: u64,
    pub awaiting_review: u64,
    /// Closed since the previous digest.
    pub closed: u64,
    /// The open orders, at most [`MAX_DEVICES`] of them, most urgent first.
    pub orders: Vec<DigestOrder>,
}

/// A notification: the outbox payload (JSON), target-independent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub kind: NotificationKind,
    /// The work order; `None` for a digest.
    pub order_id: Option<i64>,
    pub title: String,
    /// The contract's SLA level name.
    pub level: String,
    /// The assignee (运维单位); `None`: unassigned.
    pub contractor: Option<String>,
    /// 6-digit civil code.
    pub region: String,
    /// Up to [`MAX_DEVICES`] devices; `device_count` is the full number.
    #[serde(default)]
    pub devices: Vec<DeviceRef>,
    #[serde(default)]
    pub device_count: u64,
    /// The cause in words (e.g. "上级设备离线"), if known.
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub response_due_at: Option<i64>,
    #[serde(default)]
    pub repair_due_at: Option<i64>,
    /// When it happened (Unix seconds).
    pub at: i64,
    /// IANA zone for the times in the text (the contract's), e.g. `Asia/Shanghai`.
    #[serde(default = "default_zone")]
    pub time_zone: String,
    /// One line in Chinese for SMS and chat previews; [`rows_for`] fills it with
    /// [`Notification::summary_zh`] when empty.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub digest: Option<Digest>,
}

fn default_zone() -> String {
    "Asia/Shanghai".into()
}

impl Notification {
    /// A notification about one order, with no devices, cause or deadlines yet.
    pub fn for_order(
        kind: NotificationKind,
        order_id: i64,
        title: impl Into<String>,
        level: impl Into<String>,
        region: impl Into<String>,
        at: i64,
    ) -> Self {
        Self {
            kind,
            order_id: Some(order_id),
            title: title.into(),
            level: level.into(),
            contractor: None,
            region: region.into(),
            devices: Vec::new(),
            device_count: 0,
            cause: None,
            response_due_at: None,
            repair_due_at: None,
            at,
            time_zone: default_zone(),
            summary: String::new(),
            digest: None,
        }
    }

    /// A contractor's daily digest.
    pub fn digest(contractor: impl Into<String>, digest: Digest, at: i64) -> Self {
        let contractor = contractor.into();
        Self {
            title: format!("{contractor} 每日工单汇总"),
            contractor: Some(contractor),
            digest: Some(digest),
            ..Self::for_order(NotificationKind::Digest, 0, "", "", "", at)
        }
        .without_order()
    }

    fn without_order(mut self) -> Self {
        self.order_id = None;
        self
    }

    /// Lists the first [`MAX_DEVICES`] of `devices` and counts them all.
    pub fn with_devices(mut self, devices: impl IntoIterator<Item = DeviceRef>) -> Self {
        self.devices.clear();
        self.device_count = 0;
        for d in devices {
            if self.devices.len() < MAX_DEVICES {
                self.devices.push(d);
            }
            self.device_count += 1;
        }
        self
    }

    /// The ordering key: messages about one order (or one contractor's digests) reach each
    /// target in the order they were written.
    pub fn ordering_key(&self) -> String {
        match (self.kind, self.order_id) {
            (NotificationKind::Digest, _) | (_, None) => {
                format!("digest:{}", self.contractor.as_deref().unwrap_or(""))
            }
            (_, Some(id)) => format!("work-order:{id}"),
        }
    }

    /// `at` as local time in the notification's zone, `YYYY-MM-DD HH:MM`.
    pub fn local_time(&self, at: i64) -> String {
        let Ok(ts) = jiff::Timestamp::from_second(at) else {
            return at.to_string();
        };
        let tz = jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        ts.to_zoned_datetime(tz)
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// The devices as "name (code)", comma-separated, with "等 N 路" when some are not listed.
    pub fn devices_text(&self) -> String {
        let mut s = self
            .devices
            .iter()
            .map(|d| {
                if d.name.is_empty() {
                    d.code.clone()
                } else {
                    format!("{}（{}）", d.name, d.code)
                }
            })
            .collect::<Vec<_>>()
            .join("、");
        if self.device_count > self.devices.len() as u64 {
            s.push_str(&format!(" 等 {} 路", self.device_count));
        }
        s
    }

    /// The one-line Chinese summary, e.g. `【新工单】#42 城东路口 离线（1 路），运维单位：甲公司，响应期限 10-02 09:30`.
    pub fn summary_zh(&self) -> String {
        let label = self.kind.label_zh();
        if let Some(d) = &self.digest {
            return format!(
                "【{label}】{}：未关闭 {} 单，超时 {} 单，待审核 {} 单，昨日关闭 {} 单",
                self.contractor.as_deref().unwrap_or("未分配"),
                d.open,
                d.overdue,
                d.awaiting_review,
                d.closed
            );
        }
        let mut s = format!("【{label}】");
        if let Some(id) = self.order_id {
            s.push_str(&format!("#{id} "));
        }
        s.push_str(&self.title);
        if self.device_count > 1 {
            s.push_str(&format!("（{} 路）", self.device_count));
        }
        s.push_str(&format!(
            "，运维单位：{}",
            self.contractor.as_deref().unwrap_or("未分配")
        ));
        let deadline = match self.kind {
            NotificationKind::Opened | NotificationKind::Reopened => self
                .response_due_at
                .map(|t| ("响应期限", t))
                .or(self.repair_due_at.map(|t| ("修复期限", t))),
            NotificationKind::ResponseOverdue => self.response_due_at.map(|t| ("响应期限", t)),
            _ => self.repair_due_at.map(|t| ("修复期限", t)),
        };
        if let Some((what, t)) = deadline {
            s.push_str(&format!("，{what} {}", self.local_time(t)));
        }
        s
    }
}

/// The outbox rows announcing `n`: one per target whose filters accept it, in `targets`'
/// order, each with the ordering key of [`Notification::ordering_key`] and the payload JSON
/// (with the summary filled in when it was empty). A target with a contractor filter gets only
/// the messages of those contractors (unassigned orders never).
pub fn rows_for(n: &Notification, targets: &[Target]) -> Vec<NewOutboxRow> {
    let mut n = n.clone();
    if n.summary.is_empty() {
        n.summary = n.summary_zh();
    }
    let payload = serde_json::to_string(&n).expect("a notification always serializes");
    let key = n.ordering_key();
    targets
        .iter()
        .filter(|t| t.accepts(&n))
        .map(|t| NewOutboxRow {
            target: t.name.clone(),
            ordering_key: key.clone(),
            kind: n.kind.as_str().to_string(),
            payload: payload.clone(),
            created_at: n.at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, Target};

    fn target(name: &str, kinds: &[NotificationKind], contractors: &[&str]) -> Target {
        Target {
            name: name.into(),
            url: "https://x/".into(),
            secret: None,
            kinds: kinds.to_vec(),
            contractors: contractors.iter().map(|c| c.to_string()).collect(),
            format: Format::Wecom,
        }
    }

    fn order(kind: NotificationKind, contractor: Option<&str>) -> Notification {
        let mut n = Notification::for_order(kind, 42, "城东路口 离线", "一级", "340202", 1000);
        n.contractor = contractor.map(Into::into);
        n
    }

    #[test]
    fn rows_fan_out_to_the_targets_whose_filters_accept() {
        let targets = [
            target("all", &[], &[]),
            target("overdue", &[NotificationKind::RepairOverdue], &[]),
            target("jia", &[], &["甲公司"]),
        ];
        let rows = rows_for(&order(NotificationKind::Opened, Some("甲公司")), &targets);
        let names: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["all", "jia"]);
        assert!(rows.iter().all(|r| r.ordering_key == "work-order:42"
            && r.kind == "opened"
            && r.created_at == 1000));
        let n: Notification = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(n.summary, "【新工单】#42 城东路口 离线，运维单位：甲公司");

        // Unassigned: never to a contractor-filtered target.
        let rows = rows_for(&order(NotificationKind::RepairOverdue, None), &targets);
        let names: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["all", "overdue"]);
        assert_eq!(rows[0].kind, "repair_overdue");
    }

    #[test]
    fn digests_are_ordered_per_contractor() {
        let n = Notification::digest(
            "甲公司",
            Digest {
                open: 3,
                overdue: 1,
                ..Digest::default()
            },
            5000,
        );
        assert_eq!(n.ordering_key(), "digest:甲公司");
        assert_eq!(n.order_id, None);
        assert_eq!(
            n.summary_zh(),
            "【每日工单汇总】甲公司：未关闭 3 单，超时 1 单，待审核 0 单，昨日关闭 0 单"
        );
        let rows = rows_for(&n, &[target("jia", &[], &["甲公司"])]);
        assert_eq!(rows[0].kind, "digest");
    }

    #[test]
    fn device_lists_are_bounded_and_counted() {
        let n = order(NotificationKind::Opened, None).with_devices((0..25).map(|i| DeviceRef {
            code: format!("340200000013200000{i:02}"),
            name: format!("通道{i}"),
        }));
        assert_eq!((n.devices.len(), n.device_count), (MAX_DEVICES, 25));
        assert!(
            n.devices_text()
                .ends_with("通道19（34020000001320000019） 等 25 路")
        );
        // The payload round-trips.
        let back: Notification = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
    }
}
