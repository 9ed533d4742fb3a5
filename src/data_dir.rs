//! The data directory: `--data-dir`, else `$XDG_DATA_HOME/spanbill`, else
//! `~/.local/share/spanbill`.

use std::path::PathBuf;

use anyhow::bail;

/// Returns the data directory to use.
pub(crate) fn resolve(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(base) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(base).join("spanbill"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(home).join(".local/share/spanbill"));
    }
    bail!("no data directory: pass `--data-dir DIR` or set `XDG_DATA_HOME` or `HOME`")
}
