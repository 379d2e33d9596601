//! What a run produces: the JSON result, the HTML report and the terminal comparison.

pub mod compare;
pub mod html;
pub mod machine;
pub mod result;
