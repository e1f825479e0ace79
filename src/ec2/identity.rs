//! The instance identity document (`/latest/dynamic/instance-identity/document`).

use super::Ec2Error;

/// The fields of the instance identity document that ADDEC2METADATA uses.
///
/// A field missing from the document (or not a string) is `None`, as the Java agent's
/// `InstanceInfo` getters return `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityDocument {
    /// `privateIp`.
    pub private_ip: Option<String>,
    /// `availabilityZone`.
    pub availability_zone: Option<String>,
    /// `instanceId`.
    pub instance_id: Option<String>,
    /// `instanceType`.
    pub instance_type: Option<String>,
    /// `accountId`.
    pub account_id: Option<String>,
    /// `imageId` (published as `amiId`).
    pub image_id: Option<String>,
    /// `region`.
    pub region: Option<String>,
}

impl IdentityDocument {
    /// Parse the JSON document IMDS serves.
    pub fn parse(body: &str) -> Result<IdentityDocument, Ec2Error> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| Ec2Error::Document(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(Ec2Error::Document("not a JSON object".into()));
        };
        let field = |name: &str| map.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Ok(IdentityDocument {
            private_ip: field("privateIp"),
            availability_zone: field("availabilityZone"),
            instance_id: field("instanceId"),
            instance_type: field("instanceType"),
            account_id: field("accountId"),
            image_id: field("imageId"),
            region: field("region"),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The document `tests/harness/imds.js` serves, as IMDS lays it out.
    pub(crate) const DOCUMENT: &str = r#"{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "us-east-1a",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "m5.large",
  "kernelId" : null,
  "pendingTime" : "2024-05-01T09:00:00Z",
  "privateIp" : "10.0.0.5",
  "ramdiskId" : null,
  "region" : "us-east-1",
  "version" : "2017-09-30"
}"#;

    /// What [`DOCUMENT`] parses to.
    pub(crate) fn expected_identity() -> IdentityDocument {
        IdentityDocument {
            private_ip: Some("10.0.0.5".into()),
            availability_zone: Some("us-east-1a".into()),
            instance_id: Some("i-0123456789abcdef0".into()),
            instance_type: Some("m5.large".into()),
            account_id: Some("123456789012".into()),
            image_id: Some("ami-0abcdef1234567890".into()),
            region: Some("us-east-1".into()),
        }
    }

    #[test]
    fn parses_the_fields_it_uses() {
        assert_eq!(
            IdentityDocument::parse(DOCUMENT).unwrap(),
            expected_identity()
        );
    }

    #[test]
    fn missing_or_non_string_fields_are_none() {
        let d =
            IdentityDocument::parse(r#"{"instanceId":"i-1","region":7,"privateIp":null}"#).unwrap();
        assert_eq!(
            d,
            IdentityDocument {
                instance_id: Some("i-1".into()),
                ..IdentityDocument::default()
            }
        );
    }

    #[test]
    fn non_objects_are_errors() {
        for bad in ["[]", "", "{", "\"x\""] {
            assert!(
                matches!(IdentityDocument::parse(bad), Err(Ec2Error::Document(_))),
                "{bad:?}"
            );
        }
    }
}
