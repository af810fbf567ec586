//! Column and field names in English and Chinese. Chinese names follow the wording of the
//! monthly operation-and-maintenance assessment forms (运维考核月报) that auditors sign.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zh" => Ok(Self::Zh),
            "en" => Ok(Self::En),
            o => Err(format!("unknown language {o:?} (expected zh or en)")),
        }
    }
}

const LABELS: &[(&str, &str, &str)] = &[
    (
        "title",
        "Monthly availability report",
        "视频监控前端点位运维考核月报",
    ),
    ("summary", "Summary", "汇总"),
    ("by_region", "By region", "按行政区划"),
    ("by_contractor", "By contractor", "按运维单位"),
    ("devices_sheet", "Devices", "点位明细"),
    ("deductions_sheet", "Deductions", "扣款明细"),
    ("exemptions_sheet", "Exemptions", "免责记录"),
    ("semantics", "How the figures are counted", "计算口径"),
    ("notes", "Notes on the data", "数据说明"),
    ("signatures", "Signatures", "签字确认"),
    ("sign_client", "Client (video team)", "建设单位（视频专班）"),
    ("sign_contractor", "Contractor", "运维单位"),
    ("sign_auditor", "Auditor", "审核人"),
    ("item", "Item", "项目"),
    ("value", "Value", "数值"),
    ("month", "Month", "考核月份"),
    ("contract", "Contract", "合同"),
    (
        "report_scope",
        "Scope (part of the fleet)",
        "统计范围（部分点位）",
    ),
    ("timezone", "Time zone", "时区"),
    ("method", "Method", "在线率计算方法"),
    ("period_from", "Period from", "起始时间"),
    ("period_to", "Period to", "截止时间"),
    ("period_hours", "Period hours", "考核期时长(小时)"),
    ("unknown_treatment", "Unknown time", "未知时段处理"),
    ("devices", "Devices", "点位数"),
    ("key", "Group", "分组"),
    ("region_name", "Region", "行政区域"),
    ("code", "Device code", "设备编码"),
    ("name", "Name", "设备名称"),
    ("region", "Region", "行政区划"),
    ("contractor", "Contractor", "运维单位"),
    ("eligible_from", "Eligible from", "计费起始"),
    ("eligible_to", "Eligible to", "计费截止"),
    ("eligible_hours", "Eligible hours", "应在线时长(小时)"),
    ("online_hours", "Online hours", "在线时长(小时)"),
    ("degraded_hours", "Degraded hours", "图像异常时长(小时)"),
    ("offline_hours", "Offline hours", "离线时长(小时)"),
    ("exempt_hours", "Exempt hours", "免责时长(小时)"),
    ("unknown_hours", "Unknown hours", "未知时长(小时)"),
    ("online_rate", "Online rate %", "在线率(%)"),
    ("intact_rate", "Intact rate %", "完好率(%)"),
    ("outages", "Outages", "离线次数"),
    (
        "longest_outage_hours",
        "Longest outage (h)",
        "最长离线(小时)",
    ),
    ("over_offline_limit", "Over offline limit", "超离线时限"),
    (
        "devices_over_offline_limit",
        "Devices over offline limit",
        "超时限点位数",
    ),
    (
        "device_deductions",
        "Device deductions (yuan)",
        "单点扣款(元)",
    ),
    ("deduction", "Deduction (yuan)", "扣款(元)"),
    (
        "maintenance_fee_base",
        "Maintenance fee base (yuan)",
        "维护费基数(元)",
    ),
    ("link_fee_base", "Link fee base (yuan)", "链路费基数(元)"),
    ("score", "Score", "考核得分"),
    ("total_deduction", "Total deduction (yuan)", "扣款合计(元)"),
    (
        "input_digest",
        "Input digest (SHA-256)",
        "数据指纹(SHA-256)",
    ),
    ("rule", "Rule", "条款"),
    ("device", "Device", "设备"),
    ("amount", "Amount (yuan)", "金额(元)"),
    ("basis", "Basis", "依据"),
    ("fleet", "(fleet)", "（整体）"),
    ("fleet_online_rate", "Fleet online rate", "整体在线率"),
    (
        "device_offline_limit",
        "Device offline limit",
        "单点离线超时",
    ),
    ("score_tier", "Score tier", "考核得分档"),
    ("sla_late_response", "Late response", "响应超时"),
    ("sla_late_repair", "Late repair", "修复超时"),
    ("work_order", "Work order", "工单"),
    ("id", "No.", "编号"),
    ("scope", "Scope", "范围"),
    ("reason", "Reason", "原因"),
    ("from", "From", "开始"),
    ("to", "To", "结束"),
    ("approved_by", "Approved by", "批准人"),
    ("note", "Note", "说明"),
    ("device_hours", "Device hours", "涉及点位时长(小时)"),
    ("force_majeure", "Force majeure", "不可抗力"),
    ("planned_works", "Planned works", "计划施工"),
    ("relocation", "Relocation", "迁移"),
    ("demolition", "Demolition", "拆除"),
    ("third_party", "Third party", "第三方原因"),
    ("other", "Other", "其他"),
    ("work_orders_sheet", "Work orders", "工单"),
    ("orders_summary", "Work orders", "工单统计"),
    ("orders_by_state", "Work orders by state", "工单按状态"),
    ("orders_by_level", "Work orders by level", "工单按等级"),
    (
        "orders_by_origin",
        "Work orders by fault kind",
        "工单按故障类型",
    ),
    (
        "orders_by_contractor",
        "Work orders by contractor",
        "工单按运维单位",
    ),
    (
        "orders_by_region",
        "Work orders by region",
        "工单按行政区划",
    ),
    ("overdue_orders", "Overdue work orders", "超时工单"),
    ("orders", "Orders", "工单数"),
    ("open_orders", "Open", "未完成"),
    ("response_count", "Responded", "已响应数"),
    (
        "response_mean_minutes",
        "Mean response (min)",
        "平均响应时长(分钟)",
    ),
    (
        "response_p90_minutes",
        "P90 response (min)",
        "响应时长P90(分钟)",
    ),
    ("repair_count", "Repaired", "已修复数"),
    (
        "repair_mean_minutes",
        "Mean repair (min)",
        "平均修复时长(分钟)",
    ),
    (
        "repair_p90_minutes",
        "P90 repair (min)",
        "修复时长P90(分钟)",
    ),
    ("response_met", "Responses in time", "响应及时数"),
    ("response_missed", "Responses late", "响应超时数"),
    ("response_sla_percent", "Response SLA %", "响应及时率(%)"),
    ("repair_met", "Repairs in time", "修复及时数"),
    ("repair_missed", "Repairs late", "修复超时数"),
    ("repair_sla_percent", "Repair SLA %", "修复及时率(%)"),
    ("state", "State", "状态"),
    ("state_pending", "Pending", "待处理"),
    ("state_accepted", "Accepted", "处理中"),
    ("state_repaired", "Repair reported", "已报修复"),
    ("state_awaiting_review", "Awaiting review", "待审核"),
    ("state_closed", "Closed", "已完成"),
    ("origin", "Fault kind", "故障类型"),
    ("origin_outage", "Offline", "离线"),
    ("origin_picture", "Picture fault", "图像异常"),
    ("origin_parent", "Parent device down", "上级设备故障"),
    ("origin_region", "Regional outage", "区域性故障"),
    ("origin_manual", "Reported by hand", "人工报修"),
    ("origin_patrol", "Found by patrol", "巡检发现"),
    ("level", "Level", "等级"),
    ("order_title", "Title", "工单标题"),
    ("opened", "Opened", "派单时间"),
    ("response_due", "Response due", "响应时限"),
    ("responded", "Responded at", "响应时间"),
    ("repair_due", "Repair due", "修复时限"),
    ("repaired", "Repaired at", "修复时间"),
    ("missed", "Missed", "超时项"),
    ("missed_response", "Response", "响应超时"),
    ("missed_repair", "Repair", "修复超时"),
    ("missed_both", "Response and repair", "响应及修复超时"),
    ("unassigned", "(unassigned)", "（未指派）"),
    ("yes", "yes", "是"),
    ("no", "no", "否"),
    ("none", "none", "无"),
    ("patrol_sheet", "Patrol", "巡检"),
    ("patrol_summary", "Patrol summary", "巡检汇总"),
    ("patrol_days", "Patrol by day", "每日巡检"),
    ("patrol_patrollers", "Who patrolled", "巡检人员"),
    ("patrol_findings", "Faults found by patrol", "巡检发现故障"),
    (
        "patrol_daily_quota",
        "Daily quota (channels)",
        "每日巡检数量要求(路)",
    ),
    (
        "patrol_cycle_days",
        "Cycle (working days)",
        "轮巡周期(工作日)",
    ),
    ("patrol_fleet", "Channels in the plan", "纳入巡检点位数"),
    ("patrol_required_per_day", "Quota in effect", "每日应巡数"),
    ("patrol_working_days", "Working days", "工作日数"),
    (
        "patrol_planned_channels",
        "Channels planned",
        "计划巡检点位数",
    ),
    (
        "patrol_planned_visits",
        "Planned channel-days",
        "计划巡检路次",
    ),
    (
        "patrol_patrolled_channels",
        "Channels patrolled",
        "已巡检点位数",
    ),
    (
        "patrol_patrolled_visits",
        "Patrolled channel-days",
        "实际巡检路次",
    ),
    (
        "patrol_planned_done",
        "Planned channel-days done",
        "完成计划路次",
    ),
    ("patrol_coverage", "Coverage %", "巡检覆盖率(%)"),
    (
        "patrol_plan_completion",
        "Plan completion %",
        "计划完成率(%)",
    ),
    ("patrol_faults", "Faults found", "发现故障数"),
    ("patrol_quota_missed", "Days below quota", "未达标天数"),
    ("patrol_records", "Records stored", "巡检记录条数"),
    (
        "patrol_records_digest",
        "Records digest (SHA-256)",
        "巡检记录摘要(SHA-256)",
    ),
    ("patrol_day", "Day", "日期"),
    ("patrol_planned", "Planned", "计划"),
    ("patrol_patrolled", "Patrolled", "已巡"),
    ("patrol_day_faults", "Faults", "故障"),
    ("patrol_met_quota", "Quota met", "是否达标"),
    ("patrol_in_progress", "in progress", "进行中"),
    ("patrol_patroller", "Patroller", "巡检人"),
    ("patrol_channel_days", "Channel-days", "巡检路次"),
    ("patrol_channels", "Channels", "点位数"),
    ("patrol_days_active", "Days", "巡检天数"),
    ("patrol_device", "Device code", "设备编码"),
    ("patrol_name", "Name", "设备名称"),
    ("patrol_region", "Region", "行政区划"),
    ("patrol_finding", "Finding", "故障现象"),
    ("patrol_work_order", "Work order", "工单号"),
    ("patrol_note", "Note", "备注"),
    ("patrol_recorded", "Recorded at", "记录时间"),
    ("finding_no_video", "No video", "无视频"),
    ("finding_signal_loss", "Signal loss", "信号丢失"),
    ("finding_too_dark", "Too dark", "画面过暗"),
    ("finding_too_bright", "Too bright", "画面过亮"),
    ("finding_blur", "Blur", "画面模糊"),
    ("finding_noise", "Noise", "噪声干扰"),
    ("finding_color_cast", "Colour cast", "画面偏色"),
    ("finding_occlusion", "Occlusion", "画面遮挡"),
    ("finding_stripes", "Stripes", "条纹干扰"),
    ("finding_frozen", "Frozen picture", "画面冻结"),
    ("finding_scene_change", "Scene changed", "场景变更"),
    ("finding_other", "Other", "其他"),
    ("charts", "Charts", "统计图"),
    ("daily_sheet", "Daily rates", "每日在线率"),
    ("date", "Date", "日期"),
    (
        "chart_daily",
        "Daily online rate against the threshold",
        "每日在线率与考核线",
    ),
    (
        "chart_regions",
        "Regions ranked by online rate (lowest first)",
        "各行政区域在线率排名（由低到高）",
    ),
    (
        "chart_contractors",
        "Contractors ranked by online rate (lowest first)",
        "各运维单位在线率排名（由低到高）",
    ),
    (
        "chart_causes",
        "Offline time by cause",
        "离线时长按原因分布",
    ),
    ("chart_more", "{n} more in the table", "另有 {n} 项见表格"),
    ("threshold", "Threshold", "考核线"),
    ("causes_sheet", "Outage causes", "离线原因"),
    ("cause", "Cause", "原因"),
    ("cause_devices", "Devices affected", "涉及点位数"),
    (
        "cause_dns_or_route",
        "Name or route unreachable",
        "域名或路由不可达",
    ),
    (
        "cause_connection_refused",
        "Connection refused",
        "连接被拒绝",
    ),
    ("cause_connect_timeout", "Connection timed out", "连接超时"),
    ("cause_no_answer", "Connected, no answer", "已连接但无应答"),
    ("cause_tls", "TLS handshake failed", "TLS 握手失败"),
    ("cause_auth_failed", "Authentication failed", "认证失败"),
    ("cause_rtsp_status", "RTSP error status", "RTSP 错误状态"),
    ("cause_stream_not_found", "Stream not found", "码流不存在"),
    ("cause_sip_status", "SIP request refused", "SIP 请求被拒绝"),
    ("cause_no_media", "No media", "无媒体数据"),
    ("cause_malformed_reply", "Malformed reply", "应答格式错误"),
    ("cause_soap_fault", "ONVIF SOAP fault", "ONVIF SOAP 错误"),
    ("cause_http_status", "HTTP error status", "HTTP 错误状态"),
    ("cause_bad_image", "Bad image", "图像无效"),
    ("cause_deadline", "Probe deadline passed", "探测超时"),
    ("cause_io", "Transfer broken off", "传输中断"),
    ("cause_parent_down", "Parent device down", "上级设备故障"),
    ("cause_picture", "Picture fault", "图像异常"),
    ("cause_not_watched", "Not watched", "未监测"),
    ("cause_other", "Other (imported)", "其他（导入）"),
    ("cause_unrecorded", "Not recorded", "未记录原因"),
];

/// The label of `key` in `lang`; the key itself when there is none (never empty).
pub fn t(key: &str, lang: Lang) -> String {
    LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, en, zh)| match lang {
            Lang::En => en,
            Lang::Zh => zh,
        })
        .unwrap_or(key)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_family_has_a_label() {
        use camwatch_core::cause::Cause;
        use camwatch_core::outcome::FailureKind;
        use strum::VariantArray;
        let mut families: Vec<&str> = FailureKind::VARIANTS
            .iter()
            .map(|k| Cause::from_failure(*k).family())
            .collect();
        families.extend([
            "parent_down",
            "picture",
            "not_watched",
            "other",
            "unrecorded",
        ]);
        for f in families {
            let key = format!("cause_{f}");
            for l in [Lang::En, Lang::Zh] {
                assert_ne!(t(&key, l), key, "{key} has no label");
            }
        }
    }

    #[test]
    fn every_key_is_unique() {
        let mut keys: Vec<&str> = LABELS.iter().map(|l| l.0).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
