//! The `imgcache` binary: flags → config → logging → runtime → run.

use std::process::ExitCode;

use imgcache::config::EXIT_BAD_CONFIG;
use imgcache::config::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse_or_exit();
    if cli.demo && !imgcache::demo::AVAILABLE {
        eprintln!("imgcache: --demo: {}", imgcache::demo::UNAVAILABLE);
        return ExitCode::from(EXIT_BAD_CONFIG);
    }
    let (config, sources) = match imgcache::app::load(&cli, std::env::vars()) {
        Ok(loaded) => loaded,
        Err(problems) => {
            eprintln!(
                "imgcache: the configuration has {} problem(s):",
                problems.len()
            );
            for problem in &problems {
                eprintln!("  - {problem}");
            }
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    if cli.check_config {
        // `--check-config | head` closes the pipe early: that is not an
        // error worth a panic (println! panics on a closed stdout).
        use std::io::Write;
        // What is printed is TOML (the effective config, secrets redacted)
        // and the verdict a comment, so the output is itself a config.
        let _ = write!(
            std::io::stdout(),
            "# configuration ok\n{}",
            config.effective_toml()
        );
        return ExitCode::SUCCESS;
    }
    imgcache::telemetry::init(&config.log);
    // This runtime runs signals, the admin API and background work; the
    // proxy's own worker threads each run one of their own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("imgcache: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(imgcache::app::run(config, sources, cli.demo));
    // The last requests' access lines are written before the process ends.
    imgcache::access_log::flush();
    code
}
