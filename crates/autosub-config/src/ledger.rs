//! `[ledger]`: where autosub remembers the triggers it owns between passes.

use serde::Deserialize;

use crate::Problems;

/// Where the ledger lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// The store; a relative file path is relative to the configuration file.
    pub location: LedgerLocation,
}

/// `[ledger]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLedgerConfig {
    /// A file path (relative paths are relative to the configuration file), `s3://bucket/key`,
    /// `dynamodb://table`, or `none`.
    #[serde(default = "default_ledger")]
    pub(crate) location: String,
}

impl Default for RawLedgerConfig {
    fn default() -> Self {
        Self {
            location: default_ledger(),
        }
    }
}

fn default_ledger() -> String {
    "autosub-ledger.json".into()
}

impl RawLedgerConfig {
    pub(crate) fn validate(self, p: &mut Problems) -> Option<LedgerConfig> {
        let location = p.check("ledger.location", LedgerLocation::parse(&self.location))?;
        Some(LedgerConfig { location })
    }
}

/// A parsed `ledger.location`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerLocation {
    /// A local JSON file.
    File(std::path::PathBuf),
    /// One S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// A DynamoDB table (partition key `pk`, sort key `sk`, both strings).
    DynamoDb {
        /// The table name.
        table: String,
    },
    /// No ledger: stale counts start from zero on every run.
    None,
}

impl LedgerLocation {
    /// Parses a location; the error says what forms are accepted.
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            Err(format!(
                "{value:?} {why}; use a file path, \"s3://bucket/key\", \"dynamodb://table\" or \"none\""
            ))
        };
        if value == "none" {
            Ok(Self::None)
        } else if let Some(rest) = value.strip_prefix("s3://") {
            match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => bad("names no bucket and key"),
            }
        } else if let Some(table) = value.strip_prefix("dynamodb://") {
            if crate::lease::is_table_name(table) {
                Ok(Self::DynamoDb {
                    table: table.to_owned(),
                })
            } else {
                bad("is not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')")
            }
        } else if value.contains("://") {
            bad("has an unknown scheme")
        } else if value.is_empty() {
            bad("is empty")
        } else {
            Ok(Self::File(value.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_locations_parse_or_say_what_is_accepted() {
        assert_eq!(
            LedgerLocation::parse("s3://b/autosub/ledger.json"),
            Ok(LedgerLocation::S3 {
                bucket: "b".into(),
                key: "autosub/ledger.json".into()
            })
        );
        assert_eq!(
            LedgerLocation::parse("state/ledger.json"),
            Ok(LedgerLocation::File("state/ledger.json".into()))
        );
        assert_eq!(LedgerLocation::parse("none"), Ok(LedgerLocation::None));
        let err = LedgerLocation::parse("redis://x").unwrap_err();
        assert!(
            err.contains("unknown scheme") && err.contains("dynamodb://table"),
            "{err}"
        );
        for bad in ["", "s3://bucket-only", "s3:///key", "dynamodb://ab"] {
            assert!(LedgerLocation::parse(bad).is_err(), "{bad:?}");
        }
    }
}
