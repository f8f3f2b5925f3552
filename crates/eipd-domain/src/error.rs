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

macro_rules! bad_request {
    ($($fn_name:ident => $code:literal),* $(,)?) => {
        $(
            #[doc = concat!("`", $code, "` (HTTP 400).")]
            pub fn $fn_name(message: impl Into<String>) -> Self {
                Self::new($code, 400, message)
            }
        )*
    };
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status }
    }

    bad_request! {
        missing_parameter => "MissingParameter",
        invalid_parameter_value => "InvalidParameterValue",
        invalid_parameter_combination => "InvalidParameterCombination",
        unknown_parameter_raw => "UnknownParameter",
        invalid_action_raw => "InvalidAction",
        missing_action_raw => "MissingAction",
        incomplete_signature => "IncompleteSignature",
        request_expired => "RequestExpired",
        invalid_query_parameter => "InvalidQueryParameter",
        malformed_query_string => "MalformedQueryString",
        invalid_association_id_not_found_raw => "InvalidAssociationID.NotFound",
        invalid_allocation_id_not_found_raw => "InvalidAllocationID.NotFound",
        invalid_address_not_found_raw => "InvalidAddress.NotFound",
        invalid_address_malformed => "InvalidAddress.Malformed",
        invalid_ip_address_in_use_raw => "InvalidIPAddress.InUse",
        address_limit_exceeded_raw => "AddressLimitExceeded",
        resource_already_associated_raw => "Resource.AlreadyAssociated",
        gateway_not_attached_raw => "Gateway.NotAttached",
        incorrect_instance_state => "IncorrectInstanceState",
        invalid_instance_id => "InvalidInstanceID",
        invalid_instance_id_not_found_raw => "InvalidInstanceID.NotFound",
        invalid_instance_id_malformed_raw => "InvalidInstanceID.Malformed",
        invalid_network_interface_id_not_found_raw => "InvalidNetworkInterfaceID.NotFound",
        invalid_network_interface_id_malformed_raw => "InvalidNetworkInterfaceId.Malformed",
        invalid_vpc_id_not_found_raw => "InvalidVpcID.NotFound",
        invalid_vpc_id_malformed_raw => "InvalidVpcID.Malformed",
        invalid_subnet_id_not_found_raw => "InvalidSubnetID.NotFound",
        invalid_subnet_id_malformed_raw => "InvalidSubnetID.Malformed",
        invalid_internet_gateway_id_not_found_raw => "InvalidInternetGatewayID.NotFound",
        invalid_internet_gateway_id_malformed_raw => "InvalidInternetGatewayId.Malformed",
        invalid_id => "InvalidID",
        invalid_vpc_range => "InvalidVpc.Range",
        invalid_subnet_range => "InvalidSubnet.Range",
        invalid_subnet_conflict => "InvalidSubnet.Conflict",
        invalid_ip_address_in_use_private => "InvalidIPAddress.InUse",
        invalid_parameter => "InvalidParameter",
        resource_already_associated_gateway => "Resource.AlreadyAssociated",
        dependency_violation => "DependencyViolation",
        invalid_network_interface_in_use => "InvalidNetworkInterface.InUse",
        operation_not_permitted => "OperationNotPermitted",
        invalid_attachment_id_not_found => "InvalidAttachmentID.NotFound",
        invalid_next_token => "InvalidNextToken",
        invalid_ami_id_malformed => "InvalidAMIID.Malformed",
        tag_limit_exceeded => "TagLimitExceeded",
        insufficient_free_addresses_in_subnet => "InsufficientFreeAddressesInSubnet",
        private_ip_address_limit_exceeded => "PrivateIpAddressLimitExceeded",
        attachment_limit_exceeded => "AttachmentLimitExceeded",
        invalid_ipv6_address_in_use => "InvalidIPv6Address.InUse",
        invalid_state => "InvalidState",
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

    pub fn invalid_filter(name: &str) -> Self {
        Self::invalid_parameter_value(format!("The filter '{name}' is invalid"))
    }

    pub fn dry_run_operation() -> Self {
        Self::new("DryRunOperation", 412, "Request would have succeeded, but DryRun flag is set.")
    }

    pub fn unauthorized_operation(message: impl Into<String>) -> Self {
        Self::new("UnauthorizedOperation", 403, message)
    }

    pub fn auth_failure(message: impl Into<String>) -> Self {
        Self::new("AuthFailure", 401, message)
    }

    /// D12: a public IP held by another account, named through PublicIp.
    pub fn address_not_yours(ip: impl fmt::Display) -> Self {
        Self::auth_failure(format!("The address '{ip}' does not belong to you."))
    }

    pub fn missing_authentication_token() -> Self {
        Self::new("MissingAuthenticationToken", 403, "Request is missing Authentication Token")
    }

    pub fn signature_does_not_match() -> Self {
        Self::auth_failure("AWS was not able to validate the provided access credentials")
    }

    pub fn internal_error(message: impl Into<String>) -> Self {
        Self::new("InternalError", 500, message)
    }

    pub fn request_limit_exceeded() -> Self {
        Self::new("RequestLimitExceeded", 503, "Request limit exceeded.")
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

    /// moto's text for an unknown allocation id (D1); `ids` is a Python repr.
    pub fn moto_allocation_not_found(ids: &str) -> Self {
        Self::invalid_allocation_id_not_found_raw(format!("Allocation ID '{ids}' not found."))
    }

    /// moto's text for an unknown association id (D1).
    pub fn moto_association_not_found(ids: &str) -> Self {
        Self::invalid_association_id_not_found_raw(format!("Association ID '{ids}' not found."))
    }

    pub fn server_busy() -> Self {
        Self::new("Unavailable", 503, "The service is unavailable. Try again shortly.")
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
}
