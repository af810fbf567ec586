// What each role may do, as the server's permission table (camwatch_core::access::Role::permits)
// says: the console only hides what would be refused; the server decides.
const READS = ["read_devices", "read_status", "read_history", "read_reports", "read_work_orders", "read_audit_log"];

export function may(role, action) {
  switch (role) {
    case "admin": return true;
    case "operator": return action !== "read_audit_log" && action !== "manage_users";
    case "contractor": return ["read_devices", "read_status", "read_history", "read_reports",
      "read_work_orders", "accept_work_order", "repair_work_order", "note_work_order"].includes(action);
    case "auditor": return READS.includes(action);
    default: return false;
  }
}

/** The work-order actions the role may take in a state (the server checks both again). */
export function orderActions(role, state) {
  const byState = {
    pending: ["accept", "assign", "note", "cancel"],
    accepted: ["repair", "assign", "note", "cancel"],
    repaired: ["note", "cancel"],
    awaiting_review: ["approve", "reject", "note"],
    closed: ["reopen", "note"],
  }[state] || [];
  const need = { accept: "accept_work_order", repair: "repair_work_order", note: "note_work_order",
    assign: "assign_work_order", approve: "review_work_order", reject: "review_work_order",
    reopen: "reopen_work_order", cancel: "open_work_order" };
  return byState.filter((a) => may(role, need[a]));
}
