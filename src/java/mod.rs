//! The JVM's exact behaviour, for byte-identical output with the Java agent: `java.util.regex`
//! onto fancy-regex, `String.split`, Jackson's JSON writer, the JDK's UTF-8 decoding and
//! `Double.toString`. A leaf: it imports nothing of the rest of kinetail.

pub mod double;
pub mod json;
pub mod regex;
pub mod split;
pub mod utf8;
