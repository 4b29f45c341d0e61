//! Python tools the tests run (schemathesis, openapi-spec-validator,
//! openapi-python-client), found where `scripts/setup` installs them: the
//! scripts folder of the `python3` on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder `pip install` puts `python3`'s console scripts in.
pub fn python_scripts_dir() -> PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3 runs");
    PathBuf::from(String::from_utf8_lossy(&scripts.stdout).trim())
}

/// The console script `name`, which must be installed.
pub fn python_tool(name: &str) -> PathBuf {
    let path = python_scripts_dir().join(name);
    assert!(
        Path::new(&path).exists(),
        "{name} is not installed at {}: run `. scripts/setup`",
        path.display()
    );
    path
}
