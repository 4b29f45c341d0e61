//! `gavel`: the command-line entry point. All work happens in the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = gavel::cli::Cli::parse();
    gavel::telemetry::init(cli.log_format);
    match gavel::commands::run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Once, on stderr (the log goes there too; saying it twice helps no one).
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
