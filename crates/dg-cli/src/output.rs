//! Result lines on standard output: a reader that goes away (`dg ls | head`) ends dg quietly
//! with status 0, as it does `ls`; any other failure to write is an error, not a panic.

use std::io::Write;

/// Prints a line to standard output like `println!`, see [`line`].
macro_rules! out {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Writes `args` and a newline to standard output. A closed pipe exits with status 0; another
/// write error (a full disk behind a redirection) exits with status 1 and says so.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("dg: error: writing to standard output: {e}");
        std::process::exit(1);
    }
}
