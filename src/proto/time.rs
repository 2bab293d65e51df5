//! Calendar formatting of timestamps. (placeholder: being implemented)
#![allow(missing_docs, dead_code, unused_variables, unreachable_pub)]
use crate::value::Timestamp;
pub(crate) fn iso8601(t: Timestamp) -> String {
    String::new()
}
pub(crate) fn js_date_string(t: Timestamp) -> String {
    String::new()
}
