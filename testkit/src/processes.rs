//! `gavel` commands (`api`, `worker`) as processes of their own, as they run
//! in production: killed (SIGKILL) when dropped, their output in a log file.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
};

/// A running `gavel <command>`.
pub struct GavelProcess {
    child: Child,
    /// Where its standard output and error go.
    pub log: PathBuf,
}

impl GavelProcess {
    /// Starts `exe command` (the caller's `env!("CARGO_BIN_EXE_gavel")`)
    /// with `env` added to this process's environment.
    pub fn spawn<K, V>(
        exe: &Path,
        command: &str,
        env: impl IntoIterator<Item = (K, V)>,
        log: PathBuf,
    ) -> Self
    where
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(exe)
            .arg(command)
            .envs(env)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start gavel {command}: {err}"));
        Self { child, log }
    }

    /// The process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as an orchestrator stops a replica; waits until it exits.
    pub fn terminate(mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for GavelProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
