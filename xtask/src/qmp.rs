//! A QMP client (QEMU Machine Protocol, docs/interop/qmp-spec in QEMU): JSON objects, one
//! per line, over a socket. After the greeting and `qmp_capabilities`, each command gets one
//! `{"return": ...}` or `{"error": {...}}`; asynchronous `{"event": ...}` lines in between
//! are skipped.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use serde_json::{json, Value};

/// What went wrong talking QMP.
#[derive(Debug)]
pub enum QmpError {
    /// The socket failed or closed.
    Io(std::io::Error),
    /// A line was not a JSON object, or not the reply expected.
    Protocol(String),
    /// QEMU answered with an error (class and description).
    Command(String),
}

impl fmt::Display for QmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QmpError::Io(e) => write!(f, "{e}"),
            QmpError::Protocol(m) => write!(f, "protocol: {m}"),
            QmpError::Command(m) => write!(f, "QEMU: {m}"),
        }
    }
}

impl std::error::Error for QmpError {}

impl From<std::io::Error> for QmpError {
    fn from(e: std::io::Error) -> Self {
        QmpError::Io(e)
    }
}

/// A negotiated QMP session.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Reads the greeting and negotiates capabilities.
    ///
    /// # Errors
    /// [`QmpError`] when the socket fails or QEMU does not greet as QMP does.
    pub fn handshake(stream: UnixStream) -> Result<Qmp, QmpError> {
        let writer = stream.try_clone()?;
        let mut q = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = q.read()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!("no QMP greeting: {greeting}")));
        }
        q.execute("qmp_capabilities", None)?;
        Ok(q)
    }

    fn read(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(QmpError::Protocol("QEMU closed the socket".into()));
        }
        serde_json::from_str(&line).map_err(|e| QmpError::Protocol(format!("{e}: {line}")))
    }

    /// Runs `command` with `arguments`; returns its `return` value.
    ///
    /// # Errors
    /// [`QmpError::Command`] when QEMU answers with an error; others for I/O or protocol.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        writeln!(self.writer, "{msg}")?;
        loop {
            let reply = self.read()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(QmpError::Command(format!("{} ({})", e["desc"], e["class"])));
            }
            // An event ({"event": ...}): not ours.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake QEMU on the other end of a socketpair: greeting, then one scripted reply per
    /// command (an event first for the second), checking what it was sent.
    #[test]
    fn handshake_events_returns_and_errors() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let qemu = std::thread::spawn(move || {
            let mut r = BufReader::new(theirs.try_clone().unwrap());
            let mut w = theirs;
            writeln!(w, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            let mut sent = Vec::new();
            for reply in [
                r#"{"return": {}}"#,
                "{\"event\": \"RESUME\"}\n{\"return\": \"RIP=0 HLT=1\"}",
                r#"{"error": {"class": "GenericError", "desc": "no such file"}}"#,
            ] {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                sent.push(serde_json::from_str::<Value>(&line).unwrap());
                writeln!(w, "{reply}").unwrap();
            }
            sent
        });
        let mut q = Qmp::handshake(ours).unwrap();
        let regs = q
            .execute(
                "human-monitor-command",
                Some(json!({"command-line": "info registers"})),
            )
            .unwrap();
        assert_eq!(regs, "RIP=0 HLT=1");
        let err = q
            .execute("screendump", Some(json!({"filename": "/x"})))
            .unwrap_err();
        assert_eq!(err.to_string(), "QEMU: \"no such file\" (\"GenericError\")");
        let sent = qemu.join().unwrap();
        assert_eq!(sent[0], json!({"execute": "qmp_capabilities"}));
        assert_eq!(sent[1]["arguments"]["command-line"], "info registers");
        assert_eq!(sent[2]["execute"], "screendump");
    }
}
