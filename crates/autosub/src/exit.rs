//! Exit codes, documented in the README and `autosub --help`.

/// Success (for `plan --detailed-exitcode`: success and nothing to change).
pub const OK: u8 = 0;
/// An error stopped the command (AWS unreachable, no credentials, …); for `doctor`: a check failed.
pub const ERROR: u8 = 1;
/// `plan --detailed-exitcode` only: success, and there are changes to apply.
pub const CHANGES_PENDING: u8 = 2;
/// The command ran but part of it failed: a change failed, or discovery had gaps.
pub const PARTIAL: u8 = 3;
/// The configuration file is missing or invalid.
pub const BAD_CONFIG: u8 = 4;
/// The command line itself is wrong (an unknown flag, a missing argument): sysexits' EX_USAGE,
/// never clap's default 2, which `plan --detailed-exitcode` uses for "changes pending".
pub const USAGE: u8 = 64;
