//! Shared by the fuzz targets.
use peerjs::Value;

/// Whether two values are the same message for a JavaScript receiver: numbers compare by value
/// (encoders send whole floats as integers, as JavaScript has one number type), everything else
/// structurally.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::Float(f), n @ (Value::Int(_) | Value::UInt(_)))
        | (n @ (Value::Int(_) | Value::UInt(_)), Value::Float(f)) => {
            let exact = match n {
                Value::Int(i) => *f == *i as f64 && (*i as f64) as i64 == *i,
                Value::UInt(u) => *f == *u as f64 && (*u as f64) as u64 == *u,
                _ => false,
            };
            exact
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}
