//! The emulated PTDMA engines: tools/ptdma-model's launcher used as a library
//! (`ptdma_model::launch`), its options parsed by its own parser, its log routed to the
//! current boot's file.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use clap::Parser;
use ptdma_model::cli::Common;

/// The model's options, parsed exactly as `ptdma-model launch` parses them.
#[derive(Parser, Debug)]
#[command(name = "ptdma-model")]
struct ModelCli {
    #[command(flatten)]
    common: Common,
}

/// Where the model's log goes now (`None`: nowhere).
static MODEL_LOG: Mutex<Option<File>> = Mutex::new(None);

/// A writer into [`MODEL_LOG`].
struct ModelLogWriter;

impl Write for ModelLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match MODEL_LOG
            .lock()
            .ok()
            .as_deref_mut()
            .and_then(Option::as_mut)
        {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match MODEL_LOG
            .lock()
            .ok()
            .as_deref_mut()
            .and_then(Option::as_mut)
        {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// The model's log and option parsing, set up once per process.
#[derive(Debug)]
pub struct ModelSetup(());

impl ModelSetup {
    /// Installs the log subscriber (info level, as `ptdma-model` logs by default).
    pub fn init() -> ModelSetup {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_thread_names(true)
            .with_ansi(false)
            .with_writer(|| ModelLogWriter)
            .try_init();
        ModelSetup(())
    }

    /// Sends the model's log to `path` (appended), or nowhere.
    pub fn log_to(&self, path: Option<&Path>) {
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        if let Ok(mut g) = MODEL_LOG.lock() {
            *g = file;
        }
    }

    /// The model's options from `--ptdma-arg`s plus where counters and the log go.
    ///
    /// # Errors
    /// The model's own usage message when an argument is bad.
    pub fn common(
        &self,
        args: &[String],
        counters: Option<&Path>,
        log: Option<&Path>,
    ) -> Result<Common, String> {
        let mut argv = vec!["ptdma-model".to_string()];
        argv.extend(args.iter().cloned());
        if let Some(c) = counters {
            argv.push(format!("--counters={}", c.display()));
        }
        if let Some(l) = log {
            argv.push(format!("--log={}", l.display()));
        }
        let cli = ModelCli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.common.timing()?;
        Ok(cli.common)
    }
}

/// After a launch: SIGINT/SIGTERM kill the runner again (the launcher only records them).
pub fn restore_default_signals() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: SIG_DFL installs no handler code.
        let _ = unsafe { signal(s, SigHandler::SigDfl) };
    }
}

/// The emulated engines' timing assumption, as the kernel echoes it into every result:
/// the last `--profile=NAME`, `custom` once a single value is overridden, else `none`.
pub fn dma_profile(model_args: &[String]) -> String {
    let mut p = "none".to_string();
    for a in model_args {
        if let Some(name) = a.strip_prefix("--profile=") {
            p = name.to_string();
        } else if ["--bw-gbps=", "--desc-ns=", "--doorbell-ns="]
            .iter()
            .any(|k| a.starts_with(k))
        {
            p = "custom".to_string();
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_as_the_kernel_records_it() {
        let v = |a: &[&str]| dma_profile(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(v(&[]), "none");
        assert_eq!(v(&["--profile=seed"]), "seed");
        assert_eq!(v(&["--profile=seed", "--bw-gbps=0.05"]), "custom");
        assert_eq!(v(&["--bw-gbps=0.05", "--profile=seed"]), "seed");
        assert_eq!(v(&["--fault=error-at=3"]), "none");
    }

    #[test]
    fn model_options_through_the_model_s_parser() {
        let m = ModelSetup(());
        let c = m
            .common(
                &["--kind=ae4dma".into(), "--fault=error-at=5".into()],
                Some(Path::new("out/c.json")),
                None,
            )
            .unwrap();
        assert_eq!(c.faults.len(), 1);
        assert_eq!(c.counters.as_deref(), Some(Path::new("out/c.json")));
        assert!(m.common(&["--bogus".into()], None, None).is_err());
        assert!(m.common(&["--bw-gbps=0".into()], None, None).is_err());
    }
}
