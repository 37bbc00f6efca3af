//! The JSONL sink: one event per line, to a file or standard output.

use super::*;

// ---- JSONL ----

/// One event per line, the same bytes as `evscope log --format jsonl`. A file sink keeps its
/// length in the checkpoint, so a resumed job first cuts what was written after it: the file
/// then holds every event of the range exactly once.
pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    file: Option<File>,
    offset: u64,
    line: Vec<u8>,
    /// The answers of the events written and not yet taken by the job, oldest first.
    acks: std::collections::VecDeque<Acked>,
}

/// A file a new job may write to: none yet, in a directory that exists, or an empty one that
/// can be written. (A directory that refuses a new file is found when the job creates it.)
pub(super) fn check_new_file(path: &Path) -> Result<(), SinkError> {
    let fatal = |m: String| Err(SinkError::new(SinkErrorKind::Fatal, m));
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => fatal(format!("{shown} is a directory: give a file in it")),
        Ok(m) if m.len() > 0 => fatal(not_empty(path)),
        // Opened as the sink opens it (read and write: a FIFO does not block), not truncated:
        // nothing changes.
        Ok(_) => match OpenOptions::new().read(true).write(true).open(path) {
            Ok(_) => Ok(()),
            Err(e) => fatal(format!("cannot write {shown}: {e}")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            match std::fs::metadata(dir) {
                Ok(m) if !m.is_dir() => fatal(format!("{} is not a directory", dir.display())),
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => fatal(format!(
                    "{shown} cannot be created: the directory {} does not exist",
                    dir.display()
                )),
                Err(e) => fatal(format!("{shown}: {}: {e}", dir.display())),
            }
        }
        Err(e) => fatal(format!("cannot open {shown}: {e}")),
    }
}

pub(super) fn not_empty(path: &Path) -> String {
    format!(
        "{} exists and is not empty: remove it or choose another file",
        path.display()
    )
}

impl JsonlSink {
    pub fn open(path: Option<PathBuf>, resume: Option<u64>) -> Result<JsonlSink, SinkError> {
        let fatal = |what: &str, p: &PathBuf, e: std::io::Error| {
            SinkError::new(SinkErrorKind::Fatal, format!("{what} {}: {e}", p.display()))
        };
        let Some(path) = path else {
            return Ok(JsonlSink {
                out: BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())),
                file: None,
                offset: 0,
                line: Vec::new(),
                acks: Default::default(),
            });
        };
        if resume.is_none() {
            // Why a new job cannot have the file, said before it is created.
            check_new_file(&path)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| fatal("cannot open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| fatal("cannot read", &path, e))?
            .len();
        let offset = match resume {
            Some(at) if at > len => {
                return Err(SinkError::new(
                    SinkErrorKind::Fatal,
                    format!(
                        "{} is {len} bytes, shorter than the checkpoint's {at}: it was changed since; not resuming into it",
                        path.display()
                    ),
                ));
            }
            Some(at) => {
                file.set_len(at)
                    .map_err(|e| fatal("cannot cut", &path, e))?;
                at
            }
            // The file got content since the check: still refused, never cut.
            None if len > 0 => return Err(SinkError::new(SinkErrorKind::Fatal, not_empty(&path))),
            None => 0,
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| fatal("cannot seek", &path, e))?;
        let writer = file
            .try_clone()
            .map_err(|e| fatal("cannot open", &path, e))?;
        Ok(JsonlSink {
            out: BufWriter::with_capacity(1 << 16, Box::new(writer)),
            file: Some(file),
            offset,
            line: Vec::new(),
            acks: Default::default(),
        })
    }

    fn io(e: std::io::Error) -> SinkError {
        SinkError::new(SinkErrorKind::Fatal, format!("jsonl: {e}"))
    }
}

impl Sink for JsonlSink {
    fn connect(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(
        &'a mut self,
        event: &'a Event,
        _job: &'a str,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.line.clear();
            serde_json::to_writer(&mut self.line, event)
                .map_err(|e| SinkError::new(SinkErrorKind::Fatal, e.to_string()))?;
            self.line.push(b'\n');
            self.out.write_all(&self.line).map_err(Self::io)?;
            self.offset += self.line.len() as u64;
            self.acks.push_back(Acked {
                duplicate: false,
                offset: self.file.as_ref().map(|_| self.offset),
            });
            Ok(())
        })
    }

    fn next_ack<'a>(
        &'a mut self,
        oldest: &'a Event,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Acked, SinkError>> {
        let r = self.try_ack(oldest, job).unwrap_or_else(|| {
            Err(SinkError::new(
                SinkErrorKind::Fatal,
                "jsonl: an answer was asked for with nothing written",
            ))
        });
        Box::pin(async move { r })
    }

    /// A line is answered once written (the checkpoint's [`Sink::sync`] makes it durable).
    fn try_ack(&mut self, _oldest: &Event, _job: &str) -> Option<Result<Acked, SinkError>> {
        self.acks.pop_front().map(Ok)
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.out.flush().map_err(Self::io)?;
            if let Some(f) = &self.file {
                f.sync_data().map_err(Self::io)?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move { self.out.flush().map_err(Self::io) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::sink::tests::ev;

    #[test]
    fn a_file_sink_resumes_by_cutting_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(&p, "line one\npartial li").unwrap();
        // A new job refuses a file with content.
        assert!(JsonlSink::open(Some(p.clone()), None).is_err());
        // Resuming at 9 bytes cuts the partial line.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut s = JsonlSink::open(Some(p.clone()), Some(9)).unwrap();
            let e = ev("a-1", "T");
            s.send(&e, "j").await.unwrap();
            let acked = s.next_ack(&e, "j").await.unwrap();
            s.sync().await.unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.starts_with("line one\n{"), "{text}");
            assert_eq!(acked.offset, Some(text.len() as u64));
        });
        // A checkpoint past the end means the file was changed.
        assert!(JsonlSink::open(Some(p.clone()), Some(1 << 20)).is_err());
    }

    /// The check a form makes before planning: what a new job's file sink would refuse, said
    /// without creating anything; the same refusals as opening it.
    #[tokio::test]
    async fn a_sink_is_checked_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |p: &Path| SinkSpec::Jsonl {
            path: Some(p.to_path_buf()),
        };
        let new = dir.path().join("new.jsonl");
        spec(&new).check().await.unwrap();
        assert!(!new.exists(), "the check creates nothing");
        let full = dir.path().join("full.jsonl");
        std::fs::write(&full, "x\n").unwrap();
        let e = spec(&full).check().await.unwrap_err();
        assert_eq!(e.kind, SinkErrorKind::Fatal);
        assert!(e.message.contains("exists and is not empty"), "{e}");
        assert_eq!(
            JsonlSink::open(Some(full.clone()), None)
                .err()
                .unwrap()
                .message,
            e.message,
            "the same refusal as opening it"
        );
        assert_eq!(std::fs::read_to_string(&full).unwrap(), "x\n");
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        spec(&empty).check().await.unwrap();
        let nowhere = dir.path().join("no-such-dir").join("x.jsonl");
        let e = spec(&nowhere).check().await.unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        assert!(!nowhere.parent().unwrap().exists());
        assert!(
            JsonlSink::open(Some(nowhere), None)
                .err()
                .unwrap()
                .message
                .contains("does not exist")
        );
        let e = spec(dir.path()).check().await.unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
        SinkSpec::Jsonl { path: None }.check().await.unwrap();
        // A bus that does not answer (nothing listens on port 1).
        let bus = SinkSpec::parse("nats://127.0.0.1:1", None).unwrap();
        let e = bus.check().await.unwrap_err();
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        assert!(e.message.starts_with("the bus cannot be reached"), "{e}");
    }
}
