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

/// Prints a JSON record (one line) to standard output exactly, see [`exact`].
macro_rules! json_out {
    ($($arg:tt)*) => {
        $crate::output::exact(format_args!($($arg)*))
    };
}

/// Writes `args` and a newline to standard output, control characters escaped (see
/// [`escaped`]): lines for people. A closed pipe exits with status 0; another write error (a
/// full disk behind a redirection) exits with status 1 and says so.
pub fn line(args: std::fmt::Arguments<'_>) {
    let text = args.to_string();
    write_line(&escaped(&text));
}

/// Writes `args` and a newline to standard output exactly as given: JSON records, whose
/// strings are already escaped as JSON escapes them.
pub fn exact(args: std::fmt::Arguments<'_>) {
    write_line(&args.to_string());
}

/// `text` with control characters (C0, DEL, C1) shown as escapes — `\t`, `\n`, `\r`,
/// `\x1b`, `\u{9b}` — as `ls` shows such names on a terminal, so that a file or object name
/// can neither move the cursor, recolour the terminal nor fake a line of output.
pub fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `text` made of lines each ending in `\n`, each line's control characters escaped.
pub fn escaped_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match l.strip_suffix('\n') {
            Some(body) => format!("{}\n", escaped(body)),
            None => escaped(l).into_owned(),
        })
        .collect()
}

/// Prints a line to standard error, control characters escaped.
macro_rules! err {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::output::escaped(&format!($($arg)*)))
    };
}

fn write_line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("dg: error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_people() {
        assert_eq!(escaped("app-1.0.zip"), "app-1.0.zip");
        assert_eq!(escaped("caf\u{e9} \u{1F600}"), "caf\u{e9} \u{1F600}");
        assert_eq!(
            escaped("a\tb\nc\u{1b}[31mred\u{7f}\u{9b}"),
            "a\\tb\\nc\\x1b[31mred\\x7f\\u{9b}"
        );
    }
}
