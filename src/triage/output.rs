//! Triage output: one JSONL line per item, appended and flushed as each completes, so a crash loses at most the
//! items in flight. Resuming reads the file back: a torn last line (a crash mid-write) is cut off, the ids
//! already done are skipped, and `--retry-failed` rewrites the file (atomically) without the failed ones.

use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Out {
    file: Mutex<std::fs::File>,
    pub path: PathBuf,
}

/// What an existing output file already holds.
#[derive(Debug, Default)]
pub struct Done {
    pub ids: HashSet<String>,
    /// Lines dropped because they were torn or unreadable.
    pub repaired: usize,
    /// Failed items removed for `--retry-failed`.
    pub retrying: usize,
}

/// Reads `path` (if it exists), repairs it, and keeps the ids that count as done.
pub fn resume(path: &Path, retry_failed: bool) -> std::io::Result<Done> {
    let mut done = Done::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(e),
    };
    let mut keep = String::with_capacity(text.len());
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let torn = i + 1 == lines.len() && !complete;
        let parsed: Option<Value> = if torn { None } else { serde_json::from_str(line).ok() };
        let Some(v) = parsed.filter(|v| v.get("id").is_some_and(Value::is_string)) else {
            if !line.trim().is_empty() {
                done.repaired += 1;
            }
            continue;
        };
        if retry_failed && v.get("status").and_then(Value::as_str) != Some("ok") {
            done.retrying += 1;
            continue;
        }
        done.ids.insert(v["id"].as_str().unwrap_or_default().to_string());
        keep.push_str(line);
        keep.push('\n');
    }
    if done.repaired > 0 || done.retrying > 0 {
        let tmp = path.with_extension("tmp-rewrite");
        std::fs::write(&tmp, keep)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(done)
}

impl Out {
    pub fn open(path: &Path) -> std::io::Result<Out> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Out { file: Mutex::new(file), path: path.to_path_buf() })
    }

    /// Appends one result as a single write of a whole line, then flushes it to the OS.
    pub fn append(&self, record: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)?;
        f.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_lines_are_cut_and_failed_ones_retried() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"status\":\"ok\"}\n{\"id\":\"b\",\"status\":\"error\"}\n{\"id\":\"c\",\"sta",
        )
        .unwrap();
        let d = resume(&p, false).unwrap();
        assert_eq!(d.repaired, 1);
        assert_eq!(d.ids.len(), 2);
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("\"error\"}\n"));
        let d = resume(&p, true).unwrap();
        assert_eq!((d.ids.len(), d.retrying), (1, 1));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"id\":\"a\",\"status\":\"ok\"}\n");
        assert!(resume(&dir.path().join("none.jsonl"), false).unwrap().ids.is_empty());
    }
}
