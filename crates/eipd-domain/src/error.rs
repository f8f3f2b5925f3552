//! EC2 errors as values.
//!
//! Every client-visible failure is an [`ApiError`] built by a constructor named
//! after its EC2 code, so a grep for a code finds the one place that raises it.
//! The protocol layer turns it into `<Response><Errors><Error>…` once.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

/// The one table of error codes: each row is a constructor taking the
/// message, the EC2 code and its HTTP status. A code has one row; where one
/// message is the usual one, the row is `<code>_raw` and `<code>(…)` below
/// writes that message. `ApiError::new` is private: no code is written
/// anywhere else.
macro_rules! error_codes {
    ($($fn_name:ident => $code:literal, $status:literal;)*) => {
        /// Every code in the table with its HTTP status (for tests and docs).
        pub const ERROR_CODES: &[(&str, u16)] = &[$(($code, $status)),*];

        impl ApiError {
            $(
                #[doc = concat!("`", $code, "` (HTTP ", stringify!($status), ").")]
                pub fn $fn_name(message: impl Into<String>) -> Self {
                    Self::new($code, $status, message)
                }
            )*
        }
    };
}

error_codes! {
    // The request and its parameters.
    missing_parameter => "MissingParameter", 400;
    invalid_parameter_value => "InvalidParameterValue", 400;
    invalid_parameter_combination => "InvalidParameterCombination", 400;
    invalid_parameter => "InvalidParameter", 400;
    unknown_parameter_raw => "UnknownParameter", 400;
    invalid_action_raw => "InvalidAction", 400;
    missing_action_raw => "MissingAction", 400;
    invalid_query_parameter => "InvalidQueryParameter", 400;
    malformed_query_string => "MalformedQueryString", 400;
    invalid_next_token => "InvalidNextToken", 400;
    invalid_id => "InvalidID", 400;
    // HTTP itself (the server's edge).
    request_timeout => "RequestTimeout", 400;
    incomplete_body => "IncompleteBody", 400;
    not_found => "NotFound", 404;
    method_not_allowed => "MethodNotAllowed", 405;
    request_entity_too_large => "RequestEntityTooLarge", 413;
    unsupported_media_type => "UnsupportedMediaType", 415;
    // Authentication and authorization.
    incomplete_signature => "IncompleteSignature", 400;
    request_expired => "RequestExpired", 400;
    auth_failure => "AuthFailure", 401;
    unauthorized_operation => "UnauthorizedOperation", 403;
    missing_authentication_token_raw => "MissingAuthenticationToken", 403;
    access_denied => "AccessDenied", 403;
    dry_run_operation_raw => "DryRunOperation", 412;
    // Malformed ids.
    invalid_address_malformed => "InvalidAddress.Malformed", 400;
    invalid_instance_id_malformed_raw => "InvalidInstanceID.Malformed", 400;
    invalid_network_interface_id_malformed_raw => "InvalidNetworkInterfaceId.Malformed", 400;
    invalid_vpc_id_malformed_raw => "InvalidVpcID.Malformed", 400;
    invalid_subnet_id_malformed_raw => "InvalidSubnetID.Malformed", 400;
    invalid_internet_gateway_id_malformed_raw => "InvalidInternetGatewayId.Malformed", 400;
    invalid_ami_id_malformed => "InvalidAMIID.Malformed", 400;
    invalid_user_id_malformed => "InvalidUserID.Malformed", 400;
    invalid_group_id_malformed_raw => "InvalidGroupId.Malformed", 400;
    invalid_security_group_rule_id_malformed => "InvalidSecurityGroupRuleId.Malformed", 400;
    invalid_route_table_id_malformed_raw => "InvalidRouteTableId.Malformed", 400;
    nat_gateway_malformed => "NatGatewayMalformed", 400;
    invalid_dhcp_options_id_malformed_raw => "InvalidDhcpOptionsId.Malformed", 400;
    invalid_instance_id => "InvalidInstanceID", 400;
    // Unknown resources.
    invalid_association_id_not_found_raw => "InvalidAssociationID.NotFound", 400;
    invalid_allocation_id_not_found_raw => "InvalidAllocationID.NotFound", 400;
    invalid_address_not_found_raw => "InvalidAddress.NotFound", 400;
    invalid_instance_id_not_found_raw => "InvalidInstanceID.NotFound", 400;
    invalid_network_interface_id_not_found_raw => "InvalidNetworkInterfaceID.NotFound", 400;
    invalid_vpc_id_not_found_raw => "InvalidVpcID.NotFound", 400;
    invalid_subnet_id_not_found_raw => "InvalidSubnetID.NotFound", 400;
    invalid_internet_gateway_id_not_found_raw => "InvalidInternetGatewayID.NotFound", 400;
    invalid_attachment_id_not_found => "InvalidAttachmentID.NotFound", 400;
    invalid_ami_id_not_found => "InvalidAMIID.NotFound", 400;
    invalid_group_not_found_raw => "InvalidGroup.NotFound", 400;
    invalid_security_group_rule_id_not_found => "InvalidSecurityGroupRuleId.NotFound", 400;
    invalid_permission_not_found => "InvalidPermission.NotFound", 400;
    invalid_route_table_id_not_found_raw => "InvalidRouteTableID.NotFound", 400;
    invalid_route_not_found => "InvalidRoute.NotFound", 400;
    invalid_gateway_id_not_found_raw => "InvalidGatewayID.NotFound", 400;
    nat_gateway_not_found_raw => "NatGatewayNotFound", 400;
    invalid_key_pair_not_found_raw => "InvalidKeyPair.NotFound", 400;
    invalid_dhcp_option_id_not_found_raw => "InvalidDhcpOptionID.NotFound", 400;
    // The state of resources.
    invalid_ip_address_in_use_raw => "InvalidIPAddress.InUse", 400;
    invalid_ipv6_address_in_use => "InvalidIPv6Address.InUse", 400;
    resource_already_associated_raw => "Resource.AlreadyAssociated", 400;
    gateway_not_attached_raw => "Gateway.NotAttached", 400;
    incorrect_instance_state => "IncorrectInstanceState", 400;
    invalid_state => "InvalidState", 400;
    dependency_violation => "DependencyViolation", 400;
    invalid_network_interface_in_use => "InvalidNetworkInterface.InUse", 400;
    operation_not_permitted => "OperationNotPermitted", 400;
    invalid_vpc_range => "InvalidVpc.Range", 400;
    cidr_limit_exceeded => "CidrLimitExceeded", 400;
    invalid_vpc_cidr_block_association_id_not_found => "InvalidVpcCidrBlockAssociationID.NotFound", 400;
    invalid_subnet_cidr_block_association_id_not_found => "InvalidSubnetCidrBlockAssociationID.NotFound", 400;
    invalid_subnet_range => "InvalidSubnet.Range", 400;
    invalid_subnet_conflict => "InvalidSubnet.Conflict", 400;
    vpc_id_not_specified => "VPCIdNotSpecified", 400;
    invalid_group_duplicate => "InvalidGroup.Duplicate", 400;
    invalid_permission_duplicate => "InvalidPermission.Duplicate", 400;
    cannot_delete => "CannotDelete", 400;
    route_already_exists => "RouteAlreadyExists", 400;
    invalid_key_pair_duplicate => "InvalidKeyPair.Duplicate", 400;
    invalid_key_format => "InvalidKey.Format", 400;
    // Limits and capacity.
    address_limit_exceeded_raw => "AddressLimitExceeded", 400;
    insufficient_address_capacity => "InsufficientAddressCapacity", 400;
    tag_limit_exceeded => "TagLimitExceeded", 400;
    insufficient_free_addresses_in_subnet => "InsufficientFreeAddressesInSubnet", 400;
    private_ip_address_limit_exceeded => "PrivateIpAddressLimitExceeded", 400;
    attachment_limit_exceeded => "AttachmentLimitExceeded", 400;
    rules_per_security_group_limit_exceeded => "RulesPerSecurityGroupLimitExceeded", 400;
    security_groups_per_interface_limit_exceeded => "SecurityGroupsPerInterfaceLimitExceeded", 400;
    // eipd itself.
    internal_error => "InternalError", 500;
    request_limit_exceeded_raw => "RequestLimitExceeded", 503;
    unavailable_raw => "Unavailable", 503;
    service_unavailable => "ServiceUnavailable", 503;
}

/// The usual messages of the codes above.
impl ApiError {
    fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status }
    }

    /// Unknown Action name.
    pub fn invalid_action(action: &str) -> Self {
        Self::invalid_action_raw(format!("The action {action} is not valid for this web service."))
    }

    pub fn missing_action() -> Self {
        Self::missing_action_raw("The request must contain the parameter Action.")
    }

    /// A parameter the EC2 model does not define for this action (D14).
    pub fn unknown_parameter(name: &str) -> Self {
        Self::unknown_parameter_raw(format!("The parameter {name} is not recognized"))
    }

    /// A parameter the EC2 model defines but eipd does not implement (D14).
    pub fn unsupported_parameter(name: &str) -> Self {
        Self::invalid_parameter_value(format!("The parameter {name} is not supported by eipd yet"))
    }

    pub fn missing(name: &str) -> Self {
        Self::missing_parameter(format!("The request must contain the parameter {name}"))
    }

    /// A filter the EC2 model documents for the action but eipd does not
    /// evaluate (D14): refused rather than ignored, which would match wrongly.
    pub fn unsupported_filter(name: &str) -> Self {
        Self::invalid_parameter_value(format!("The filter '{name}' is not supported by eipd yet"))
    }

    pub fn invalid_filter(name: &str) -> Self {
        Self::invalid_parameter_value(format!("The filter '{name}' is invalid"))
    }

    pub fn dry_run_operation() -> Self {
        Self::dry_run_operation_raw("Request would have succeeded, but DryRun flag is set.")
    }

    /// D12: a public IP held by another account, named through PublicIp.
    pub fn address_not_yours(ip: impl fmt::Display) -> Self {
        Self::auth_failure(format!("The address '{ip}' does not belong to you."))
    }

    pub fn missing_authentication_token() -> Self {
        Self::missing_authentication_token_raw("Request is missing Authentication Token")
    }

    pub fn signature_does_not_match() -> Self {
        Self::auth_failure("AWS was not able to validate the provided access credentials")
    }

    pub fn request_limit_exceeded() -> Self {
        Self::request_limit_exceeded_raw("Request limit exceeded.")
    }

    pub fn invalid_association_id_not_found(id: &str) -> Self {
        Self::invalid_association_id_not_found_raw(format!("The association ID '{id}' does not exist"))
    }

    pub fn invalid_allocation_id_not_found(id: &str) -> Self {
        Self::invalid_allocation_id_not_found_raw(format!("The allocation ID '{id}' does not exist"))
    }

    pub fn invalid_address_not_found(ip: &str) -> Self {
        Self::invalid_address_not_found_raw(format!("Address '{ip}' not found."))
    }

    pub fn invalid_instance_id_not_found(id: &str) -> Self {
        Self::invalid_instance_id_not_found_raw(format!("The instance ID '{id}' does not exist"))
    }

    pub fn invalid_network_interface_id_not_found(id: &str) -> Self {
        Self::invalid_network_interface_id_not_found_raw(format!("The networkInterface ID '{id}' does not exist"))
    }

    pub fn invalid_vpc_id_not_found(id: &str) -> Self {
        Self::invalid_vpc_id_not_found_raw(format!("The vpc ID '{id}' does not exist"))
    }

    pub fn invalid_subnet_id_not_found(id: &str) -> Self {
        Self::invalid_subnet_id_not_found_raw(format!("The subnet ID '{id}' does not exist"))
    }

    pub fn attachment_not_found(id: &str) -> Self {
        Self::invalid_attachment_id_not_found(format!("The attachment ID '{id}' does not exist"))
    }

    pub fn invalid_group_not_found(id: &str) -> Self {
        Self::invalid_group_not_found_raw(format!("The security group '{id}' does not exist"))
    }

    pub fn invalid_route_table_id_not_found(id: &str) -> Self {
        Self::invalid_route_table_id_not_found_raw(format!("The routeTable ID '{id}' does not exist"))
    }

    pub fn invalid_gateway_id_not_found(id: &str) -> Self {
        Self::invalid_gateway_id_not_found_raw(format!("The gateway ID '{id}' does not exist"))
    }

    pub fn nat_gateway_not_found(id: &str) -> Self {
        Self::nat_gateway_not_found_raw(format!("NAT gateway {id} was not found"))
    }

    /// What AWS answers, with HTTP 400 rather than the 401 of a failed
    /// signature, to a change of an address or interface that a service (a
    /// NAT gateway) manages for the account.
    pub fn service_managed() -> Self {
        Self { status: 400, ..Self::auth_failure("You do not have permission to access the specified resource.") }
    }

    pub fn invalid_key_pair_not_found(name: &str) -> Self {
        Self::invalid_key_pair_not_found_raw(format!("The key pair '{name}' does not exist"))
    }

    pub fn invalid_key_pair_id_not_found(id: &str) -> Self {
        Self::invalid_key_pair_not_found_raw(format!("The key pair ID '{id}' does not exist"))
    }

    pub fn invalid_dhcp_option_id_not_found(id: &str) -> Self {
        Self::invalid_dhcp_option_id_not_found_raw(format!("The dhcpOption ID '{id}' does not exist"))
    }

    pub fn invalid_internet_gateway_id_not_found(id: &str) -> Self {
        Self::invalid_internet_gateway_id_not_found_raw(format!("The internetGateway ID '{id}' does not exist"))
    }

    pub fn address_limit_exceeded(limit: u32) -> Self {
        Self::address_limit_exceeded_raw(format!(
            "The maximum number of addresses has been reached. (eipd: the limit is {limit} \
             per account and region; raise it with --address-limit or EIPD_ADDRESS_LIMIT)"
        ))
    }

    pub fn invalid_ip_address_in_use(ip: impl fmt::Display) -> Self {
        Self::invalid_ip_address_in_use_raw(format!("Address {ip} is in use."))
    }

    pub fn resource_already_associated(allocation: &str, association: &str) -> Self {
        Self::resource_already_associated_raw(format!(
            "resource {allocation} is already associated with associate-id {association}"
        ))
    }

    pub fn gateway_not_attached(target: &str, vpc: &str) -> Self {
        Self::gateway_not_attached_raw(format!(
            "Network {vpc} is not attached to any internet gateway (target {target})"
        ))
    }

    pub fn server_busy() -> Self {
        Self::unavailable_raw("The service is unavailable. Try again shortly.")
    }
}

/// moto's words (D1), for the moto flavour: every text that differs from
/// AWS's is here, so that a rule only chooses whose words to use.
impl ApiError {
    /// An unknown allocation id: `Allocation ID '['eipalloc-1']' not found.`
    pub fn moto_allocation_not_found(ids: MotoIds<'_>) -> Self {
        Self::invalid_allocation_id_not_found_raw(format!("Allocation ID '{ids}' not found."))
    }

    /// An unknown association id.
    pub fn moto_association_not_found(ids: MotoIds<'_>) -> Self {
        Self::invalid_association_id_not_found_raw(format!("Association ID '{ids}' not found."))
    }

    /// An unknown public IP.
    pub fn moto_address_not_found(ips: MotoIds<'_>) -> Self {
        Self::invalid_address_not_found_raw(format!("Address '{ips}' not found."))
    }
}

/// Ids as moto writes them in its messages: Python's repr of a list, or of
/// a set where moto collects the missing ones.
#[derive(Clone, Copy, Debug)]
pub enum MotoIds<'a> {
    List(&'a [&'a str]),
    Set(&'a [&'a str]),
}

impl fmt::Display for MotoIds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, items, close) = match self {
            MotoIds::List(items) => ('[', items, ']'),
            MotoIds::Set(items) => ('{', items, '}'),
        };
        write!(f, "{open}")?;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "'{item}'")?;
        }
        write!(f, "{close}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_their_status() {
        assert_eq!(ApiError::dry_run_operation().status, 412);
        assert_eq!(ApiError::unauthorized_operation("x").status, 403);
        assert_eq!(ApiError::auth_failure("x").status, 401);
        assert_eq!(ApiError::missing("AssociationId").status, 400);
        assert_eq!(ApiError::internal_error("x").status, 500);
        assert_eq!(ApiError::invalid_association_id_not_found("eipassoc-1").code, "InvalidAssociationID.NotFound");
    }

    #[test]
    fn each_code_has_one_row() {
        let mut codes: Vec<&str> = ERROR_CODES.iter().map(|(code, _)| *code).collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), before, "a code is in the table twice");
    }

    #[test]
    fn moto_ids_are_python_reprs() {
        assert_eq!(MotoIds::List(&["a", "b"]).to_string(), "['a', 'b']");
        assert_eq!(MotoIds::Set(&["a"]).to_string(), "{'a'}");
        assert_eq!(
            ApiError::moto_allocation_not_found(MotoIds::List(&["eipalloc-1"])).message,
            "Allocation ID '['eipalloc-1']' not found."
        );
    }
}
