//! Plans as people and programs read them: an aligned text table and JSON.

use std::fmt::Write;

use crate::plan::{Action, Plan};

/// Renders a plan as a table whose every row says why, headed by `title`.
pub fn plan_text(title: &str, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{title}: {} to create, {} to update, {} to delete, {} skipped",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Delete),
        plan.skips.len()
    );
    if plan.changes.is_empty() {
        out.push_str("\nNo changes. The triggers match the discovered sources.\n");
    } else {
        let rows: Vec<[String; 5]> = plan
            .changes
            .iter()
            .map(|c| {
                [
                    c.action.to_string(),
                    c.trigger.kind().to_owned(),
                    c.trigger.resource(),
                    c.trigger.target(),
                    c.reason.to_string(),
                ]
            })
            .collect();
        out.push('\n');
        table(
            &mut out,
            ["ACTION", "KIND", "RESOURCE", "TARGET", "WHY"],
            &rows,
        );
    }
    if !plan.skips.is_empty() {
        let rows: Vec<[String; 3]> = plan
            .skips
            .iter()
            .map(|s| [s.reason.to_string(), s.subject.clone(), s.detail.clone()])
            .collect();
        out.push_str("\nSkipped:\n");
        table(&mut out, ["REASON", "SUBJECT", "WHY"], &rows);
    }
    out
}

/// Renders a plan as pretty JSON (`{"changes": [...], "skips": [...]}`).
pub fn plan_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Writes rows under a header with every column but the last padded to its widest cell.
pub fn table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut text = String::from("  ");
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
