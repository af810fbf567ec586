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
    ("timezone", "Time zone", "时区"),
    ("method", "Method", "在线率计算方法"),
    ("period_from", "Period from", "起始时间"),
    ("period_to", "Period to", "截止时间"),
    ("period_hours", "Period hours", "考核期时长(小时)"),
    ("unknown_treatment", "Unknown time", "未知时段处理"),
    ("devices", "Devices", "点位数"),
    ("key", "Group", "分组"),
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
    ("yes", "yes", "是"),
    ("no", "no", "否"),
    ("none", "none", "无"),
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
    fn every_key_is_unique() {
        let mut keys: Vec<&str> = LABELS.iter().map(|l| l.0).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
