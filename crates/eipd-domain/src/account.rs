//! The account's attributes in a region (DescribeAccountAttributes): what
//! tools ask before they start, such as the default VPC and how many
//! addresses may be allocated.

use crate::error::{ApiError, ApiResult};
use crate::state::{Partition, Settings};

/// The attributes EC2 describes, in the order it lists them.
pub const ACCOUNT_ATTRIBUTES: &[&str] = &[
    "supported-platforms",
    "vpc-max-security-groups-per-interface",
    "max-elastic-ips",
    "max-instances",
    "vpc-max-elastic-ips",
    "default-vpc",
];

/// The addresses an account may hold when eipd sets no limit (the moto
/// flavour): moto's fixed answer.
const UNLIMITED_ADDRESSES_SHOWN_AS: u32 = 5;

/// One attribute and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAttribute {
    pub name: &'static str,
    pub values: Vec<String>,
}

/// The attributes named in `names` (all of them when it is empty), in EC2's
/// order; a name EC2 does not describe is InvalidParameterValue.
pub fn describe_account_attributes(
    part: &Partition,
    settings: &Settings,
    names: &[String],
) -> ApiResult<Vec<AccountAttribute>> {
    if let Some(unknown) = names.iter().find(|n| !ACCOUNT_ATTRIBUTES.contains(&n.as_str())) {
        return Err(ApiError::invalid_parameter_value(format!(
            "Value ({unknown}) for parameter attributeName is invalid. Expected one of: {}.",
            ACCOUNT_ATTRIBUTES.join(", ")
        )));
    }
    let address_limit = settings.address_limit.unwrap_or(UNLIMITED_ADDRESSES_SHOWN_AS).to_string();
    Ok(ACCOUNT_ATTRIBUTES
        .iter()
        .filter(|name| names.is_empty() || names.iter().any(|n| n == *name))
        .map(|&name| {
            let values = match name {
                // Every instance and interface lives in a VPC (D4).
                "supported-platforms" => vec!["VPC".to_owned()],
                "vpc-max-security-groups-per-interface" => {
                    vec![crate::security_groups::MAX_GROUPS_PER_INTERFACE.to_string()]
                }
                "max-elastic-ips" | "vpc-max-elastic-ips" => vec![address_limit.clone()],
                // EC2's legacy figure: it no longer reflects any limit.
                "max-instances" => vec!["20".to_owned()],
                _ => vec![part.default_vpc().map_or_else(|| "none".to_owned(), |v| v.id.to_string())],
            };
            AccountAttribute { name, values }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scope;

    #[test]
    fn every_attribute_by_default_and_the_named_ones_in_ec2_order() {
        let part = Partition::with_defaults(&Scope::new("123456789012", "us-east-1"));
        let settings = Settings { address_limit: Some(7), ..Settings::default() };
        let all = describe_account_attributes(&part, &settings, &[]).unwrap();
        assert_eq!(all.iter().map(|a| a.name).collect::<Vec<_>>(), ACCOUNT_ATTRIBUTES);
        let default_vpc = part.default_vpc().unwrap().id.to_string();
        let named =
            describe_account_attributes(&part, &settings, &["default-vpc".into(), "max-elastic-ips".into()]).unwrap();
        assert_eq!(
            named,
            [
                AccountAttribute { name: "max-elastic-ips", values: vec!["7".into()] },
                AccountAttribute { name: "default-vpc", values: vec![default_vpc] },
            ]
        );
        let e = describe_account_attributes(&part, &settings, &["max-vpcs".into()]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
    }

    #[test]
    fn an_account_without_a_default_vpc_says_none() {
        let part = Partition::default();
        let all = describe_account_attributes(&part, &Settings::default(), &["default-vpc".into()]).unwrap();
        assert_eq!(all[0].values, ["none"]);
    }
}
