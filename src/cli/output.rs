//! How client commands print: aligned tables for people (the default), JSON for scripts.

use std::io::Write;

use serde_json::{json, Value};
use sluice_client::ClientError;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header row.
    Table,
    /// JSON: one document per command, or one object per line for record streams.
    Json,
}

/// A table of rows under a header, printed with columns padded to their widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: Vec<&str>, out: &mut String| {
            let n = cells.len();
            for (i, (c, w)) in cells.into_iter().zip(&widths).enumerate() {
                out.push_str(c);
                if i + 1 < n {
                    let pad = w - c.chars().count() + 2;
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(self.header.clone(), &mut out);
        for r in &self.rows {
            line(r.iter().map(String::as_str).collect(), &mut out);
        }
        out
    }
}

/// Print `value` as a JSON document (pretty, one trailing newline).
pub fn print_json(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// The outcome of deleting several things (topics, groups): a line per deletion for people,
/// one JSON array for scripts; the command fails with every error if any failed.
pub struct Deletions {
    format: Format,
    /// The JSON key naming each one ("name", "group") and the word for it in a table line.
    key: &'static str,
    noun: &'static str,
    results: Vec<Value>,
    errors: Vec<ClientError>,
}

impl Deletions {
    pub fn new(format: Format, key: &'static str, noun: &'static str) -> Deletions {
        Deletions {
            format,
            key,
            noun,
            results: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn record(&mut self, name: &str, outcome: Result<(), ClientError>) {
        if outcome.is_ok() && self.format == Format::Table {
            println!("Deleted {} {name}.", self.noun);
        }
        let error = outcome.as_ref().err().and_then(ClientError::code);
        self.results.push(json!({
            self.key: name,
            "deleted": outcome.is_ok(),
            "error": error.map(sluice_client::error::error_name),
        }));
        self.errors.extend(outcome.err());
    }

    pub fn finish(self) -> Result<(), ClientError> {
        if self.format == Format::Json {
            print_json(&Value::Array(self.results));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Several(self.errors))
        }
    }
}

/// Bytes as text for output: UTF-8 as is, anything else lossily.
pub fn text(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = Table::new(&["NAME", "N"]);
        t.row(vec!["a-long-name".into(), "1".into()]);
        t.row(vec!["b".into(), "22".into()]);
        assert_eq!(
            t.render(),
            "NAME         N\na-long-name  1\nb            22\n"
        );
    }
}
