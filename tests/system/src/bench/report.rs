//! The figures of a run: each part appends rows (what, measured, target, met) to a file of
//! JSON lines named by the parent, which prints them together as one table at the end.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The part it belongs to (`1 latency`).
    pub section: String,
    /// What was measured.
    pub what: String,
    /// The figure.
    pub measured: String,
    /// The target, or `—`.
    pub target: String,
    /// Whether the target is met; `None` without a target.
    pub met: Option<bool>,
}

/// Where a part writes its rows.
#[derive(Debug, Clone)]
pub struct Report {
    path: PathBuf,
    section: String,
}

impl Report {
    /// Rows of `section`, appended to the file at `path`.
    pub fn new(path: &Path, section: &str) -> Report {
        Report {
            path: path.to_path_buf(),
            section: section.to_owned(),
        }
    }

    /// Appends a figure without a target.
    pub fn figure(&self, what: &str, measured: String) -> Result<()> {
        self.row(what, measured, "—", None)
    }

    /// Appends a figure with its target and whether it is met.
    pub fn row(&self, what: &str, measured: String, target: &str, met: Option<bool>) -> Result<()> {
        let row = Row {
            section: self.section.clone(),
            what: what.to_owned(),
            measured,
            target: target.to_owned(),
            met,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| self.path.display().to_string())?;
        writeln!(file, "{}", serde_json::to_string(&row)?)?;
        Ok(())
    }
}

/// Every row written to `path` so far.
pub fn read_rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The rows as a Markdown table (readable in a terminal and pasteable into a document).
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let [s, w, m, t] = [&r.section, &r.what, &r.measured, &r.target].map(Clone::clone);
            [s, w, m, t, met.to_owned()]
        })
        .collect();
    let head = ["part", "figure", "measured", "target", "met"].map(str::to_owned);
    let mut widths = head.clone().map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String; 5]| {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(&head);
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_by_a_part_come_back_as_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows");
        let report = Report::new(&path, "4 start");
        report
            .row("start to READY", "41 ms".into(), "≤ 300 ms", Some(true))
            .unwrap();
        report.figure("start to online", "52 ms".into()).unwrap();
        let rows = read_rows(&path);
        assert_eq!(rows.len(), 2);
        let text = table(&rows);
        assert!(text.contains("| 4 start | start to READY  | 41 ms    | ≤ 300 ms | yes |"));
        assert_eq!(text.lines().count(), 4);
    }
}
