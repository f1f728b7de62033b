//! Wildcard patterns as IAM conditions and exclusion lists write them (`*` and `?`).

use glob::{MatchOptions, Pattern};

/// True when `text` matches `pattern`, where `*` matches any run of characters (including `/` and
/// `:`) and `?` any one character. Other characters match literally.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let escaped: String = pattern
        .chars()
        .map(|c| match c {
            '[' | ']' => Pattern::escape(&c.to_string()),
            c => c.to_string(),
        })
        .collect();
    Pattern::new(&escaped).is_ok_and(|p| {
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

#[cfg(test)]
mod tests {
    use super::wildcard_match;

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
