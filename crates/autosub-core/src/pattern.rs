//! Wildcard patterns as IAM conditions and exclusion lists write them (`*` and `?`).

use glob::{MatchOptions, Pattern};

/// True when `text` matches `pattern`, where `*` matches any run of characters (including `/` and
/// `:`) and `?` any one character. Other characters match literally. A pattern [`check`] refuses
/// matches nothing; configuration is checked at load, so none reaches here from it.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    compile(pattern).is_ok_and(|p| {
        p.matches_with(
            text,
            MatchOptions {
                case_sensitive: true,
                require_literal_separator: false,
                require_literal_leading_dot: false,
            },
        )
    })
}

/// Why `pattern` is not a wildcard pattern: empty, or `**` (a single `*` already crosses `/`
/// and `:`; a second one would mean a syntax this matcher does not have).
pub fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err(
            "an empty pattern matches nothing; remove it, or write * for everything".into(),
        );
    }
    if pattern.contains("**") {
        return Err(format!(
            "{pattern:?} uses **; write a single * (it already matches any run of characters, / and : included)"
        ));
    }
    compile(pattern)
        .map(drop)
        .map_err(|e| format!("{pattern:?} is not a wildcard pattern: {e}"))
}

fn compile(pattern: &str) -> Result<Pattern, glob::PatternError> {
    let escaped: String = pattern
        .chars()
        .map(|c| match c {
            '[' | ']' => Pattern::escape(&c.to_string()),
            c => c.to_string(),
        })
        .collect();
    Pattern::new(&escaped)
}

#[cfg(test)]
mod tests {
    use super::{check, wildcard_match};

    #[test]
    fn double_stars_and_empty_patterns_are_refused_with_the_fix() {
        assert!(check("prod-**").unwrap_err().contains("single *"));
        assert!(check("").is_err());
        for ok in ["prod-*", "b?cket", "logs-[prod]", "/aws/lambda/*", "*"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn stars_cross_separators_and_brackets_are_literal() {
        assert!(wildcard_match(
            "arn:aws:logs:*:1:log-group:*",
            "arn:aws:logs:eu-west-1:1:log-group:/a/b:*"
        ));
        assert!(wildcard_match(
            "/aws/lambda/datadog-*",
            "/aws/lambda/datadog-forwarder"
        ));
        assert!(!wildcard_match("/aws/lambda/datadog-*", "/aws/lambda/app"));
        assert!(wildcard_match("logs-[prod]", "logs-[prod]"));
        assert!(wildcard_match("b?cket", "bucket"));
    }
}
