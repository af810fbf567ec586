// The console's words: one table per language, Chinese first (the default), English
// switchable (remembered in this browser). `t(key, vars, fallback)`: `{name}` in a text is
// replaced by `vars.name`; a key missing from the table gives `fallback`, else the key itself.

const FAILURES = {
  dns_or_route: ["域名或路由不可达", "name or route unreachable"],
  connection_refused: ["连接被拒绝（端口无服务）", "connection refused (nothing listening)"],
  connect_timeout: ["连接超时", "connection timed out"],
  no_answer: ["已连接但无应答", "connected, no answer"],
  tls: ["TLS 握手失败", "TLS handshake failed"],
  auth_failed: ["认证失败（密码错误或账户锁定）", "authentication failed"],
  rtsp_status: ["RTSP 错误状态", "RTSP error status"],
  stream_not_found: ["码流不存在（RTSP 404）", "stream not found (RTSP 404)"],
  sip_status: ["SIP 请求被拒绝（GB/T 28181 INVITE）", "SIP request refused (GB/T 28181 INVITE)"],
  no_media: ["无媒体数据", "no media"],
  malformed_reply: ["应答格式错误", "malformed reply"],
  soap_fault: ["ONVIF SOAP 错误", "ONVIF SOAP fault"],
  http_status: ["HTTP 错误状态", "HTTP error status"],
  bad_image: ["抓图无效", "bad snapshot image"],
  deadline: ["探测超时", "probe deadline passed"],
  io: ["传输中断", "I/O error"],
};
const FAULTS = {
  signal_loss: ["视频信号丢失", "signal loss"], too_dark: ["画面过暗", "too dark"],
  too_bright: ["画面过亮", "too bright"], blur: ["画面模糊", "blur"], noise: ["噪声干扰", "noise"],
  color_cast: ["偏色", "colour cast"], occlusion: ["遮挡", "occlusion"], stripes: ["条纹干扰", "stripes"],
  frozen: ["画面冻结", "frozen picture"], scene_change: ["场景变更", "scene changed"],
  not_watched: ["未监测", "not watched"],
};

const zh = {
  "app.title": "视频监控运维平台", "lang.other": "English", logout: "退出", cancel: "取消", forbidden: "无权查看",
  "live.on": "● 实时", "live.off": "○ 未连接",
  "login.name": "用户名", "login.password": "密码", "login.submit": "登录",
  "login.failed": "用户名或密码错误", "login.locked": "登录失败次数过多，账户已临时锁定", "login.expired": "会话已过期，请重新登录",
  "password.title": "修改密码", "password.must": "管理员设置的密码须在首次登录时修改。", "password.change": "修改密码",
  "password.rule": "至少 8 位，须含大写字母、小写字母、数字和符号。", "password.current": "当前密码",
  "password.new": "新密码", "password.again": "再次输入新密码", "password.submit": "保存", "password.mismatch": "两次输入的新密码不一致",
  "nav.dashboard": "总览", "nav.devices": "设备", "nav.work-orders": "工单", "nav.map": "地图", "nav.reports": "报表", "nav.admin": "管理", "nav.patrol": "巡检",
  "role.admin": "管理员", "role.operator": "视频专班", "role.contractor": "运维单位", "role.auditor": "审计",
  "status.online": "在线", "status.degraded": "降级", "status.offline": "离线", "status.unknown": "未知",
  "col.code": "设备编码", "col.name": "设备名称", "col.status": "状态", "col.since": "持续", "col.cause": "原因",
  "col.region": "行政区划", "col.maintainer": "运维单位", "col.address": "安装地址", "col.kind": "设备类型",
  "kind.camera": "摄像机", "kind.channel": "通道", "kind.nvr": "NVR", "kind.dvr": "DVR", "kind.encoder": "编码器", "kind.platform": "平台", "kind.other": "其他",
  "dash.points": "点位", "dash.online_rate": "在线率", "dash.intact_rate": "完好率", "dash.threshold": "合同考核线 {v}",
  "dash.threshold_short": "考核线", "dash.no_contract": "未配置合同", "dash.at": "统计时间 {at}",
  "dash.by_region": "分区域在线率", "dash.orders": "工单", "dash.open_orders": "未完成工单", "dash.overdue_orders": "超时工单",
  "dash.all_orders": "全部工单 →", "dash.figures": "今日与本月", "dash.trend": "每日趋势", "dash.changes": "最新状态变化",
  "dash.not_yet": "服务器尚未提供该数据。", "dash.wall": "大屏展示",
  "wall.title": "视频监控点位运行态势", "wall.exit": "退出大屏",
  "dash.today_online": "今日在线率", "dash.month_online": "本月在线率", "dash.month_intact": "本月完好率",
  "dev.search": "编码、名称或地址", "dev.any_status": "全部状态", "dev.any_kind": "全部类型", "dev.sort": "排序",
  "dev.filter": "筛选", "dev.more": "加载更多", "dev.shown": "已显示 {n} 台", "dev.all_shown": "已全部显示", "dev.export": "导出：",
  "sort.code": "编码", "sort.name": "名称", "sort.status": "状态（最差在前）", "sort.since": "持续最久在前",
  "imp.title": "导入设备台账", "imp.hint": "CSV（UTF-8 或 GBK）或 XLSX。先检查，确认无误后再写入。", "imp.check": "检查（不写入）",
  "imp.write": "写入", "imp.choose": "请先选择文件", "imp.working": "处理中…",
  "imp.summary": "共 {rows} 行，{bad} 行有错（编码 {enc}）。", "imp.written": "已写入：新增 {ins}，更新 {upd}。", "imp.dry": "仅检查，未写入。",
  "imp.line": "行", "imp.column": "列", "imp.problem": "问题", "imp.value": "值",
  "device.missing": "设备不存在或不在您的权限范围内。", "device.for": "已持续 {d}", "device.picture": "画面问题",
  "device.last_failure": "最近一次失败", "device.record": "台账信息", "device.images": "取证画面与基准画面",
  "device.timeline": "状态时间线", "device.probes": "最近探测", "device.orders": "相关工单", "device.actions": "操作",
  "device.parent": "上级设备", "device.position": "经纬度", "device.ip": "IP 地址", "device.vendor": "厂商型号", "device.contact": "运维联系人",
  "device.evidence": "最新取证画面", "device.baseline": "基准画面（白天）", "device.baseline_night": "基准画面（夜间）",
  "device.no_image": "暂无图像", "device.approve": "将最新画面设为基准", "device.approve_force": "这就是正常场景，仍然设为基准", "device.no_orders": "无相关工单",
  "device.no_exemptions": "该时段无免责记录", "device.exemptions": "免责", "device.no_probes": "暂无探测记录",
  "device.no_actions": "您的角色没有可执行的操作。",
  "device.unconfirmed": "待确认：由 GB/T 28181 目录同步新增，尚未确认，不计入考核、不派工单。",
  "device.sip": "GB/T 28181 信令", "device.sip.peer": "所属设备", "device.sip.channel": "其目录中的通道，状态 {s}",
  "device.sip.presence": "注册状态", "device.sip.presence.online": "已注册在线", "device.sip.presence.never_registered": "未注册",
  "device.sip.presence.unregistered": "已注销", "device.sip.presence.expired": "注册已过期", "device.sip.presence.keepalive_lost": "心跳中断",
  "device.sip.offline_by": "若无心跳将于 {at} 离线", "device.sip.offline_since": "自 {at} 离线", "device.sip.via": "传输与地址",
  "device.sip.registered": "注册时间 → 到期", "device.sip.keepalive": "最近心跳", "device.sip.ago": "{d}前",
  "device.sip.rule": "每 {i} 秒一次，漏 {m} 次离线，当前已漏 {n} 次", "device.sip.none": "无",
  "device.sip.catalog": "最近目录", "device.sip.catalog_line": "{at}：{n}/{of} 个通道，{p} 条消息", "device.sip.partial": "不完整",
  "device.sip.info": "设备信息",
  "device.elsewhere": "该设备由另一个节点探测：状态来自该节点的记录；最近探测与取证画面请在该节点查看。",
  "period.24h": "最近 24 小时", "period.7d": "最近 7 天", "period.30d": "最近 30 天",
  "probe.at": "时间", "probe.class": "类型", "probe.outcome": "结果", "probe.steps": "步骤", "probe.words": "服务器原话", "probe.up": "正常",
  "probe.class.liveness": "在线", "probe.class.picture": "画面", "probe.class.onvif": "ONVIF",
  "wo.state.pending": "待处理", "wo.state.accepted": "处理中", "wo.state.repaired": "已修复待核验",
  "wo.state.awaiting_review": "待审核", "wo.state.closed": "已完成",
  "wo.overdue": "超时", "wo.since": "已开 {d}", "wo.note": "备注", "wo.title": "标题", "wo.open": "派发工单",
  "wo.opened": "已派发工单 #{id}", "wo.unassigned": "未指派", "wo.opened_at": "派发于 {at}", "wo.respond": "响应时限",
  "wo.repair_by": "修复时限", "wo.left": "剩余 {d}", "wo.late_by": "已超时 {d}",
  "wo.act.accept": "接单", "wo.act.repair": "报修复", "wo.act.note": "备注", "wo.act.assign": "改派", "wo.act.approve": "审核通过",
  "wo.act.reject": "驳回", "wo.act.reopen": "重新打开", "wo.act.cancel": "撤销",
  "ex.add": "添加免责", "ex.added": "已添加", "ex.approved_by": "批准人", "ex.reason": "原因", "ex.from": "开始", "ex.to": "结束",
  "reason.force_majeure": "不可抗力", "reason.planned_works": "计划施工", "reason.relocation": "迁移",
  "reason.demolition": "拆除", "reason.third_party": "第三方原因", "reason.other": "其他",
  "map.loading": "加载中…", "map.count": "{n} 个点位（{none} 个无坐标），{ms} 毫秒",
  "rep.hint": "月度考核报表：在线率、扣款与明细，与命令行 camwatch report monthly 生成的文件相同。",
  "rep.month": "月份", "rep.lang": "语言", "rep.scoped": "报表为全网数据，仅限不受区域和单位限制的用户下载。",
  "adm.users": "用户", "adm.tokens": "API 令牌", "adm.audit": "审计日志", "adm.exemptions": "免责记录",
  "adm.role": "角色", "adm.regions": "区域（行政区划前缀）", "adm.state": "状态", "adm.all": "全部",
  "adm.disabled": "已停用", "adm.must_change": "待改密", "adm.active": "正常", "adm.enable": "启用", "adm.disable": "停用",
  "adm.unlock": "解锁", "adm.add_user": "新增用户", "adm.add": "新增", "adm.created": "已创建 {name}，一次性密码：{pw}",
  "adm.user": "用户", "adm.token_name": "名称", "adm.access": "权限", "adm.created_at": "创建时间", "adm.last_used": "最近使用",
  "adm.revoke": "吊销", "adm.none": "无", "adm.action_filter": "按操作筛选（如 device.）", "adm.at": "时间", "adm.actor": "操作人",
  "adm.action": "操作", "adm.target": "对象", "adm.detail": "详情", "adm.subject": "设备或区域",
  "unit.d": "天", "unit.h": "小时", "unit.m": "分钟",
  "cause.parent_down": "上级设备 {code} 离线", "cause.no_media": "无媒体数据", "cause.bad_image": "抓图无效",
  "patrol.progress": "今日已巡 {n} / {quota}", "patrol.day": "{day} · 纳入巡检 {fleet} 路 · 每 {cycle} 个工作日轮巡一遍",
  "patrol.faults": "发现故障 {n}", "patrol.day_off": "今天不是工作日，没有巡检任务。", "patrol.order": "已为 {name} 派发工单 #{id}",
  "patrol.diagnosis": "自动诊断：", "patrol.no_diagnosis": "未发现异常", "patrol.normal": "正常", "patrol.fault": "故障",
  "patrol.verdict.normal": "已确认正常", "patrol.verdict.fault": "已报故障",
  "finding.no_video": "无视频", "finding.signal_loss": "信号丢失", "finding.too_dark": "画面过暗", "finding.too_bright": "画面过亮",
  "finding.blur": "画面模糊", "finding.noise": "噪声干扰", "finding.color_cast": "画面偏色", "finding.occlusion": "画面遮挡",
  "finding.stripes": "条纹干扰", "finding.frozen": "画面冻结", "finding.scene_change": "场景变更", "finding.other": "其他",
};

const en = {
  "app.title": "camwatch console", "lang.other": "中文", logout: "Sign out", cancel: "Cancel", forbidden: "Not permitted",
  "live.on": "● live", "live.off": "○ offline",
  "login.name": "User name", "login.password": "Password", "login.submit": "Sign in",
  "login.failed": "Wrong user name or password", "login.locked": "Too many failed sign-ins: locked for a while", "login.expired": "Your session ended: sign in again",
  "password.title": "Change password", "password.must": "A password set by an admin must be changed at the first sign-in.", "password.change": "Password",
  "password.rule": "At least 8 characters with upper- and lower-case letters, a digit and a symbol.", "password.current": "Current password",
  "password.new": "New password", "password.again": "New password again", "password.submit": "Save", "password.mismatch": "The new passwords differ",
  "nav.dashboard": "Dashboard", "nav.devices": "Devices", "nav.work-orders": "Work orders", "nav.map": "Map", "nav.reports": "Reports", "nav.admin": "Admin", "nav.patrol": "Patrol",
  "role.admin": "admin", "role.operator": "operator", "role.contractor": "contractor", "role.auditor": "auditor",
  "status.online": "online", "status.degraded": "degraded", "status.offline": "offline", "status.unknown": "unknown",
  "col.code": "Code", "col.name": "Name", "col.status": "Status", "col.since": "For", "col.cause": "Cause",
  "col.region": "Region", "col.maintainer": "Maintainer", "col.address": "Address", "col.kind": "Kind",
  "kind.camera": "camera", "kind.channel": "channel", "kind.nvr": "NVR", "kind.dvr": "DVR", "kind.encoder": "encoder", "kind.platform": "platform", "kind.other": "other",
  "dash.points": "Points", "dash.online_rate": "Online rate", "dash.intact_rate": "Intact rate", "dash.threshold": "contract threshold {v}",
  "dash.threshold_short": "threshold", "dash.no_contract": "no contract configured", "dash.at": "as of {at}",
  "dash.by_region": "Online rate by region", "dash.orders": "Work orders", "dash.open_orders": "Open orders", "dash.overdue_orders": "Overdue",
  "dash.all_orders": "All work orders →", "dash.figures": "Today and this month", "dash.trend": "Daily trend", "dash.changes": "Latest status changes",
  "dash.not_yet": "The server does not provide this yet.", "dash.wall": "Wall display",
  "wall.title": "Camera fleet at a glance", "wall.exit": "Leave the wall display",
  "dash.today_online": "Online today", "dash.month_online": "Online this month", "dash.month_intact": "Intact this month",
  "dev.search": "Code, name or address", "dev.any_status": "Any status", "dev.any_kind": "Any kind", "dev.sort": "Sort",
  "dev.filter": "Filter", "dev.more": "More", "dev.shown": "{n} shown", "dev.all_shown": "all shown", "dev.export": "Export:",
  "sort.code": "code", "sort.name": "name", "sort.status": "status (worst first)", "sort.since": "longest first",
  "imp.title": "Import the register", "imp.hint": "CSV (UTF-8 or GBK) or XLSX. Check first, then write.", "imp.check": "Check (write nothing)",
  "imp.write": "Write", "imp.choose": "Choose a file first", "imp.working": "Working…",
  "imp.summary": "{rows} rows, {bad} with errors (encoding {enc}).", "imp.written": "Written: {ins} new, {upd} updated.", "imp.dry": "Checked only, nothing written.",
  "imp.line": "Line", "imp.column": "Column", "imp.problem": "Problem", "imp.value": "Value",
  "device.missing": "No such device in your scope.", "device.for": "for {d}", "device.picture": "Picture problem",
  "device.last_failure": "Last failure", "device.record": "Register record", "device.images": "Evidence and baseline",
  "device.timeline": "Status timeline", "device.probes": "Recent probes", "device.orders": "Work orders", "device.actions": "Actions",
  "device.parent": "Parent", "device.position": "Position", "device.ip": "IP address", "device.vendor": "Vendor, model", "device.contact": "Contact",
  "device.evidence": "Latest evidence frame", "device.baseline": "Baseline (day)", "device.baseline_night": "Baseline (night)",
  "device.no_image": "No image", "device.approve": "Approve the latest frame as baseline", "device.approve_force": "That is the scene: approve anyway", "device.no_orders": "No work orders",
  "device.no_exemptions": "No exemptions in the period", "device.exemptions": "Exemptions", "device.no_probes": "No probes yet",
  "device.no_actions": "Your role has no actions here.",
  "device.unconfirmed": "Unconfirmed: brought in by a GB/T 28181 catalog and not yet confirmed; not counted in reports, no work orders.",
  "device.sip": "GB/T 28181 signalling", "device.sip.peer": "Reported by", "device.sip.channel": "a channel of its catalog, Status {s}",
  "device.sip.presence": "Registration", "device.sip.presence.online": "registered, online", "device.sip.presence.never_registered": "never registered",
  "device.sip.presence.unregistered": "unregistered", "device.sip.presence.expired": "registration expired", "device.sip.presence.keepalive_lost": "keepalives stopped",
  "device.sip.offline_by": "offline at {at} without a keepalive", "device.sip.offline_since": "offline since {at}", "device.sip.via": "Transport and address",
  "device.sip.registered": "Registered → expires", "device.sip.keepalive": "Last keepalive", "device.sip.ago": "{d} ago",
  "device.sip.rule": "every {i} s, offline after {m} missed, {n} missed now", "device.sip.none": "none",
  "device.sip.catalog": "Last catalog", "device.sip.catalog_line": "{at}: {n} of {of} channels in {p} messages", "device.sip.partial": "partial",
  "device.sip.info": "Device info",
  "device.elsewhere": "Probed by another node: the status is that node's record; its recent probes and evidence are on that node.",
  "period.24h": "last 24 hours", "period.7d": "last 7 days", "period.30d": "last 30 days",
  "probe.at": "At", "probe.class": "Class", "probe.outcome": "Outcome", "probe.steps": "Steps", "probe.words": "The server's words", "probe.up": "up",
  "probe.class.liveness": "liveness", "probe.class.picture": "picture", "probe.class.onvif": "ONVIF",
  "wo.state.pending": "Pending", "wo.state.accepted": "Accepted", "wo.state.repaired": "Repaired, verifying",
  "wo.state.awaiting_review": "Awaiting review", "wo.state.closed": "Closed",
  "wo.overdue": "overdue", "wo.since": "open {d}", "wo.note": "Note", "wo.title": "Title", "wo.open": "Open a work order",
  "wo.opened": "Opened order #{id}", "wo.unassigned": "unassigned", "wo.opened_at": "opened {at}", "wo.respond": "Respond",
  "wo.repair_by": "Repair", "wo.left": "{d} left", "wo.late_by": "late by {d}",
  "wo.act.accept": "Accept", "wo.act.repair": "Repaired", "wo.act.note": "Note", "wo.act.assign": "Assign", "wo.act.approve": "Approve",
  "wo.act.reject": "Reject", "wo.act.reopen": "Reopen", "wo.act.cancel": "Cancel",
  "ex.add": "Add an exemption", "ex.added": "Added", "ex.approved_by": "Approved by", "ex.reason": "Reason", "ex.from": "From", "ex.to": "To",
  "reason.force_majeure": "force majeure", "reason.planned_works": "planned works", "reason.relocation": "relocation",
  "reason.demolition": "demolition", "reason.third_party": "third party", "reason.other": "other",
  "map.loading": "Loading…", "map.count": "{n} points ({none} without a position), {ms} ms",
  "rep.hint": "The monthly contract report: online rate, deductions and details, the same files as camwatch report monthly.",
  "rep.month": "Month", "rep.lang": "Language", "rep.scoped": "Reports are the whole fleet's: only users without a region or maintainer scope may download them.",
  "adm.users": "Users", "adm.tokens": "API tokens", "adm.audit": "Audit log", "adm.exemptions": "Exemptions",
  "adm.role": "Role", "adm.regions": "Regions (civil-code prefixes)", "adm.state": "State", "adm.all": "all",
  "adm.disabled": "disabled", "adm.must_change": "must change password", "adm.active": "active", "adm.enable": "Enable", "adm.disable": "Disable",
  "adm.unlock": "Unlock", "adm.add_user": "Add a user", "adm.add": "Add", "adm.created": "Created {name}; one-time password: {pw}",
  "adm.user": "User", "adm.token_name": "Name", "adm.access": "Access", "adm.created_at": "Created", "adm.last_used": "Last used",
  "adm.revoke": "Revoke", "adm.none": "None", "adm.action_filter": "Filter by action (e.g. device.)", "adm.at": "At", "adm.actor": "Actor",
  "adm.action": "Action", "adm.target": "Target", "adm.detail": "Detail", "adm.subject": "Device or region",
  "unit.d": " d", "unit.h": " h", "unit.m": " min",
  "cause.parent_down": "parent {code} is down", "cause.no_media": "no media", "cause.bad_image": "bad snapshot image",
  "patrol.progress": "Patrolled today: {n} / {quota}", "patrol.day": "{day} · {fleet} channels in the plan · each within {cycle} working days",
  "patrol.faults": "{n} faults", "patrol.day_off": "Today is not a working day: no patrol.", "patrol.order": "Opened work order #{id} for {name}",
  "patrol.diagnosis": "Automatic diagnosis: ", "patrol.no_diagnosis": "nothing found", "patrol.normal": "Normal", "patrol.fault": "Fault",
  "patrol.verdict.normal": "confirmed normal", "patrol.verdict.fault": "fault reported",
  "finding.no_video": "no video", "finding.signal_loss": "signal loss", "finding.too_dark": "too dark", "finding.too_bright": "too bright",
  "finding.blur": "blur", "finding.noise": "noise", "finding.color_cast": "colour cast", "finding.occlusion": "occlusion",
  "finding.stripes": "stripes", "finding.frozen": "frozen picture", "finding.scene_change": "scene changed", "finding.other": "other",
};

for (const [k, [z, e]] of Object.entries(FAILURES)) {
  zh["failure." + k] = z; en["failure." + k] = e;
  zh["cause." + k] = z; en["cause." + k] = e;
}
for (const [k, [z, e]] of Object.entries(FAULTS)) {
  zh["cause." + k] = z; en["cause." + k] = e;
}

export const TABLES = { zh, en };
const KEY = "camwatch.lang";
let current = localStorage.getItem(KEY) === "en" ? "en" : "zh";

export function lang() {
  return current;
}

export function setLang(l) {
  current = l === "en" ? "en" : "zh";
  localStorage.setItem(KEY, current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
}

export function t(key, vars, fallback) {
  let s = TABLES[current][key];
  if (s === undefined) return fallback !== undefined ? fallback : key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
  return s;
}
