//! Warnings about the keys written in agent.json: a secret key in a file every user can read, and
//! keys that cannot be real (masked placeholders copied from a console, a secret of the wrong
//! length, half a pair). Never the secret itself in a message.

use super::agent::AgentConfig;
use std::os::unix::fs::PermissionsExt;

/// Length of every AWS secret access key.
const SECRET_KEY_LEN: usize = 40;

/// Why a key written in the configuration cannot be real, if it cannot.
fn placeholder(value: &str) -> Option<&'static str> {
    if value.contains('*') || value.contains('…') || value.contains("...") {
        Some("it is masked (`*`, `...`)")
    } else if value.contains('<') || value.contains('>') || value.contains('{') {
        Some("it is a template placeholder")
    } else if value.chars().any(char::is_whitespace) {
        Some("it contains white space")
    } else {
        None
    }
}

impl AgentConfig {
    /// One message per problem with the credentials in the configuration, for `check` and the
    /// start of `run`.
    pub fn credential_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let id = self.aws_access_key_id.as_deref();
        let secret = self.aws_secret_access_key.as_ref().map(|s| s.expose());
        match (id, secret) {
            (Some(_), None) | (None, Some(_)) => out.push(format!(
                "{}: only one of awsAccessKeyId and awsSecretAccessKey is set: both are ignored and the default credential chain is used",
                self.source.display()
            )),
            _ => {}
        }
        if let Some(id) = id {
            let why = placeholder(id).or_else(|| {
                let shape = (16..=128).contains(&id.len())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                (!shape).then_some("access key ids are 16 to 128 upper-case letters and digits")
            });
            if let Some(why) = why {
                out.push(format!(
                    "{}: awsAccessKeyId {id:?} cannot be a real access key id: {why}",
                    self.source.display()
                ));
            }
        }
        if let Some(secret) = secret {
            let why = placeholder(secret).map(str::to_owned).or_else(|| {
                (secret.chars().count() != SECRET_KEY_LEN).then(|| {
                    format!(
                        "it is {} characters long, AWS secret access keys are {SECRET_KEY_LEN}",
                        secret.chars().count()
                    )
                })
            });
            if let Some(why) = why {
                out.push(format!(
                    "{}: awsSecretAccessKey cannot be a real secret access key: {why}",
                    self.source.display()
                ));
            }
            if let Ok(meta) = std::fs::metadata(&self.source) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o004 != 0 {
                    out.push(format!(
                        "{} holds awsSecretAccessKey and every user can read it (mode {mode:04o}): chmod 600 it (or 640 with the service's group), or use a role or the default credential chain instead",
                        self.source.display()
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn warnings(source: &Path, keys: &str) -> Vec<String> {
        let text = format!(
            r#"{{ {keys} "flows": [{{"filePattern": "/x/*.log", "kinesisStream": "s"}}] }}"#
        );
        parse_str(source, &text)
            .unwrap_or_else(|e| panic!("{e}: {text}"))
            .credential_warnings()
    }

    const REAL_SHAPED: &str = r#""awsAccessKeyId": "AKIAIOSFODNN7EXAMPLE", "awsSecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","#;

    #[test]
    fn real_shaped_keys_in_a_private_file_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("agent.json");
        std::fs::write(&f, "{}").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(warnings(&f, REAL_SHAPED), Vec::<String>::new());
        assert_eq!(warnings(&f, ""), Vec::<String>::new());
    }

    #[test]
    fn a_world_readable_file_with_a_secret_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("agent.json");
        std::fs::write(&f, "{}").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = warnings(&f, REAL_SHAPED);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("every user can read it (mode 0644)"), "{w:?}");
        // No secret, no warning about the mode.
        assert!(warnings(&f, "").is_empty());
    }

    #[test]
    fn keys_that_cannot_be_real_are_named_without_showing_the_secret() {
        let f = Path::new("/nonexistent/agent.json");
        let w = warnings(
            f,
            r#""awsAccessKeyId": "AKIA************", "awsSecretAccessKey": "abc***********","#,
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains(
                "awsAccessKeyId \"AKIA************\" cannot be a real access key id: it is masked"
            ),
            "{w:?}"
        );
        assert!(
            w[1].contains("awsSecretAccessKey cannot be a real secret access key: it is masked"),
            "{w:?}"
        );
        assert!(w.iter().all(|m| !m.contains("abc***")), "{w:?}");

        let w = warnings(
            f,
            r#""awsAccessKeyId": "akia-lower", "awsSecretAccessKey": "tooshortsecret","#,
        );
        assert!(
            w[0].contains("16 to 128 upper-case letters and digits"),
            "{w:?}"
        );
        assert!(
            w[1].contains("it is 14 characters long, AWS secret access keys are 40"),
            "{w:?}"
        );
        assert!(w.iter().all(|m| !m.contains("tooshortsecret")), "{w:?}");

        let w = warnings(
            f,
            r#""awsAccessKeyId": "<YOUR KEY>", "awsSecretAccessKey": "{{secret}}","#,
        );
        assert!(w[0].contains("template placeholder"), "{w:?}");
        assert!(w[1].contains("template placeholder"), "{w:?}");
    }

    #[test]
    fn half_a_pair_is_warned_about() {
        let f = Path::new("/nonexistent/agent.json");
        let w = warnings(f, r#""awsAccessKeyId": "AKIAIOSFODNN7EXAMPLE","#);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("only one of awsAccessKeyId and awsSecretAccessKey is set"),
            "{w:?}"
        );
    }
}
