//! The bash suites' `grep -oE` and `grep -cE`, so that a check built from a command's output or
//! a server log keeps its pipeline: the same pattern over the same text (the patterns are the
//! suites' extended regular expressions, which the `regex` crate reads the same way).

use regex::Regex;

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("a bad pattern {pattern:?}: {e}"))
}

/// Every match of `pattern` in `text`, one a line, as `grep -oE PATTERN` prints them (without
/// the last newline, as `$(...)` drops it).
pub fn grep_o(text: &str, pattern: &str) -> String {
    let re = compile(pattern);
    let mut found = Vec::new();
    for line in text.lines() {
        found.extend(re.find_iter(line).map(|m| m.as_str().to_string()));
    }
    found.join("\n")
}

/// The first match of `pattern` in `text` (`grep -oE PATTERN | head -n1`), or nothing.
pub fn grep_o1(text: &str, pattern: &str) -> String {
    compile(pattern).find(text).map(|m| m.as_str().to_string()).unwrap_or_default()
}

/// How many lines of `text` match `pattern` (`grep -cE PATTERN`).
pub fn grep_c(text: &str, pattern: &str) -> usize {
    let re = compile(pattern);
    text.lines().filter(|l| re.is_match(l)).count()
}
