//! Reading the main file, merging `agent.d/*.json` flows, and the whole-configuration checks.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::agent::{self, AgentConfig};
use super::error::ConfigError;
use super::flow::{self, FlowConfig};
use super::reader::{parse_document, Section};

/// Loads `path` and merges the flows of `<dir of path>/agent.d/*.json`.
pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
    let dir = path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("agent.d");
    load_with_agent_d(path, Some(&dir))
}

/// Loads `path` and merges the flows of `agent_d/*.json` when given; a missing directory has no files.
pub fn load_with_agent_d(path: &Path, agent_d: Option<&Path>) -> Result<AgentConfig, ConfigError> {
    let text = read(path)?;
    let mut extra = Vec::new();
    if let Some(dir) = agent_d {
        for file in agent_d_files(dir)? {
            let text = read(&file)?;
            extra.push((file, text));
        }
    }
    build(path, &text, &extra)
}

/// Parses one document with no `agent.d` merging (`source` only names it in errors).
pub fn parse_str(source: &Path, text: &str) -> Result<AgentConfig, ConfigError> {
    build(source, text, &[])
}

fn read(path: &Path) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Regular `*.json` files (symlinks followed) of `dir`, sorted by file name.
fn agent_d_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let io_err = |source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// A parsed flow with the place it came from, for duplicate reports.
struct Located {
    flow: FlowConfig,
    key: String,
}

fn build(path: &Path, text: &str, extra: &[(PathBuf, String)]) -> Result<AgentConfig, ConfigError> {
    let doc = parse_document(path, text)?;
    let mut root = Section::root(path, &doc);
    let mut cfg = agent::parse(&mut root)?;
    let mut flows = Vec::new();
    let mut flow_unknown = Vec::new();
    read_flows(
        &mut root,
        cfg.log_emit_internal_metrics,
        &mut flows,
        &mut flow_unknown,
    )?;
    cfg.unknown_keys = root.unknown_keys();
    cfg.unknown_keys.append(&mut flow_unknown);

    for (file, text) in extra {
        let doc = parse_document(file, text)?;
        let mut root = Section::root(file, &doc);
        let mut unknown = Vec::new();
        read_flows(
            &mut root,
            cfg.log_emit_internal_metrics,
            &mut flows,
            &mut unknown,
        )?;
        // Only `flows` is taken from agent.d files (as in Java); anything else there is reported, not applied.
        cfg.unknown_keys.extend(root.unknown_keys());
        cfg.unknown_keys.append(&mut unknown);
        cfg.agent_d_files.push(file.clone());
    }

    check_duplicates(&flows)?;
    if flows.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key: "flows".to_string(),
            message: "There are no flows configured in configuration file.".to_string(),
        });
    }
    cfg.flows = flows.into_iter().map(|l| l.flow).collect();
    cfg.find_java_checkpoints(Path::new(super::java_checkpoints::JAVA_CHECKPOINT_FILE));
    Ok(cfg)
}

fn read_flows(
    root: &mut Section<'_>,
    agent_log_emit_internal_metrics: bool,
    flows: &mut Vec<Located>,
    unknown: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for mut sec in root.sections("flows")? {
        let flow = flow::parse(&mut sec, agent_log_emit_internal_metrics, unknown)?;
        flows.push(Located {
            flow,
            key: sec.key_path(""),
        });
    }
    Ok(())
}

fn check_duplicates(flows: &[Located]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &Located> = HashMap::new();
    for l in flows {
        if let Some(first) = seen.insert(&l.flow.id, l) {
            return Err(ConfigError::Invalid {
                path: l.flow.source.clone(),
                key: l.key.clone(),
                message: format!(
                    "Duplicate flow: {} (first defined in {}: {})",
                    l.flow.id,
                    first.flow.source.display(),
                    first.key
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn flow(pattern: &str, stream: &str) -> String {
        format!(r#"{{"filePattern": "{pattern}", "kinesisStream": "{stream}"}}"#)
    }

    #[test]
    fn agent_d_merged_sorted_by_name_json_only() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(
            tmp.path(),
            "agent.json",
            &format!(r#"{{"flows": [{}]}}"#, flow("/a/main.log", "s")),
        );
        let d = tmp.path().join("agent.d");
        fs::create_dir(&d).unwrap();
        write(
            &d,
            "20-b.json",
            &format!(r#"{{"flows": [{}]}}"#, flow("/a/b.log", "s")),
        );
        write(
            &d,
            "10-a.json",
            &format!(
                r#"{{"flows": [{}, {}]}}"#,
                flow("/a/a1.log", "s"),
                flow("/a/a2.log", "s")
            ),
        );
        write(&d, "30-c.json.bak", "not json at all");
        write(&d, "README", "not json at all");
        fs::create_dir(d.join("99-dir.json")).unwrap();
        let cfg = load(&main).unwrap();
        let ids: Vec<&str> = cfg.flows.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "kinesis:s:/a/main.log",
                "kinesis:s:/a/a1.log",
                "kinesis:s:/a/a2.log",
                "kinesis:s:/a/b.log"
            ]
        );
        assert_eq!(
            cfg.agent_d_files,
            vec![d.join("10-a.json"), d.join("20-b.json")]
        );
        assert_eq!(cfg.flows[1].source, d.join("10-a.json"));
        assert_eq!(cfg.source, main);
    }

    #[test]
    fn main_file_without_flows_is_fine_with_agent_d() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(
            tmp.path(),
            "agent.json",
            r#"{"cloudwatch.emitMetrics": false}"#,
        );
        let d = tmp.path().join("conf.d");
        fs::create_dir(&d).unwrap();
        write(
            &d,
            "x.json",
            &format!(
                r#"{{"cloudwatch.emitMetrics": true, "flows": [{}]}}"#,
                flow("/a/x.log", "s")
            ),
        );
        let cfg = load_with_agent_d(&main, Some(&d)).unwrap();
        assert_eq!(cfg.flows.len(), 1);
        assert!(
            !cfg.cloudwatch_emit_metrics,
            "agent keys of agent.d files are not applied"
        );
        assert_eq!(
            cfg.unknown_keys,
            vec![format!(
                "{}: cloudwatch.emitMetrics",
                d.join("x.json").display()
            )]
        );
        let err = load_with_agent_d(&main, None).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: flows: There are no flows configured in configuration file.",
                main.display()
            )
        );
        let missing = tmp.path().join("nope.d");
        assert!(load_with_agent_d(&main, Some(&missing)).is_err());
    }

    #[test]
    fn invalid_agent_d_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(
            tmp.path(),
            "agent.json",
            &format!(r#"{{"flows": [{}]}}"#, flow("/a/main.log", "s")),
        );
        let d = tmp.path().join("agent.d");
        fs::create_dir(&d).unwrap();
        let bad = write(&d, "bad.json", "{\n  \"flows\": [\n");
        let err = load(&main).unwrap_err().to_string();
        // serde_json reports end-of-input after a final newline as column 0.
        assert!(
            err.starts_with(&format!(
                "{}:3:0: invalid JSON: EOF while parsing a list",
                bad.display()
            )),
            "{err}"
        );
        write(
            &d,
            "bad.json",
            r#"{"flows": [{"filePattern": "/a/x", "kinesisStream": "s", "maxBufferSizeRecords": 501}]}"#,
        );
        let err = load(&main).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: flows[0].maxBufferSizeRecords: 'maxBufferSizeRecords' value 501 is outside of valid range ([1, 500])",
                bad.display()
            )
        );
    }

    #[test]
    fn duplicate_flows_across_files() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(
            tmp.path(),
            "agent.json",
            &format!(r#"{{"flows": [{}]}}"#, flow("/a//x.log", "s")),
        );
        let d = tmp.path().join("agent.d");
        fs::create_dir(&d).unwrap();
        let other = write(
            &d,
            "o.json",
            &format!(
                r#"{{"flows": [{}, {}]}}"#,
                flow("/a/y.log", "s"),
                flow("/a/x.log", "s")
            ),
        );
        let err = load(&main).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: flows[1]: Duplicate flow: kinesis:s:/a/x.log (first defined in {}: flows[0])",
                other.display(),
                main.display()
            )
        );
    }

    #[test]
    fn missing_main_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("absent.json");
        let err = load(&p).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err
            .to_string()
            .starts_with(&format!("{}: cannot read configuration", p.display())));
    }
}
