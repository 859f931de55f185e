//! A build's first process, run to its end or its time limit: the job's keymap goes in
//! on its stdin; its output's end (stderr) and the firmware it hands back (stdout) come
//! out, each read within its bound, so that no build can fill the service's memory.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::builder::FIRMWARE_FORMATS;

/// At most this much of a build's output is kept: its end, where errors are.
const OUTPUT_LIMIT: usize = 256 << 10;

/// The largest firmware file a build may hand back (an RP2040's 16 MiB flash, as UF2).
const FIRMWARE_LIMIT: u64 = 64 << 20;

/// Runs a build's first process in a process group of its own, stopped as a whole
/// past `time_limit`, or as soon as `stop` says so, with `keymap_json` on its stdin;
/// its output's end and the firmware it handed back. The status is `None` when it
/// was stopped.
pub fn run(
    mut command: Command,
    keymap_json: &[u8],
    time_limit: Duration,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<Ran> {
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of
    // the parent. It ends the build if this process dies (kill -9), so that an
    // orphaned build cannot write into a job that runs again after the restart.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child =
        command.spawn().map_err(|e| std::io::Error::new(e.kind(), format!("cannot start the build: {e}")))?;
    let (mut stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let keymap_json = keymap_json.to_vec();
    let writer = std::thread::spawn(move || {
        // A build that ends before it reads its keymap says why on stderr.
        let _ = stdin.as_mut().map(|stdin| stdin.write_all(&keymap_json));
    });
    let firmware = std::thread::spawn(move || stdout.map(read_firmware).unwrap_or(Ok(None)));
    let log = std::thread::spawn(move || stderr.map(|stderr| Tail::read(stderr).text()).unwrap_or_default());
    let group = rustix::process::Pid::from_raw(child.id() as i32);
    let mut stopped = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status.code().unwrap_or(-1));
        }
        if started.elapsed() > time_limit {
            break None;
        }
        if stop() {
            stopped = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the build left running in its group (make's compilers, past the
    // limit) ends now, so that its output's pipes close.
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    child.wait()?;
    let _ = writer.join();
    let firmware = firmware.join().unwrap_or_else(|_| Err("the firmware could not be read".to_owned()));
    let output = log.join().unwrap_or_default();
    Ok(Ran { status, stopped, output, firmware })
}

/// How a build's first process ended.
pub struct Ran {
    /// Its exit code; `None` when it was stopped at the time limit.
    pub status: Option<i32>,
    /// Whether `stop` ended it, rather than its time limit.
    pub stopped: bool,
    pub output: String,
    /// The firmware it handed back (its format and bytes), or why it is refused.
    pub firmware: Result<Option<(String, Vec<u8>)>, String>,
}

/// Reads the firmware a build hands back, `<format>\n<bytes>`, refusing one larger
/// than [`FIRMWARE_LIMIT`] or of a format QMK does not write.
fn read_firmware(stream: impl Read) -> Result<Option<(String, Vec<u8>)>, String> {
    let mut bytes = Vec::new();
    stream.take(FIRMWARE_LIMIT + 16).read_to_end(&mut bytes).map_err(|e| format!("cannot read the firmware: {e}"))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let Some(newline) = bytes.iter().position(|&b| b == b'\n').filter(|&at| at <= 8) else {
        return Err("the build handed back no firmware file qmk-api can read".to_owned());
    };
    let format = String::from_utf8_lossy(&bytes[..newline]).into_owned();
    if !FIRMWARE_FORMATS.contains(&format.as_str()) {
        return Err(format!("the build handed back firmware of an unknown format: {format:?}"));
    }
    if (bytes.len() - newline - 1) as u64 > FIRMWARE_LIMIT {
        return Err(format!("the firmware is larger than {} MiB: refused", FIRMWARE_LIMIT >> 20));
    }
    bytes.drain(..=newline);
    Ok(Some((format, bytes)))
}

/// The end of a stream: at most [`OUTPUT_LIMIT`] bytes of it are kept in memory.
#[derive(Default)]
struct Tail {
    kept: Vec<u8>,
    left_out: usize,
}

impl Tail {
    fn read(mut stream: impl Read) -> Tail {
        let mut tail = Tail::default();
        let mut buffer = [0; 64 << 10];
        while let Ok(read @ 1..) = stream.read(&mut buffer) {
            tail.kept.extend_from_slice(&buffer[..read]);
            if tail.kept.len() > 2 * OUTPUT_LIMIT {
                let excess = tail.kept.len() - OUTPUT_LIMIT;
                tail.kept.drain(..excess);
                tail.left_out += excess;
            }
        }
        tail
    }

    /// The kept end, from a line's start, saying how much was left out.
    fn text(mut self) -> String {
        if self.kept.len() > OUTPUT_LIMIT {
            let excess = self.kept.len() - OUTPUT_LIMIT;
            self.kept.drain(..excess);
            self.left_out += excess;
        }
        if self.left_out == 0 {
            return String::from_utf8_lossy(&self.kept).into_owned();
        }
        let start = self.kept.iter().position(|&b| b == b'\n').map_or(0, |n| n + 1);
        let text = String::from_utf8_lossy(&self.kept[start..]);
        format!("[… {} earlier bytes of output left out]\n{text}", self.left_out + start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_its_end_from_a_line_start() {
        let mut text = "early line\n".repeat(OUTPUT_LIMIT / 4);
        text.push_str("error: the last line");
        let kept = Tail::read(text.as_bytes()).text();
        assert!(kept.starts_with("[… ") && kept.ends_with("error: the last line"));
        assert!(kept.contains("]\nearly line\n"), "cut at a line");
        let left_out: usize = kept.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(left_out + kept.split_once('\n').unwrap().1.len(), text.len(), "every byte counted");
        assert_eq!(Tail::read(&b"short"[..]).text(), "short");
    }

    #[test]
    fn firmware_handed_back_is_read_only_in_qmks_formats_and_within_its_limit() {
        assert_eq!(read_firmware(&b""[..]), Ok(None));
        assert_eq!(read_firmware(&b"hex\n:00000001FF\n"[..]), Ok(Some(("hex".to_owned(), b":00000001FF\n".to_vec()))));
        assert!(read_firmware(&b"exe\nMZ"[..]).unwrap_err().contains("unknown format"));
        assert!(read_firmware(&b"no header at all"[..]).is_err());
        let huge = std::io::Read::chain(&b"bin\n"[..], std::io::repeat(0).take(FIRMWARE_LIMIT + 1));
        assert!(read_firmware(huge).unwrap_err().contains("larger than 64 MiB"));
    }
}
