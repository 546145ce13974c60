"""Scripted measurement (part of `make bench`): one account of about 10,000 resources across the
eight services, inventoried and scanned through the real function binaries and the Lambda Runtime
API, against the local AWS.

Seeds the account in two regions (security groups, volumes, VPCs, IAM users and roles, buckets,
keys, functions, DB instances and snapshots, trails), then runs `{"service": "all"}` through
`qrie_inventory_generator` and `{}` through `qrie_policy_scanner` once, and prints for each: the
wall time, the handler's own duration, and the function process's CPU time (user + sys, read by
`lambda_invoke.py` with wait4). The local AWS is a separate process, so the CPU time is the
function's work without the emulator's latency: the figure the issue's target (under 1 s per
10,000 resources) is about.

The scan runs twice without the combination policies (`policies/combinations/`, disabled in the
policies table) and twice with them, and the second run of each is reported: the cost of
following related resources at the same steady state. Then a route to the internet gateway is
added to a near-path's route table and the CreateRoute event goes through
`qrie_event_processor`: the time from the event to the dependent instance's finding.

Usage: bench_account.py [--scale N]  (N resources, default 10000; the mix is fixed below)
QRIE_BIN_PROFILE=release runs `$CARGO_TARGET_DIR/release/<function>` (after `cargo build --release
-p policy-scanner -p inventory-generator`) instead of the debug binaries.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # noqa: E402

REGIONS = ["us-east-1", "eu-west-1"]
# The share of each kind in the account, per 10,000 resources (VPCs bring their default security
# group, route table and network ACL; the two default VPCs theirs).
MIX = {
    "security_groups": 2900, "volumes": 2000, "vpcs": 100, "users": 1000, "roles": 900,
    "buckets": 400, "keys": 800, "functions": 500, "db_instances": 300, "db_snapshots": 100,
    "trails": 10, "instances": 300,
}
EMPTY_ZIP = b"PK\x05\x06" + bytes(18)


def split(n):
    """n spread over the regions."""
    return [n // len(REGIONS) + (1 if i < n % len(REGIONS) else 0) for i in range(len(REGIONS))]


def seed(endpoint, creds, scale):
    counts = {kind: max(1, share * scale // 10000) for kind, share in MIX.items()}
    jobs, later = [], []

    def job(fn, *args, **kwargs):
        jobs.append((fn, args, kwargs))

    iam = demo.client("iam", endpoint, "us-east-1", creds)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    fn_role = iam.create_role(RoleName="bench-fn", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    for i in range(counts["users"]):
        def user(i=i):
            iam.create_user(UserName=f"bench-user-{i:05}")
            if i % 4 == 0:
                iam.create_access_key(UserName=f"bench-user-{i:05}")
            if i % 10 == 0:
                iam.put_user_policy(UserName=f"bench-user-{i:05}", PolicyName="all", PolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        job(user)
    for i in range(counts["roles"] - 1):
        job(iam.create_role, RoleName=f"bench-role-{i:05}", AssumeRolePolicyDocument=trust)
    ec2_us = demo.client("ec2", endpoint, "us-east-1", creds)
    default_vpc = ec2_us.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    open_ssh = ec2_us.create_security_group(GroupName="bench-open-ssh", Description="bench", VpcId=default_vpc)["GroupId"]
    ec2_us.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2_trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="bench-admin-app", AssumeRolePolicyDocument=ec2_trust)
    iam.put_role_policy(RoleName="bench-admin-app", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    iam.create_instance_profile(InstanceProfileName="bench-admin-app")
    iam.add_role_to_instance_profile(InstanceProfileName="bench-admin-app", RoleName="bench-admin-app")
    image = ec2_us.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    # The near-path of the event measurement: a subnet of the default VPC with a table of its own
    # and no route to the internet gateway, one exposed instance in it.
    near_subnet = ec2_us.create_subnet(VpcId=default_vpc, CidrBlock="172.31.200.0/24")["Subnet"]["SubnetId"]
    ec2_us.modify_subnet_attribute(SubnetId=near_subnet, MapPublicIpOnLaunch={"Value": True})
    near_table = ec2_us.create_route_table(VpcId=default_vpc)["RouteTable"]["RouteTableId"]
    ec2_us.associate_route_table(RouteTableId=near_table, SubnetId=near_subnet)
    near = ec2_us.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=near_subnet,
                                SecurityGroupIds=[open_ssh], MetadataOptions={"HttpTokens": "optional"},
                                IamInstanceProfile={"Name": "bench-admin-app"})["Instances"][0]["InstanceId"]
    gateways = ec2_us.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [default_vpc]}])["InternetGateways"]
    if gateways:
        igw = gateways[0]["InternetGatewayId"]
    else:
        # The local AWS's default VPC has no gateway: give it one, and its main table the route.
        igw = ec2_us.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2_us.attach_internet_gateway(InternetGatewayId=igw, VpcId=default_vpc)
        main = ec2_us.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [default_vpc]}, {"Name": "association.main", "Values": ["true"]}])
        ec2_us.create_route(RouteTableId=main["RouteTables"][0]["RouteTableId"],
                            DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for i in range(counts["instances"] - 1):
        # Every tenth instance is exposed on SSH with an administrator profile: a complete path.
        exposed = i % 10 == 0
        kwargs = {"SecurityGroupIds": [open_ssh], "IamInstanceProfile": {"Name": "bench-admin-app"}} if exposed else {}
        job(ec2_us.run_instances, ImageId=image, MinCount=1, MaxCount=1,
            MetadataOptions={"HttpTokens": "optional" if i % 2 else "required"}, **kwargs)
    s3 = demo.client("s3", endpoint, "us-east-1", creds)
    for i in range(1, counts["buckets"]):
        def bucket(i=i):
            name = f"qrie-bench-{i:05}"
            s3.create_bucket(Bucket=name)
            if i % 2 == 0:
                s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True})
        job(bucket)
    for region, n_sg, n_vol, n_vpc, n_key, n_fn, n_db, n_snap, n_trail in zip(
            REGIONS, *(split(counts[k]) for k in (
                "security_groups", "volumes", "vpcs", "keys", "functions", "db_instances",
                "db_snapshots", "trails"))):
        ec2 = demo.client("ec2", endpoint, region, creds)
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        for i in range(n_vpc):
            job(ec2.create_vpc, CidrBlock=f"10.{i % 250}.0.0/16")
        for i in range(n_sg):
            def group(i=i, ec2=ec2, vpc=vpc):
                gid = ec2.create_security_group(GroupName=f"bench-{i:05}", Description="bench",
                                                VpcId=vpc)["GroupId"]
                cidr = "0.0.0.0/0" if i % 10 == 0 else "10.0.0.0/8"
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}])
            job(group)
        for i in range(n_vol):
            job(ec2.create_volume, AvailabilityZone=f"{region}a", Size=8, Encrypted=i % 2 == 0)
        kms = demo.client("kms", endpoint, region, creds)
        for i in range(n_key):
            def key(i=i, kms=kms):
                kid = kms.create_key(Description=f"bench {i}")["KeyMetadata"]["KeyId"]
                if i % 2 == 0:
                    kms.enable_key_rotation(KeyId=kid)
            job(key)
        lam = demo.client("lambda", endpoint, region, creds)
        for i in range(n_fn):
            job(lam.create_function, FunctionName=f"bench-fn-{i:05}", Runtime="python3.13" if i % 3 else "python3.8",
                Role=fn_role, Handler="index.handler", Code={"ZipFile": EMPTY_ZIP},
                Environment={"Variables": {"LOG_LEVEL": "info", "STAGE": "bench"}})
        rds = demo.client("rds", endpoint, region, creds)
        for i in range(n_db):
            job(rds.create_db_instance, DBInstanceIdentifier=f"bench-db-{i:05}", Engine="postgres",
                DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="postgres",
                MasterUserPassword="bench-only-password", PubliclyAccessible=i % 5 == 0,
                StorageEncrypted=i % 2 == 0, BackupRetentionPeriod=7)
        ct = demo.client("cloudtrail", endpoint, region, creds)
        for i in range(n_trail):
            job(ct.create_trail, Name=f"bench-trail-{region}-{i}", S3BucketName="qrie-bench-00000",
                IsMultiRegionTrail=i == 0, EnableLogFileValidation=i % 2 == 0)
        for i in range(min(n_snap, n_db)):
            later.append((rds.create_db_snapshot, (),
                          {"DBInstanceIdentifier": f"bench-db-{i:05}", "DBSnapshotIdentifier": f"bench-snap-{i:05}"}))
    # Trails name a bucket: it is made first; snapshots need their instances: they come after.
    s3.create_bucket(Bucket="qrie-bench-00000")
    # One at a time: moto's backends are not safe under concurrent writes (500s seen with 8).
    for batch in (jobs, later):
        for fn, args, kwargs in batch:
            fn(*args, **kwargs)
    counts["near_path"] = {"table": near_table, "instance": near, "igw": igw}
    return counts


COMBINATION_PREFIX = "Combination"


def set_combinations(endpoint, active):
    """Turns the combination policies on or off in the policies table."""
    ddb = demo.client("dynamodb", endpoint)
    for policy_id in demo.load_policies():
        if policy_id.startswith(COMBINATION_PREFIX):
            ddb.put_item(TableName="qrie_policies", Item={
                "PolicyId": {"S": policy_id}, "Active": {"BOOL": active}})


def create_route_event(table):
    """The EventBridge envelope of the CloudTrail record EC2 writes for CreateRoute."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2", "account": demo.ACCOUNT, "time": now, "region": "us-east-1",
            "resources": [], "detail": {
                "eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": "CreateRoute",
                "eventTime": now, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.10",
                "userIdentity": {"type": "IAMUser", "accountId": demo.ACCOUNT, "userName": "bench"},
                "requestParameters": {"routeTableId": table, "destinationCidrBlock": "0.0.0.0/0"},
                "responseElements": {"_return": True}, "readOnly": False, "eventType": "AwsApiCall",
                "managementEvent": True, "eventCategory": "Management", "recipientAccountId": demo.ACCOUNT,
                "eventID": str(uuid.uuid4())}}


def route_event_to_finding(endpoint, creds, env, near):
    """Adds the missing route, runs CreateRoute through the event processor, and returns its wall
    time, handler duration, CPU and the dependent finding's state."""
    ec2 = demo.client("ec2", endpoint, "us-east-1", creds)
    ec2.create_route(RouteTableId=near["table"], DestinationCidrBlock="0.0.0.0/0", GatewayId=near["igw"])
    body = json.dumps(create_route_event(near["table"]))
    records = [{"messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": body,
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:qrie_events", "awsRegion": "us-east-1"}]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"Records": records}, f)
    try:
        result, wall, cpu, _ = run("event-processor", f.name, env)
    finally:
        os.unlink(f.name)
    item = demo.client("dynamodb", endpoint).get_item(
        TableName="qrie_findings", ConsistentRead=True,
        Key={"ARN": {"S": f"arn:aws:ec2:us-east-1:{demo.ACCOUNT}:instance/{near['instance']}"},
             "PolicyId": {"S": "CombinationInstanceAdminPortReachableFromInternet"}}).get("Item")
    state = item["State"]["S"] if item else "none"
    return result, wall, cpu, state


def run(function, event, env):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as usage_file:
        path = usage_file.name
    try:
        result, wall = demo.invoke(function, os.path.join(demo.ROOT, event), dict(env, QRIE_INVOKE_RUSAGE=path))
        with open(path) as f:
            usage = json.load(f)
    finally:
        os.unlink(path)
    return result, wall, usage["user_s"] + usage["sys_s"], usage["max_rss_kib"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=10000)
    args = parser.parse_args()
    moto, endpoint = demo.start_moto()
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", RUST_LOG="warn")
    env.pop("AWS_PROFILE", None)
    try:
        demo.create_tables(endpoint)
        creds = demo.customer_creds(endpoint)
        started = time.monotonic()
        seeded_counts = seed(endpoint, creds, args.scale)
        seeded = time.monotonic() - started
        ddb = demo.client("dynamodb", endpoint)
        ddb.put_item(TableName="qrie_accounts", Item={
            "AccountId": {"S": demo.ACCOUNT}, "RoleArn": {"S": demo.ROLE},
            "ExternalId": {"S": "qrie-demo-external-id"},
            "Regions": {"L": [{"S": r} for r in REGIONS]}, "Enabled": {"BOOL": True},
            "Name": {"S": "Bench account"}})
        counts = seeded_counts
        inv, inv_wall, inv_cpu, inv_rss = run("inventory-generator", "events/inventory-generator/all.json", env)
        set_combinations(endpoint, False)
        run("policy-scanner", "events/policy-scanner/all.json", env)
        scan, scan_wall, scan_cpu, scan_rss = run("policy-scanner", "events/policy-scanner/all.json", env)
        set_combinations(endpoint, True)
        run("policy-scanner", "events/policy-scanner/all.json", env)
        combo, combo_wall, combo_cpu, combo_rss = run("policy-scanner", "events/policy-scanner/all.json", env)
        event, event_wall, event_cpu, event_state = route_event_to_finding(endpoint, creds, env, counts["near_path"])
    finally:
        moto.terminate()
        moto.wait()
    n = inv["resources"]
    per_service = {s: sum(r.values()) if isinstance(r, dict) else r
                   for s, r in ((s, v.get("by_region", v.get("resources")))
                                for s, v in inv["accounts"][0]["services"].items())}
    print(f"account of {n} resources ({per_service}), seeded in {seeded:.0f} s; "
          f"{len(inv['errors'])} collection errors")
    for error in inv["errors"][:5]:
        print(f"  collection error: {error}")
    print(f"  inventory: wall {inv_wall:.1f} s, handler {inv['duration_ms'] / 1000:.1f} s, "
          f"function CPU {inv_cpu:.2f} s ({inv_cpu * 10000 / n:.2f} s per 10,000), peak RSS {inv_rss // 1024} MiB")
    print(f"  scan: {scan['evaluated']} evaluations, {scan['new'] + scan['still_active']} failing; wall {scan_wall:.1f} s, "
          f"handler {scan['duration_ms'] / 1000:.1f} s, function CPU {scan_cpu:.2f} s "
          f"({scan_cpu * 10000 / n:.2f} s per 10,000), peak RSS {scan_rss // 1024} MiB")
    print(f"  scan with the combination policies: {combo['evaluated']} evaluations; wall {combo_wall:.1f} s, "
          f"handler {combo['duration_ms'] / 1000:.1f} s, function CPU {combo_cpu:.2f} s "
          f"({combo_cpu / scan_cpu:.2f}x without), peak RSS {combo_rss // 1024} MiB")
    refresh = event.get("summary", event)
    print(f"  CreateRoute to the dependent instance's finding: wall {event_wall * 1000:.0f} ms (process start, "
          f"refresh, related index, re-evaluation), function CPU {event_cpu * 1000:.0f} ms; finding {event_state}")
    print(json.dumps({"resources": n, "inventory": [inv_wall, inv["duration_ms"], inv_cpu, inv_rss],
                      "scan": [scan_wall, scan["duration_ms"], scan_cpu, scan_rss],
                      "scan_with_combinations": [combo_wall, combo["duration_ms"], combo_cpu, combo_rss],
                      "route_event": [event_wall, event_cpu, event_state], "event_response": refresh}))
    if event_state != "ACTIVE":
        sys.exit("the CreateRoute event did not open the dependent instance's combination finding")


if __name__ == "__main__":
    main()
