//! The platform's log output: Lambda's START, END and REPORT lines as CloudWatch Logs events,
//! one JSON document per line, one file per function, as `aws logs filter-log-events` returns
//! them.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes log events per function under a directory.
#[derive(Debug)]
pub struct PlatformLog {
    directory: PathBuf,
    files: Mutex<HashMap<String, BufWriter<File>>>,
}

impl PlatformLog {
    /// Creates the directory if needed; each function's events go to `<function>.jsonl`.
    pub fn create(directory: &Path) -> io::Result<Self> {
        fs::create_dir_all(directory)?;
        Ok(Self {
            directory: directory.to_owned(),
            files: Mutex::new(HashMap::new()),
        })
    }

    /// Returns the file that contains `function`'s events.
    #[must_use]
    pub fn path(&self, function: &str) -> PathBuf {
        self.directory.join(format!("{function}.jsonl"))
    }

    /// Appends one log event. `message` is the whole event text, including its final newline.
    pub fn write(
        &self,
        function: &str,
        stream: &str,
        at: SystemTime,
        message: &str,
    ) -> io::Result<()> {
        let timestamp = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let event = serde_json::json!({
            "timestamp": timestamp,
            "message": message,
            "logStreamName": stream,
            // CloudWatch Logs ingests events a moment after they are written.
            "ingestionTime": timestamp + 250,
        });
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if !files.contains_key(function) {
            let file = File::options()
                .create(true)
                .append(true)
                .open(self.path(function))?;
            files.insert(function.to_owned(), BufWriter::new(file));
        }
        let writer = files
            .get_mut(function)
            .expect("the writer was inserted above");
        serde_json::to_writer(&mut *writer, &event)?;
        writer.write_all(b"\n")
    }

    /// Writes buffered events to their files.
    pub fn flush(&self) -> io::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        for writer in files.values_mut() {
            writer.flush()?;
        }
        Ok(())
    }
}
