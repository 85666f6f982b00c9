//! Small filesystem helpers every layer may use (the bottom of the module graph): folders
//! mastfs creates for its own state.

use std::path::Path;

/// Creates `dir` (and missing parents) readable by its owner only: what mastfs keeps there
/// (persisted views, column configuration, cached blocks) is nobody else's business.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
