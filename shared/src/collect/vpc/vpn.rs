//! Site-to-Site VPN connections: the state of each tunnel and whether it logs its activity.
//!
//! Normalised configuration:
//!
//! ```text
//! VpnConnectionId, Region, State, Type, CustomerGatewayId, VpnGatewayId, TransitGatewayId
//! Tunnels         [{OutsideIpAddress, Status (UP | DOWN), StatusMessage}] from the connection's
//!                 telemetry (runtime state: it changes with no configuration change)
//! TunnelOptions   [{OutsideIpAddress, LogEnabled}]: CloudWatch Logs logging of each tunnel
//! ```
//!
//! Neither the tunnels' pre-shared keys nor the customer gateway configuration (which holds them)
//! are ever stored. Connections in state `deleted` are gone.

use aws_sdk_ec2::types::VpnConnection;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, described, failure, send_resource, AccountSession, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`VPN_CONNECTION`] (what the collector's own code forms ARNs with).
pub const VPN_CONNECTION_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPNConnection",
    ArnScope::Regional,
    "vpn-connection/",
);

pub const VPN_CONNECTION: ResourceKind = ResourceKind {
    shape: VPN_CONNECTION_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeVpnConnections"],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
    relations: &[],
};

const FIELDS: &[Field] = &[
    Field::new("VpnConnectionId", Type::String),
    Field::new("Region", Type::String),
    Field::new("State", Type::String).nullable(),
    Field::new("Type", Type::String).nullable(),
    Field::new("CustomerGatewayId", Type::String).nullable(),
    Field::new("VpnGatewayId", Type::String).nullable(),
    Field::new("TransitGatewayId", Type::String).nullable(),
    Field::new(
        "Tunnels",
        Type::Array(&Type::Object(&[
            Field::new("OutsideIpAddress", Type::String).nullable(),
            Field::new("Status", Type::String).nullable(),
            Field::new("StatusMessage", Type::String).nullable(),
        ])),
    ),
    Field::new(
        "TunnelOptions",
        Type::Array(&Type::Object(&[
            Field::new("OutsideIpAddress", Type::String).nullable(),
            Field::new("LogEnabled", Type::Bool),
        ])),
    ),
];

fn configuration(region: &str, vpn: &VpnConnection) -> Value {
    let tunnels: Vec<Value> = vpn
        .vgw_telemetry()
        .iter()
        .map(|t| {
            json!({
                "OutsideIpAddress": t.outside_ip_address(),
                "Status": t.status().map(|s| s.as_str()),
                "StatusMessage": t.status_message(),
            })
        })
        .collect();
    let options: Vec<Value> = vpn
        .options()
        .map(|o| o.tunnel_options())
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let logging = t
                .log_options()
                .and_then(|l| l.cloud_watch_log_options())
                .and_then(|c| c.log_enabled())
                .unwrap_or(false);
            json!({"OutsideIpAddress": t.outside_ip_address(), "LogEnabled": logging})
        })
        .collect();
    json!({
        "VpnConnectionId": vpn.vpn_connection_id(),
        "Region": region,
        "State": vpn.state().map(|s| s.as_str()),
        "Type": vpn.r#type().map(|t| t.as_str()),
        "CustomerGatewayId": vpn.customer_gateway_id(),
        "VpnGatewayId": vpn.vpn_gateway_id(),
        "TransitGatewayId": vpn.transit_gateway_id(),
        "Tunnels": tunnels,
        "TunnelOptions": options,
    })
}

fn is_gone(vpn: &VpnConnection) -> bool {
    vpn.state().map(|s| s.as_str()) == Some("deleted")
}

/// Lists the region's VPN connections (DescribeVpnConnections has no pagination: one answer
/// holds every connection of the region).
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let answer = ec2
        .describe_vpn_connections()
        .send()
        .await
        .map_err(|e| failure(session, region, None, "DescribeVpnConnections", &e))?;
    for vpn in answer.vpn_connections() {
        if is_gone(vpn) {
            continue;
        }
        let Some(id) = vpn.vpn_connection_id() else {
            continue;
        };
        let c = configuration(region, vpn);
        send_resource(
            out,
            super::resource(session, &VPN_CONNECTION_SHAPE, region, id, c),
        )
        .await;
    }
    Ok(())
}

pub async fn describe(session: &AccountSession, id: &str) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_vpn_connections()
        .vpn_connection_ids(id)
        .send()
        .await
        .map(|out| {
            out.vpn_connections()
                .iter()
                .find(|v| v.vpn_connection_id() == Some(id) && !is_gone(v))
                .map(|v| configuration(&region, v))
        });
    described(
        session,
        &VPN_CONNECTION_SHAPE,
        &region,
        id,
        "DescribeVpnConnections",
        answer,
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        CloudWatchLogOptions, TelemetryStatus, TunnelOption, VgwTelemetry, VpnConnectionOptions,
        VpnTunnelLogOptions,
    };

    use super::*;

    #[test]
    fn tunnels_keep_their_state_and_logging_and_never_the_keys() {
        // given a connection with one tunnel up and logging, one down and silent, and keys
        let logged = VpnTunnelLogOptions::builder()
            .cloud_watch_log_options(CloudWatchLogOptions::builder().log_enabled(true).build())
            .build();
        let vpn = VpnConnection::builder()
            .vpn_connection_id("vpn-1")
            .customer_gateway_configuration("<psk>s3cr3t-psk</psk>")
            .vgw_telemetry(
                VgwTelemetry::builder()
                    .outside_ip_address("1.1.1.1")
                    .status(TelemetryStatus::Up)
                    .build(),
            )
            .vgw_telemetry(
                VgwTelemetry::builder()
                    .outside_ip_address("2.2.2.2")
                    .status(TelemetryStatus::Down)
                    .build(),
            )
            .options(
                VpnConnectionOptions::builder()
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("1.1.1.1")
                            .pre_shared_key("s3cr3t-psk")
                            .log_options(logged)
                            .build(),
                    )
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("2.2.2.2")
                            .build(),
                    )
                    .build(),
            )
            .build();
        // when normalised
        let c = configuration("us-east-1", &vpn);
        // then each tunnel's status and logging is kept, and no key
        assert_eq!(c["Tunnels"][0]["Status"], "UP");
        assert_eq!(c["Tunnels"][1]["Status"], "DOWN");
        assert_eq!(c["TunnelOptions"][0]["LogEnabled"], true);
        assert_eq!(c["TunnelOptions"][1]["LogEnabled"], false);
        assert!(!c.to_string().contains("s3cr3t"));
    }
}
