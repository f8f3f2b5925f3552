//! Route tables: each VPC's main table and the tables users create, their
//! routes, and the subnets and gateways they are associated with.

use crate::describe::Described;
use crate::error::{ApiError, ApiResult};
use crate::ids::*;
use crate::internet_gateways::internet_gateway;
use crate::model::*;
use crate::state::{Flavor, Partition, Record, RecordKey, Tx};
use crate::subnets::subnet;
use crate::vpcs::vpc;

pub fn route_table<'a>(part: &'a Partition, id: &RouteTableId) -> ApiResult<&'a RouteTable> {
    part.route_table(id).ok_or_else(|| ApiError::invalid_route_table_id_not_found(id.as_str()))
}

/// A VPC's main route table as AWS makes it with the VPC: no routes but the
/// `local` ones, and the main association. Its ids are derived from the
/// VPC's, so the default VPC's table is the same on every read and node
/// before the partition is first written.
pub fn main_route_table(vpc_id: &VpcId) -> RouteTable {
    let seed = format!("{vpc_id}/main-rtb");
    RouteTable {
        id: RouteTableId::derived(&seed),
        vpc_id: vpc_id.clone(),
        routes: Vec::new(),
        associations: vec![RouteTableAssociation {
            id: RouteTableAssociationId::derived(&format!("{seed}/main")),
            target: AssociatedWith::Main,
        }],
        client_token: None,
        tags: Tags::new(),
    }
}

/// Gives every VPC that lacks it its main table: the VPCs of a store
/// written before eipd had route tables (at the first write of their
/// partition).
pub(crate) fn add_missing_main_route_tables(part: &Partition) -> Vec<RouteTable> {
    part.vpcs().filter(|v| part.main_route_table(&v.id).is_none()).map(|v| main_route_table(&v.id)).collect()
}

#[derive(Clone, Debug)]
pub struct CreateRouteTable {
    pub vpc_id: VpcId,
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// A new table with no association; a `ClientToken` seen before answers
/// the table it made.
pub fn create_route_table(tx: &mut Tx, input: CreateRouteTable) -> ApiResult<RouteTable> {
    if let Some(token) = &input.client_token
        && let Some(made) = tx.part().route_tables().find(|t| t.client_token.as_ref() == Some(token))
    {
        return Ok(made.clone());
    }
    vpc(tx.part(), &input.vpc_id)?;
    let table = RouteTable {
        id: RouteTableId::generate(),
        vpc_id: input.vpc_id,
        routes: Vec::new(),
        associations: Vec::new(),
        client_token: input.client_token,
        tags: input.tags,
    };
    tx.put(Record::RouteTable(table.clone()));
    Ok(table)
}

/// Refused while the table has an association, the main one included.
pub fn delete_route_table(tx: &mut Tx, id: &RouteTableId) -> ApiResult<()> {
    if !route_table(tx.part(), id)?.associations.is_empty() {
        return Err(ApiError::dependency_violation(format!(
            "The routeTable '{id}' has dependencies and cannot be deleted."
        )));
    }
    tx.delete(RecordKey::RouteTable(id.clone()));
    Ok(())
}

// ---- routes ---------------------------------------------------------------------

/// A route's target as a request names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetRef {
    Gateway(InternetGatewayId),
    NetworkInterface(NetworkInterfaceId),
    /// Resolves to the instance's one interface.
    Instance(InstanceId),
    NatGateway(NatGatewayId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub destination: RouteDestination,
    pub target: TargetRef,
}

fn different_networks(table: &RouteTable, what: &str, id: &str) -> ApiError {
    ApiError::invalid_parameter_value(format!("route table {} and {what} {id} belong to different networks", table.id))
}

/// The target a request names, checked against the table: a gateway
/// attached to the table's VPC (moto takes any gateway), an interface of
/// that VPC, or an instance there with exactly one interface.
fn resolve_target(tx: &Tx, table: &RouteTable, target: &TargetRef) -> ApiResult<RouteTarget> {
    let part = tx.part();
    match target {
        TargetRef::Gateway(id) => {
            let igw = part.internet_gateway(id).ok_or_else(|| ApiError::invalid_gateway_id_not_found(id.as_str()))?;
            if tx.settings.flavor == Flavor::Aws && igw.attached_vpc.as_ref() != Some(&table.vpc_id) {
                return Err(different_networks(table, "network gateway", id.as_str()));
            }
            Ok(RouteTarget::InternetGateway(id.clone()))
        }
        TargetRef::NetworkInterface(id) => {
            let eni = crate::network_interfaces::interface(part, id)?;
            if eni.vpc_id != table.vpc_id {
                return Err(different_networks(table, "interface", id.as_str()));
            }
            Ok(RouteTarget::NetworkInterface(id.clone()))
        }
        TargetRef::Instance(id) => {
            let instance = crate::instances::instance(part, id)?;
            if instance.vpc_id != table.vpc_id {
                return Err(different_networks(table, "instance", id.as_str()));
            }
            match part.interfaces_of(id).as_slice() {
                [eni] => Ok(RouteTarget::Instance { instance_id: id.clone(), network_interface_id: eni.id.clone() }),
                [] => Err(ApiError::incorrect_instance_state(format!(
                    "The instance '{id}' is not in a state from which it can be a route target."
                ))),
                _ => Err(ApiError::invalid_instance_id(format!(
                    "There are multiple interfaces attached to instance '{id}'. Please specify an interface ID for the operation instead."
                ))),
            }
        }
        TargetRef::NatGateway(id) => {
            let gateway = crate::nat_gateways::nat_gateway(part, id)?;
            if gateway.vpc_id != table.vpc_id {
                return Err(different_networks(table, "nat gateway", id.as_str()));
            }
            Ok(RouteTarget::NatGateway(id.clone()))
        }
    }
}

/// The `local` routes of a VPC: one per block, in every table of the VPC.
pub fn local_destinations(vpc: &Vpc) -> Vec<RouteDestination> {
    let mut out: Vec<RouteDestination> = vpc.ipv4_blocks().map(|(_, net)| RouteDestination::Ipv4(net)).collect();
    out.extend(vpc.ipv6_cidr.iter().map(|(_, net)| RouteDestination::Ipv6(*net)));
    out
}

fn is_local(part: &Partition, table: &RouteTable, destination: &RouteDestination) -> bool {
    part.vpc(&table.vpc_id).is_some_and(|v| local_destinations(v).contains(destination))
}

pub fn create_route(tx: &mut Tx, table: &RouteTableId, spec: RouteSpec) -> ApiResult<()> {
    let mut table = route_table(tx.part(), table)?.clone();
    let target = resolve_target(tx, &table, &spec.target)?;
    if is_local(tx.part(), &table, &spec.destination) || table.route(&spec.destination).is_some() {
        return Err(ApiError::route_already_exists(format!(
            "The route identified by {} already exists.",
            spec.destination
        )));
    }
    table.routes.push(Route { destination: spec.destination, target });
    tx.put(Record::RouteTable(table));
    Ok(())
}

/// Gives an existing route another target. A `local` route may be given an
/// interface of the VPC (AWS's middlebox routing: the table then sends the
/// VPC's traffic through that appliance) and restored later
/// (`restore_local_route`); the replaced target is kept in `routes` under
/// the local destination.
pub fn replace_route(tx: &mut Tx, table: &RouteTableId, spec: RouteSpec) -> ApiResult<()> {
    let mut table = route_table(tx.part(), table)?.clone();
    let target = resolve_target(tx, &table, &spec.target)?;
    if is_local(tx.part(), &table, &spec.destination) {
        if !matches!(target, RouteTarget::NetworkInterface(_)) {
            return Err(ApiError::invalid_parameter_value(format!(
                "The local route {} can only be replaced with a network interface or a Gateway Load Balancer endpoint as its target.",
                spec.destination
            )));
        }
        table.routes.retain(|r| r.destination != spec.destination);
        table.routes.push(Route { destination: spec.destination, target });
        tx.put(Record::RouteTable(table));
        return Ok(());
    }
    let Some(route) = table.routes.iter_mut().find(|r| r.destination == spec.destination) else {
        // Not InvalidRoute.NotFound as DeleteRoute says: AWS answers this.
        return Err(ApiError::invalid_parameter_value(format!(
            "There is no route defined for '{}' in the route table. Use CreateRoute instead.",
            spec.destination
        )));
    };
    route.target = target;
    tx.put(Record::RouteTable(table));
    Ok(())
}

/// ReplaceRoute with `LocalTarget`: a `local` route gets its default target
/// back (nothing changes when it has it).
pub fn restore_local_route(tx: &mut Tx, table: &RouteTableId, destination: &RouteDestination) -> ApiResult<()> {
    let mut table = route_table(tx.part(), table)?.clone();
    if !is_local(tx.part(), &table, destination) {
        return Err(ApiError::invalid_parameter_value(format!(
            "LocalTarget can only restore a local route; {destination} is not a CIDR block of the VPC."
        )));
    }
    table.routes.retain(|r| &r.destination != destination);
    tx.put(Record::RouteTable(table));
    Ok(())
}

/// A VPC block's `local` routes go with the block, a replaced target too.
pub(crate) fn drop_local_routes(tx: &mut Tx, vpc_id: &VpcId, destination: &RouteDestination) {
    let replaced: Vec<RouteTable> =
        tx.part().route_tables().filter(|t| &t.vpc_id == vpc_id && t.route(destination).is_some()).cloned().collect();
    for mut table in replaced {
        table.routes.retain(|r| &r.destination != destination);
        tx.put(Record::RouteTable(table));
    }
}

pub fn delete_route(tx: &mut Tx, table: &RouteTableId, destination: &RouteDestination) -> ApiResult<()> {
    let mut table = route_table(tx.part(), table)?.clone();
    if is_local(tx.part(), &table, destination) {
        return Err(ApiError::invalid_parameter_value(format!(
            "cannot remove local route {destination} in route table {}",
            table.id
        )));
    }
    let before = table.routes.len();
    table.routes.retain(|r| &r.destination != destination);
    if table.routes.len() == before {
        return Err(ApiError::invalid_route_not_found(format!(
            "There is no route defined for '{destination}' in the route table. Please correct the destination and try again."
        )));
    }
    tx.put(Record::RouteTable(table));
    Ok(())
}

/// Whether a route's target takes traffic now; `blackhole` when it is gone
/// (a deleted or detached gateway, a deleted interface) or its instance is
/// not running. Read from the targets whenever a route is shown, so it is
/// never stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteState {
    Active,
    Blackhole,
}

impl RouteState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blackhole => "blackhole",
        }
    }
}

fn runs(part: &Partition, instance: &InstanceId) -> bool {
    part.instance(instance).is_some_and(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
}

pub fn route_state(part: &Partition, table: &RouteTable, target: &RouteTarget) -> RouteState {
    let active = match target {
        RouteTarget::InternetGateway(id) => {
            part.internet_gateway(id).is_some_and(|g| g.attached_vpc.as_ref() == Some(&table.vpc_id))
        }
        RouteTarget::NetworkInterface(id) => {
            part.interface(id).is_some_and(|eni| eni.attachment.as_ref().is_none_or(|a| runs(part, &a.instance_id)))
        }
        RouteTarget::Instance { instance_id, network_interface_id } => {
            runs(part, instance_id)
                && part.interface(network_interface_id).and_then(|e| e.instance_id()) == Some(instance_id)
        }
        // A gateway that failed, or was deleted, routes nothing.
        RouteTarget::NatGateway(id) => part.nat_gateway(id).is_some_and(|g| g.state == NatGatewayState::Available),
    };
    if active { RouteState::Active } else { RouteState::Blackhole }
}

/// The instance behind a route's target: the one it names, or the one its
/// interface is attached to.
pub fn route_instance<'a>(part: &'a Partition, target: &'a RouteTarget) -> Option<&'a InstanceId> {
    match target {
        RouteTarget::InternetGateway(_) | RouteTarget::NatGateway(_) => None,
        RouteTarget::NetworkInterface(id) => part.interface(id).and_then(|e| e.instance_id()),
        RouteTarget::Instance { instance_id, .. } => Some(instance_id),
    }
}

/// One route of a table as DescribeRouteTables shows it: the `local` ones
/// first, then those added, with their state.
#[derive(Clone, Debug)]
pub struct RouteView<'a> {
    pub destination: RouteDestination,
    /// `None` for a `local` route with its default target.
    pub target: Option<&'a RouteTarget>,
    pub state: RouteState,
    pub local: bool,
}

impl RouteView<'_> {
    /// `CreateRouteTable` for the `local` routes (a replaced target too:
    /// the route is still the one the table was made with), `CreateRoute`
    /// for the others.
    pub fn origin(&self) -> &'static str {
        if self.local { "CreateRouteTable" } else { "CreateRoute" }
    }
}

pub fn routes<'a>(part: &'a Partition, table: &'a RouteTable) -> Vec<RouteView<'a>> {
    let locals = part.vpc(&table.vpc_id).map(local_destinations).unwrap_or_default();
    let view = |destination, target: Option<&'a RouteTarget>, local| RouteView {
        destination,
        target,
        state: target.map_or(RouteState::Active, |t| route_state(part, table, t)),
        local,
    };
    let local = locals.iter().map(|d| view(*d, table.route(d).map(|r| &r.target), true));
    let added = table.routes.iter().filter(|r| !locals.contains(&r.destination));
    local.chain(added.map(|r| view(r.destination, Some(&r.target), false))).collect()
}

// ---- associations ---------------------------------------------------------------

/// Associates a table with a subnet or a gateway of its VPC (moto takes any
/// gateway). A subnet or gateway has at most one explicit association.
pub fn associate_route_table(
    tx: &mut Tx,
    table: &RouteTableId,
    target: AssociatedWith,
) -> ApiResult<RouteTableAssociationId> {
    let mut table = route_table(tx.part(), table)?.clone();
    let part = tx.part();
    match &target {
        AssociatedWith::Subnet(id) => {
            if subnet(part, id)?.vpc_id != table.vpc_id {
                return Err(different_networks(&table, "subnet", id.as_str()));
            }
        }
        AssociatedWith::Gateway(id) => {
            let igw = internet_gateway(part, id)?;
            if tx.settings.flavor == Flavor::Aws && igw.attached_vpc.as_ref() != Some(&table.vpc_id) {
                return Err(different_networks(&table, "network gateway", id.as_str()));
            }
        }
        AssociatedWith::Main => {
            return Err(ApiError::invalid_parameter_value(
                "The main association moves with ReplaceRouteTableAssociation",
            ));
        }
    }
    if let Some(existing) = part.route_table_associated_with(&target) {
        let assoc = existing.associations.iter().find(|a| a.target == target).expect("indexed");
        if tx.settings.flavor == Flavor::Moto {
            // moto answers the association there is, whichever table holds it.
            return Ok(assoc.id.clone());
        }
        return Err(ApiError::resource_already_associated_raw(format!(
            "the specified association for route table {} conflicts with an existing association",
            existing.id
        )));
    }
    let id = RouteTableAssociationId::generate();
    table.associations.push(RouteTableAssociation { id: id.clone(), target });
    tx.put(Record::RouteTable(table));
    Ok(id)
}

fn with_association(part: &Partition, id: &RouteTableAssociationId) -> ApiResult<RouteTable> {
    part.route_table_with_association(id)
        .cloned()
        .ok_or_else(|| ApiError::invalid_association_id_not_found(id.as_str()))
}

/// Ends an explicit association: the subnet falls back to the main table.
pub fn disassociate_route_table(tx: &mut Tx, id: &RouteTableAssociationId) -> ApiResult<()> {
    let mut table = with_association(tx.part(), id)?;
    if table.associations.iter().any(|a| &a.id == id && a.target == AssociatedWith::Main) {
        return Err(ApiError::invalid_parameter_value(format!(
            "cannot disassociate the main route table association {id}"
        )));
    }
    table.associations.retain(|a| &a.id != id);
    tx.put(Record::RouteTable(table));
    Ok(())
}

/// Moves an association, under a new id, to another table of the same VPC;
/// moving the main association makes that table the VPC's main one.
pub fn replace_route_table_association(
    tx: &mut Tx,
    id: &RouteTableAssociationId,
    new_table: &RouteTableId,
) -> ApiResult<RouteTableAssociationId> {
    let mut old = with_association(tx.part(), id)?;
    let mut new = route_table(tx.part(), new_table)?.clone();
    if new.vpc_id != old.vpc_id {
        return Err(ApiError::invalid_parameter_value(format!(
            "route table {} and association {id} belong to different networks",
            new.id
        )));
    }
    if old.id == new.id && tx.settings.flavor == Flavor::Moto {
        // moto keeps the association as it is.
        return Ok(id.clone());
    }
    let position = old.associations.iter().position(|a| &a.id == id).expect("indexed");
    let target = old.associations.remove(position).target;
    let new_id = RouteTableAssociationId::generate();
    if old.id == new.id {
        new = old.clone();
    } else {
        tx.put(Record::RouteTable(old));
    }
    new.associations.push(RouteTableAssociation { id: new_id.clone(), target });
    tx.put(Record::RouteTable(new));
    Ok(new_id)
}

// ---- the hooks of other families --------------------------------------------------

/// What DeleteVpc does to its route tables: refused while it has tables
/// other than its main one, which goes with it.
pub(crate) fn delete_vpc_tables(tx: &mut Tx, vpc_id: &VpcId) -> ApiResult<()> {
    let part = tx.part();
    if part.route_tables().any(|t| &t.vpc_id == vpc_id && !t.is_main()) {
        return Err(ApiError::dependency_violation(format!(
            "The vpc '{vpc_id}' has dependencies and cannot be deleted."
        )));
    }
    if let Some(main) = part.main_route_table(vpc_id).map(|t| t.id.clone()) {
        tx.delete(RecordKey::RouteTable(main));
    }
    Ok(())
}

/// What DeleteSubnet does: its explicit association ends with it.
pub(crate) fn forget_subnet(tx: &mut Tx, subnet_id: &SubnetId) {
    let target = AssociatedWith::Subnet(subnet_id.clone());
    if let Some(mut table) = tx.part().route_table_associated_with(&target).cloned() {
        table.associations.retain(|a| a.target != target);
        tx.put(Record::RouteTable(table));
    }
}

impl Described for RouteTable {
    type Id = RouteTableId;
    const FILTERS: &'static [&'static str] = &[
        "association.gateway-id",
        "association.route-table-association-id",
        "association.route-table-id",
        "association.subnet-id",
        "association.main",
        "owner-id",
        "route-table-id",
        "route.destination-cidr-block",
        "route.destination-ipv6-cidr-block",
        "route.destination-prefix-list-id",
        "route.egress-only-internet-gateway-id",
        "route.gateway-id",
        "route.instance-id",
        "route.nat-gateway-id",
        "route.transit-gateway-id",
        "route.origin",
        "route.state",
        "route.vpc-peering-connection-id",
        "vpc-id",
    ];

    fn all(part: &Partition) -> Vec<&Self> {
        part.route_tables().collect()
    }

    fn get<'p>(part: &'p Partition, id: &RouteTableId) -> Option<&'p Self> {
        part.route_table(id)
    }

    fn id(&self) -> &RouteTableId {
        &self.id
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }

    fn not_found(missing: &[&RouteTableId]) -> ApiError {
        ApiError::invalid_route_table_id_not_found(missing[0].as_str())
    }

    fn filter_values(&self, part: &Partition, scope: &Scope, name: &str) -> Vec<String> {
        let associated = |f: fn(&AssociatedWith) -> Option<String>| -> Vec<String> {
            self.associations.iter().filter_map(|a| f(&a.target)).collect()
        };
        let routes = || routes(part, self);
        match name {
            "route-table-id" => vec![self.id.to_string()],
            "vpc-id" => vec![self.vpc_id.to_string()],
            "owner-id" => vec![scope.account.to_string()],
            "association.route-table-association-id" => self.associations.iter().map(|a| a.id.to_string()).collect(),
            "association.route-table-id" => self.associations.iter().map(|_| self.id.to_string()).take(1).collect(),
            "association.subnet-id" => associated(|t| match t {
                AssociatedWith::Subnet(s) => Some(s.to_string()),
                _ => None,
            }),
            "association.gateway-id" => associated(|t| match t {
                AssociatedWith::Gateway(g) => Some(g.to_string()),
                _ => None,
            }),
            // Per association: a table without any matches neither value, as AWS documents.
            "association.main" => associated(|t| Some((t == &AssociatedWith::Main).to_string())),
            "route.destination-cidr-block" => routes()
                .iter()
                .filter_map(|r| match r.destination {
                    RouteDestination::Ipv4(net) => Some(net.to_string()),
                    RouteDestination::Ipv6(_) => None,
                })
                .collect(),
            "route.destination-ipv6-cidr-block" => routes()
                .iter()
                .filter_map(|r| match r.destination {
                    RouteDestination::Ipv6(net) => Some(net.to_string()),
                    RouteDestination::Ipv4(_) => None,
                })
                .collect(),
            "route.gateway-id" => routes()
                .iter()
                .filter_map(|r| match r.target {
                    None => Some("local".to_owned()),
                    Some(RouteTarget::InternetGateway(g)) => Some(g.to_string()),
                    Some(_) => None,
                })
                .collect(),
            "route.nat-gateway-id" => routes()
                .iter()
                .filter_map(|r| match &r.target {
                    Some(RouteTarget::NatGateway(g)) => Some(g.to_string()),
                    _ => None,
                })
                .collect(),
            "route.instance-id" => {
                self.routes.iter().filter_map(|r| route_instance(part, &r.target)).map(ToString::to_string).collect()
            }
            "route.origin" => routes().iter().map(|r| r.origin().to_owned()).collect(),
            "route.state" => routes().iter().map(|r| r.state.as_str().to_owned()).collect(),
            // Targets eipd does not have: no table matches.
            _ => Vec::new(),
        }
    }

    fn page_key(&self) -> String {
        self.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internet_gateways::{attach_internet_gateway, create_internet_gateway, detach_internet_gateway};
    use crate::state::{Settings, World, test_tx, world_tx};
    use crate::subnets::{CreateSubnet, create_subnet, delete_subnet};
    use crate::vpcs::{CreateVpc, create_vpc, delete_vpc};

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    fn in_tx<T>(world: &mut World, flavor: Flavor, op: impl FnOnce(&mut Tx) -> T) -> T {
        test_tx(world, &Settings { flavor, ..Settings::default() }, op)
    }

    fn new_vpc(tx: &mut Tx, cidr: &str) -> Vpc {
        let input = CreateVpc {
            cidr_block: cidr.parse().unwrap(),
            amazon_provided_ipv6_cidr_block: false,
            instance_tenancy: "default".into(),
            tags: Tags::new(),
        };
        create_vpc(tx, input).unwrap()
    }

    fn new_table(tx: &mut Tx, vpc: &VpcId) -> RouteTableId {
        create_route_table(tx, CreateRouteTable { vpc_id: vpc.clone(), client_token: None, tags: Tags::new() })
            .unwrap()
            .id
    }

    fn to(destination: &str, target: TargetRef) -> RouteSpec {
        RouteSpec { destination: RouteDestination::Ipv4(destination.parse().unwrap()), target }
    }

    #[test]
    fn every_vpc_has_one_main_table_that_goes_with_it() {
        let fresh = Partition::with_defaults(&scope());
        let default_vpc = fresh.default_vpc().unwrap().id.clone();
        let main = fresh.main_route_table(&default_vpc).expect("the default VPC's");
        assert_eq!(main, &main_route_table(&default_vpc), "derived, so every node agrees");
        assert_eq!(
            routes(&fresh, main).iter().map(|r| r.destination.to_string()).collect::<Vec<_>>(),
            ["172.31.0.0/16"]
        );

        let mut world = World::default();
        let vpc = world_tx(&mut world, |tx| new_vpc(tx, "10.0.0.0/16"));
        let extra = world_tx(&mut world, |tx| new_table(tx, &vpc.id));
        let main = world.partition(&scope()).unwrap().main_route_table(&vpc.id).unwrap().id.clone();
        let err = world_tx(&mut world, |tx| delete_route_table(tx, &main)).unwrap_err();
        assert_eq!(err.code, "DependencyViolation");
        let err = world_tx(&mut world, |tx| delete_vpc(tx, &vpc.id)).unwrap_err();
        assert_eq!(err.code, "DependencyViolation", "its other table is in the way");
        world_tx(&mut world, |tx| delete_route_table(tx, &extra)).unwrap();
        world_tx(&mut world, |tx| delete_vpc(tx, &vpc.id)).unwrap();
        assert!(world.partition(&scope()).unwrap().route_table(&main).is_none());
    }

    #[test]
    fn vpcs_stored_before_route_tables_get_their_main_table_at_the_first_write() {
        let mut world = World::default();
        let old = Partition::with_defaults(&scope());
        for key in old.record_keys() {
            let record = old.record(&key).unwrap();
            if !matches!(record, Record::RouteTable(_)) {
                world.load(&scope(), record);
            }
        }
        let vpc = old.default_vpc().unwrap().id.clone();
        assert!(world.partition(&scope()).unwrap().main_route_table(&vpc).is_none());
        let (settings, mut changes) = (Settings::default(), crate::state::Changes::default());
        let tx = world.tx(&scope(), &settings, 0, &mut changes);
        let main = tx.part().main_route_table(&vpc).expect("added").id.clone();
        assert_eq!(changes.records, [(scope(), RecordKey::RouteTable(main.clone()))], "and persisted");
        assert_eq!(old.main_route_table(&vpc).map(|t| &t.id), Some(&main), "the id a new account gets");
    }

    #[test]
    fn routes_take_a_gateway_of_their_vpc_and_show_whether_it_is_there() {
        let mut world = World::default();
        let (vpc, rtb, igw) = world_tx(&mut world, |tx| {
            let vpc = new_vpc(tx, "10.0.0.0/16");
            let rtb = new_table(tx, &vpc.id);
            (vpc, rtb, create_internet_gateway(tx, Tags::new()).id)
        });
        let gateway = || TargetRef::Gateway(igw.clone());
        let err = world_tx(&mut world, |tx| create_route(tx, &rtb, to("0.0.0.0/0", gateway()))).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                "InvalidParameterValue",
                &*format!("route table {rtb} and network gateway {igw} belong to different networks")
            )
        );
        // moto takes a gateway attached nowhere.
        let mut moto = world.clone();
        in_tx(&mut moto, Flavor::Moto, |tx| create_route(tx, &rtb, to("0.0.0.0/0", gateway()))).unwrap();

        world_tx(&mut world, |tx| attach_internet_gateway(tx, &igw, &vpc.id)).unwrap();
        world_tx(&mut world, |tx| create_route(tx, &rtb, to("0.0.0.0/0", gateway()))).unwrap();
        for taken in ["0.0.0.0/0", "10.0.0.0/16"] {
            let err = world_tx(&mut world, |tx| create_route(tx, &rtb, to(taken, gateway()))).unwrap_err();
            assert_eq!(err.code, "RouteAlreadyExists", "{taken}");
        }
        let state = |world: &World| {
            let part = world.partition(&scope()).unwrap();
            routes(part, part.route_table(&rtb).unwrap()).iter().map(|r| r.state).collect::<Vec<_>>()
        };
        assert_eq!(state(&world), [RouteState::Active, RouteState::Active]);
        world_tx(&mut world, |tx| detach_internet_gateway(tx, &igw, &vpc.id)).unwrap();
        assert_eq!(state(&world), [RouteState::Active, RouteState::Blackhole], "the local route stays active");

        let local = RouteDestination::Ipv4("10.0.0.0/16".parse().unwrap());
        let err = world_tx(&mut world, |tx| delete_route(tx, &rtb, &local)).unwrap_err();
        assert_eq!(err.message, format!("cannot remove local route 10.0.0.0/16 in route table {rtb}"));
        world_tx(&mut world, |tx| attach_internet_gateway(tx, &igw, &vpc.id)).unwrap();
        let err = world_tx(&mut world, |tx| replace_route(tx, &rtb, to("10.0.0.0/16", gateway()))).unwrap_err();
        assert!(err.message.contains("can only be replaced with a network interface"), "{}", err.message);
        let unknown = RouteDestination::Ipv4("8.8.8.0/24".parse().unwrap());
        let err = world_tx(&mut world, |tx| delete_route(tx, &rtb, &unknown)).unwrap_err();
        assert_eq!(err.code, "InvalidRoute.NotFound");
    }

    #[test]
    fn a_subnet_has_one_explicit_association_and_the_main_one_moves() {
        let mut world = World::default();
        let (vpc, subnet, rtb) = world_tx(&mut world, |tx| {
            let vpc = new_vpc(tx, "10.0.0.0/16");
            let input = CreateSubnet {
                vpc_id: vpc.id.clone(),
                cidr_block: "10.0.1.0/24".parse().unwrap(),
                availability_zone: None,
                ipv6_cidr_block: None,
                tags: Tags::new(),
            };
            let subnet = create_subnet(tx, input).unwrap().id;
            let rtb = new_table(tx, &vpc.id);
            (vpc, subnet, rtb)
        });
        let on_subnet = AssociatedWith::Subnet(subnet.clone());
        let assoc = world_tx(&mut world, |tx| associate_route_table(tx, &rtb, on_subnet.clone())).unwrap();
        let main = world.partition(&scope()).unwrap().main_route_table(&vpc.id).unwrap().clone();
        let err = world_tx(&mut world, |tx| associate_route_table(tx, &main.id, on_subnet.clone())).unwrap_err();
        assert_eq!(err.code, "Resource.AlreadyAssociated");
        // moto answers the association there is.
        let mut moto = world.clone();
        let again = in_tx(&mut moto, Flavor::Moto, |tx| associate_route_table(tx, &main.id, on_subnet.clone()));
        assert_eq!(again.unwrap(), assoc);

        let main_assoc = main.associations[0].id.clone();
        let err = world_tx(&mut world, |tx| disassociate_route_table(tx, &main_assoc)).unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
        let moved = world_tx(&mut world, |tx| replace_route_table_association(tx, &main_assoc, &rtb)).unwrap();
        let part = world.partition(&scope()).unwrap();
        assert_eq!(part.main_route_table(&vpc.id).map(|t| &t.id), Some(&rtb));
        assert_eq!(part.route_table_with_association(&moved).map(|t| &t.id), Some(&rtb));
        assert!(part.route_table_with_association(&main_assoc).is_none());
        assert!(!part.route_table(&main.id).unwrap().is_main());

        world_tx(&mut world, |tx| delete_subnet(tx, &subnet)).unwrap();
        let part = world.partition(&scope()).unwrap();
        assert!(part.route_table_associated_with(&on_subnet).is_none());
        assert!(part.route_table_with_association(&assoc).is_none());
        assert_eq!(part.route_table(&rtb).unwrap().associations.len(), 1, "the main one");
        assert_eq!(crate::verify::violations(&world), Vec::<String>::new());
    }
}
