//! Running a real `eipd` process: start it on a free port, read the URL it
//! prints, stop it (SIGKILL or SIGTERM), restart it on the same data dir.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print its URL (or to exit when it should fail).
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) fn eipd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_eipd")
}

/// A running `eipd serve`. Dropping it kills the process.
pub(crate) struct Server {
    child: Option<Child>,
    pub url: String,
    args: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

/// What a server that was expected not to start left behind.
#[derive(Debug)]
pub(crate) struct StartFailure {
    pub status: ExitStatus,
    pub stderr: String,
}

/// Collects a pipe's output in the background, so the child never blocks on it.
fn drain(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    out
}

/// Reads stdout lines in the background; the first one naming a URL is sent
/// back, the rest are discarded.
fn url_from_stdout(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(start) = line.find("http://") {
                let url: String = line[start..].chars().take_while(|c| !c.is_whitespace()).collect();
                let _ = tx.send(url);
                sent = true;
            }
        }
    });
    rx
}

impl Server {
    /// `eipd serve --listen 127.0.0.1:0 ARGS…`; panics if it does not come up.
    pub(crate) fn start(args: &[&str]) -> Server {
        match Self::try_start(args) {
            Ok(s) => s,
            Err(f) => panic!("eipd {args:?} did not start: {}\n{}", f.status, f.stderr),
        }
    }

    /// A throwaway in-memory server.
    pub(crate) fn memory(extra: &[&str]) -> Server {
        let mut args = vec!["--store", "memory"];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    /// A server with the default embedded store in `dir`.
    pub(crate) fn embedded(dir: &Path, extra: &[&str]) -> Server {
        let dir = dir.to_str().expect("utf-8 temp dir");
        let mut args = vec!["--data-dir", dir];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    /// Starts a server; if it exits before printing its URL, returns how it
    /// exited and what it wrote on stderr.
    pub(crate) fn try_start(args: &[&str]) -> Result<Server, StartFailure> {
        let mut full: Vec<String> = vec!["serve".into()];
        if !args.contains(&"--listen") {
            full.extend(["--listen".into(), "127.0.0.1:0".into()]);
        }
        full.extend(args.iter().map(|s| s.to_string()));
        let mut child = Command::new(eipd_bin())
            .args(&full)
            .env_remove("RUST_LOG")
            .env_remove("EIPD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eipd");
        let stderr = drain(child.stderr.take().expect("stderr"));
        let urls = url_from_stdout(child.stdout.take().expect("stdout"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match urls.recv_timeout(Duration::from_millis(50)) {
                Ok(url) => return Ok(Server { child: Some(child), url, args: full, stderr }),
                Err(mpsc::RecvTimeoutError::Timeout) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                // Give the stderr reader a moment to collect the last words.
                thread::sleep(Duration::from_millis(100));
                let stderr = stderr.lock().unwrap().clone();
                return Err(StartFailure { status, stderr });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("eipd {full:?} printed no URL within {START_TIMEOUT:?}; stderr:\n{}", stderr.lock().unwrap());
            }
        }
    }

    /// What the server wrote on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// kill -9: no chance to flush or clean up.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL eipd");
            child.wait().expect("reap eipd");
        }
    }

    /// SIGTERM, then waits for the process to exit on its own.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("eipd did not exit within 15 s of SIGTERM; stderr:\n{}", self.stderr());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new process with the same arguments (same data dir, a new port).
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server before restarting it");
        let args: Vec<&str> = self.args.iter().skip(1).map(String::as_str).collect();
        let args: Vec<&str> = strip_listen(&args);
        *self = Server::start(&args);
    }
}

/// The arguments without the `--listen ADDR` this helper added, so that a
/// restart picks a new free port.
fn strip_listen<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if *a == "--listen" {
            skip = true;
        } else {
            out.push(*a);
        }
    }
    out
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The URL of one in-memory server shared by every test of this binary (each
/// test uses its own account, so they never see each other's state).
///
/// Only the URL is shared: the process outlives every test runtime. A static
/// is never dropped, so the server runs under a small shell watchdog that
/// kills it when this test process exits and the watchdog's stdin closes.
pub(crate) fn shared_url() -> &'static str {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED.get_or_init(|| {
        let script = r#""$0" "$@" & child=$!; read -r _ignored; kill "$child" 2>/dev/null; wait "$child""#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(eipd_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--store", "memory", "--address-limit", "1000"])
            .env_remove("RUST_LOG")
            .env_remove("EIPD_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the shared eipd");
        let stderr = drain(child.stderr.take().expect("stderr"));
        let urls = url_from_stdout(child.stdout.take().expect("stdout"));
        let url = urls.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            panic!("the shared eipd printed no URL; stderr:\n{}", stderr.lock().unwrap());
        });
        // Keep the write end of the watchdog's stdin open for the life of the
        // process; it closes (and the server stops) when the process ends.
        let stdin = child.stdin.take().expect("stdin");
        std::mem::forget(stdin);
        std::mem::forget(child);
        url
    })
}

/// A fresh temporary directory for a data dir.
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("eipd-it-").tempdir().expect("temp dir")
}

pub(crate) fn data_file(dir: &Path) -> PathBuf {
    dir.join("eipd.redb")
}
