//! The house rules of the README's layout table, checked on the sources: which module may use
//! which. A `use crate::sink` slipped into `tail/` fails here, not in a review.

use std::path::{Path, PathBuf};

/// (module directory or file under `src/`, modules of kinetail it must not use)
const RULES: &[(&str, &[&str])] = &[
    (
        "java",
        &[
            "agent",
            "checkpoint",
            "config",
            "ec2",
            "log_limit",
            "metrics",
            "pipeline",
            "preview",
            "process",
            "record",
            "sink",
            "tail",
        ],
    ),
    (
        "log_limit.rs",
        &[
            "agent",
            "checkpoint",
            "config",
            "ec2",
            "java",
            "metrics",
            "pipeline",
            "preview",
            "process",
            "record",
            "sink",
            "tail",
        ],
    ),
    ("tail", &["process", "sink", "ec2", "pipeline", "agent"]),
    (
        "process",
        &["tail", "sink", "checkpoint", "pipeline", "agent"],
    ),
    ("sink", &["tail", "process", "pipeline", "agent", "ec2"]),
    (
        "checkpoint",
        &["tail", "process", "sink", "pipeline", "agent", "ec2"],
    ),
    (
        "config",
        &[
            "tail",
            "process",
            "sink",
            "checkpoint",
            "pipeline",
            "agent",
            "ec2",
        ],
    ),
    (
        "ec2",
        &["tail", "process", "sink", "checkpoint", "pipeline", "agent"],
    ),
    (
        "migrate.rs",
        &["process", "sink", "pipeline", "agent", "ec2"],
    ),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The modules of kinetail a source file names through `crate::`.
fn used_modules(text: &str) -> Vec<String> {
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if rest.starts_with('{') {
            // `use crate::{a, b::c}`: every top-level name in the braces.
            let inner = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for part in inner.split(',') {
                let head = part.trim().split("::").next().unwrap_or("").trim();
                if !head.is_empty() {
                    used.push(head.to_string());
                }
            }
        } else if !name.is_empty() {
            used.push(name);
        }
    }
    used
}

#[test]
fn modules_use_only_what_the_layout_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (module, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        assert!(!files.is_empty(), "no sources for {module}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in used_modules(&text) {
                if forbidden.contains(&used.as_str()) {
                    broken.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layout rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_every_form_of_use() {
    assert_eq!(
        used_modules("use crate::sink::Record;\nlet x = crate::tail::f();\nuse crate::{java, process::Chain};"),
        ["sink", "tail", "java", "process"]
    );
}
