//! A file written whole or not at all, by a thread of its own.
//!
//! A monthly report of 300,000 channels is 231 MB of JSON. Rendered into memory and then
//! written, the two took turns on one core, and the memory for the text was 231 MB more to
//! touch. Here the renderer hands over 1 MB chunks as it fills them, a writer thread writes
//! them while the next is rendered, and the chunks go back to be filled again.
//!
//! The bytes go to a temporary file beside the destination, renamed over it at the end: a
//! report stopped half way (an error, a crash, a full disk) leaves the previous file as it
//! was, never half of a new one. A device or a pipe (`--out /dev/stdout`) is written in place.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use camwatch_core::error::{Error, Result};

/// Bytes handed to the writer thread at a time.
const CHUNK: usize = 1 << 20;
/// Chunks in flight (written, queued, being filled): the memory it takes, in MB.
const IN_FLIGHT: usize = 4;

/// Where the writer thread writes.
enum Sink {
    /// A temporary file, renamed over the destination by `commit`.
    Temp(tempfile::NamedTempFile),
    /// The destination itself: a device or a pipe (`/dev/stdout`), which cannot be replaced.
    Direct(std::fs::File),
}

impl Sink {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Self::Temp(f) => f.write_all(b),
            Self::Direct(f) => f.write_all(b),
        }
    }
}

/// A file being written; [`OutFile::commit`] puts it in place.
pub struct OutFile {
    /// The file renamed over at the end: the destination, or the file a symbolic link there
    /// names (the link stays).
    target: PathBuf,
    buf: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<io::Result<Sink>>>,
}

impl OutFile {
    /// Starts writing `path` (its directory must exist). A path that names a device or a pipe
    /// (`/dev/stdout`) is written in place: it cannot be replaced, and must not be.
    pub fn create(path: &Path) -> Result<Self> {
        let (target, mut sink) = match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| named(path, e))?;
                (path.to_path_buf(), Sink::Direct(f))
            }
            found => {
                // Through a symbolic link, the file it names is replaced, not the link.
                let target = match found {
                    Ok(_) => std::fs::canonicalize(path).map_err(|e| named(path, e))?,
                    Err(_) => path.to_path_buf(),
                };
                let dir = match target.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let mut builder = tempfile::Builder::new();
                builder.prefix(".camwatch-");
                // As `File::create` makes a file, the umask deciding (a temporary file's own
                // default is its owner's alone).
                #[cfg(unix)]
                builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
                let f = builder.tempfile_in(dir).map_err(|e| named(path, e))?;
                (target, Sink::Temp(f))
            }
        };
        let (full, queued) = sync_channel::<Vec<u8>>(IN_FLIGHT - 2);
        let (back, empty) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let writer = std::thread::Builder::new()
            .name("out-file".into())
            .spawn(move || {
                for mut chunk in queued {
                    sink.write_all(&chunk)?;
                    chunk.clear();
                    // The filler may be gone (it stopped on an error): the chunk is dropped.
                    let _ = back.try_send(chunk);
                }
                Ok(sink)
            })
            .map_err(|e| named(path, e))?;
        Ok(Self {
            target,
            buf: Vec::with_capacity(CHUNK),
            full: Some(full),
            empty,
            writer: Some(writer),
        })
    }

    /// Hands the filled chunk to the writer thread.
    fn hand_over(&mut self) -> io::Result<()> {
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        let sent = self.full.as_ref().map(|f| f.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped: its error is what `commit` reports.
            _ => Err(io::Error::other("the file's writer stopped")),
        }
    }

    /// Writes what is left and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        if !self.buf.is_empty() {
            // A failed hand-over leaves the writer's own error to report below.
            let _ = self.hand_over();
        }
        self.full = None;
        let sink = self
            .writer
            .take()
            .expect("committed once")
            .join()
            .map_err(|_| {
                Error::internal(format!("{}: the writer panicked", self.target.display()))
            })?
            .map_err(|e| named(&self.target, e))?;
        if let Sink::Temp(file) = sink {
            file.persist(&self.target)
                .map_err(|e| named(&self.target, e.error))?;
        }
        Ok(())
    }
}

impl Drop for OutFile {
    /// Not committed (an error on the way): the writer ends, and its temporary file goes.
    fn drop(&mut self) {
        self.full = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Write for OutFile {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = b.len().min(room);
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == CHUNK {
            self.hand_over()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks are written as they fill; `commit` writes the rest.
        Ok(())
    }
}

fn named(path: &Path, e: io::Error) -> Error {
    Error::invalid(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many chunks' worth, in writes of awkward sizes: the file holds exactly the bytes.
    #[test]
    fn writes_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let want: Vec<u8> = (0..(5 * CHUNK + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut f = OutFile::create(&path).unwrap();
        let mut at = 0;
        for step in [1usize, 17, CHUNK - 3, 2 * CHUNK + 5, 999].iter().cycle() {
            if at == want.len() {
                break;
            }
            let end = (at + step).min(want.len());
            f.write_all(&want[at..end]).unwrap();
            at = end;
        }
        f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left beside it");
    }

    /// The file is made as `File::create` makes one: the umask decides, not the temporary
    /// file's owner-only default.
    #[cfg(unix)]
    #[test]
    fn permissions_as_a_created_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
        let mut f = OutFile::create(&ours).unwrap();
        f.write_all(b"x").unwrap();
        f.commit().unwrap();
        std::fs::File::create(&theirs).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&theirs));
    }

    /// Stopped before `commit`: the previous file is untouched and nothing is left beside it.
    #[test]
    fn an_abandoned_file_leaves_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, b"previous").unwrap();
        let mut f = OutFile::create(&path).unwrap();
        f.write_all(&vec![b'x'; 3 * CHUNK]).unwrap();
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A symbolic link stays a link: the file it names is replaced.
    #[cfg(unix)]
    #[test]
    fn a_link_keeps_naming_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let (file, link) = (
            dir.path().join("report.json"),
            dir.path().join("latest.json"),
        );
        std::fs::write(&file, b"old").unwrap();
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let mut f = OutFile::create(&link).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
    }

    /// A device (here `/dev/null`) is written in place, never replaced.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place() {
        let null = Path::new("/dev/null");
        let before = std::fs::metadata(null).unwrap();
        let mut f = OutFile::create(null).unwrap();
        f.write_all(&vec![b'x'; 2 * CHUNK + 7]).unwrap();
        f.commit().unwrap();
        let after = std::fs::metadata(null).unwrap();
        assert!(!after.is_file());
        use std::os::unix::fs::MetadataExt;
        assert_eq!((before.ino(), before.rdev()), (after.ino(), after.rdev()));
    }

    /// A destination that cannot be written is an error naming it.
    #[test]
    fn an_unwritable_place_is_named() {
        let e = OutFile::create(Path::new("/nonexistent-dir/report.json"))
            .err()
            .expect("an error");
        assert!(
            e.to_string().contains("/nonexistent-dir/report.json"),
            "{e}"
        );
    }
}
