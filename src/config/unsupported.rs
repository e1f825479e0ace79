//! The one list of configuration features kinetail does not implement; shrink it as features land.

use super::agent::AgentConfig;
use super::options::ProcessingOption;

const JAVA_ONLY: &str = "loads Java classes and cannot be supported by kinetail";

impl AgentConfig {
    /// One human-readable message per requested feature that kinetail cannot do (yet).
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.user_defined_credentials_provider_classname.is_some() {
            out.push(format!(
                "userDefinedCredentialsProvider.classname {JAVA_ONLY}"
            ));
        }
        for flow in &self.flows {
            let id = &flow.id;
            for opt in &flow.data_processing_options {
                if let ProcessingOption::UsingPluggin { .. } = opt {
                    out.push(format!(
                        "flow {id}: dataProcessingOptions {} {JAVA_ONLY}",
                        opt.name()
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
    use std::path::Path;

    fn unsupported(text: &str) -> Vec<String> {
        match parse_str(Path::new("/a.json"), text) {
            Ok(c) => c.unsupported(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn supported_config_has_no_messages() {
        assert!(unsupported(
            r#"{"assumeRoleARN": "arn:aws:iam::1:role/r", "flows": [{"filePattern": "/x/*.log", "deliveryStream": "d", "aggregatedRecordSizeBytes": 4096},
                {"filePattern": "/x/*.log", "kinesisStream": "s",
                "multiLineStartPattern": "^\\S", "fileFooterPattern": "END",
                "dataProcessingOptions": [{"optionName": "SINGLELINE"}, {"optionName": "CSVTOJSON", "customFieldNames": ["a"]},
                  {"optionName": "LOGTOJSON", "logFormat": "SYSLOG"}, {"optionName": "ADDMETADATA", "metadata": {}},
                  {"optionName": "ADDEC2METADATA"}, {"optionName": "ADDBRACKETS"}]}]}"#
        )
        .is_empty());
    }

    #[test]
    fn every_unsupported_feature_is_listed() {
        let msgs = unsupported(
            r#"{
              "assumeRoleARN": "arn:aws:iam::1:role/r",
              "userDefinedCredentialsProvider.classname": "com.x.P",
              "flows": [
                {"filePattern": "/x/*.log", "deliveryStream": "d"},
                {"filePattern": "/x/*.log", "kinesisStream": "s",
                 "multiLineStartPattern": "^\\S", "fileFooterPattern": "END",
                 "dataProcessingOptions": [
                   {"optionName": "LOGTOJSON", "logFormat": "SYSLOG"},
                   {"optionName": "ADDMETADATA", "metadata": {}},
                   {"optionName": "ADDEC2METADATA"},
                   {"optionName": "ADDBRACKETS"},
                   {"optionName": "USINGPLUGGIN", "className": "com.x.C"}
                 ]}
              ]
            }"#,
        );
        assert_eq!(
            msgs,
            vec![
                "userDefinedCredentialsProvider.classname loads Java classes and cannot be supported by kinetail",
                "flow kinesis:s:/x/*.log: dataProcessingOptions USINGPLUGGIN loads Java classes and cannot be supported by kinetail",
            ]
        );
    }
}
