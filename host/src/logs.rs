//! Where log lines go: stderr, in whole lines. A serving thread of
//! `pam-aws serve` keeps its lines and writes them together when it has
//! nothing else to do (its runtime is about to park) or when they fill
//! [`HELD_BYTES`], as nginx's buffered `access_log` does: the write to
//! stderr (a file or a pipe) then leaves a request's path to its answer and
//! is paid once for several requests. Every other thread writes each line
//! at once.

use std::cell::RefCell;
use std::io::Write;

/// The most a serving thread holds before it writes them out anyway.
pub const HELD_BYTES: usize = 16 * 1024;

thread_local! {
    /// This thread's held lines; `None` where lines are written at once.
    static HELD: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// From now on, this thread holds its lines until [`write_held`].
pub fn hold_on_this_thread() {
    HELD.with(|held| {
        held.borrow_mut()
            .get_or_insert_with(|| Vec::with_capacity(HELD_BYTES));
    });
}

/// Writes out the lines this thread holds, if any.
pub fn write_held() {
    HELD.with(|held| {
        if let Some(lines) = held.borrow_mut().as_mut() {
            write_out(lines);
        }
    });
}

/// Whole lines in one write; stderr's lock keeps other threads' lines out
/// of the middle of them. A log that cannot be written is dropped: there
/// is nowhere left to report it.
fn write_out(lines: &mut Vec<u8>) {
    if !lines.is_empty() {
        let _ = std::io::stderr().write_all(lines);
        lines.clear();
    }
}

/// The writer `tracing_subscriber` formats each line into, then writes
/// with one `write_all`.
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.write_all(line).map(|()| line.len())
    }

    /// A held line is kept whole; any other is written with stderr's lock
    /// held throughout, as `std::io::stderr` did when it was the writer.
    fn write_all(&mut self, line: &[u8]) -> std::io::Result<()> {
        let held = HELD.with(|held| {
            let mut held = held.borrow_mut();
            let lines = held.as_mut()?;
            lines.extend_from_slice(line);
            if lines.len() >= HELD_BYTES {
                write_out(lines);
            }
            Some(())
        });
        match held {
            Some(()) => Ok(()),
            None => std::io::stderr().write_all(line),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_here() -> Vec<u8> {
        HELD.with(|held| held.borrow().clone().unwrap_or_default())
    }

    #[test]
    fn a_holding_thread_keeps_lines_until_written_out() {
        std::thread::spawn(|| {
            hold_on_this_thread();
            Stderr.write_all(b"{\"message\":\"one\"}\n").unwrap();
            Stderr.write_all(b"{\"message\":\"two\"}\n").unwrap();
            assert_eq!(
                held_here(),
                b"{\"message\":\"one\"}\n{\"message\":\"two\"}\n"
            );
            write_held();
            assert!(held_here().is_empty(), "written out and cleared");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_hold_is_written_out_without_waiting() {
        std::thread::spawn(|| {
            hold_on_this_thread();
            let line = [b'x'; 1000];
            while held_here().len() + line.len() < HELD_BYTES {
                Stderr.write_all(&line).unwrap();
            }
            assert!(!held_here().is_empty());
            Stderr.write_all(&line).unwrap();
            assert!(
                held_here().is_empty(),
                "{HELD_BYTES} bytes are written at once"
            );
            Stderr.write_all(&line).unwrap();
            assert_eq!(held_here().len(), line.len());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn other_threads_hold_nothing() {
        std::thread::spawn(|| {
            Stderr.write_all(b"at once\n").unwrap();
            assert!(HELD.with(|held| held.borrow().is_none()));
        })
        .join()
        .unwrap();
    }
}
