"""`make demo`: the whole qrie pipeline against a local AWS, end to end.

Starts moto (tests/moto/server.py) on 127.0.0.1, creates qrie's tables from
shared/schema/contract.json, seeds a demo customer account (111122223333) with a mix of
misconfigured and compliant buckets, runs the inventory generator and the policy scanner as Lambda
functions (the real binaries, through the Lambda Runtime API, see scripts/lambda_invoke.py),
prints the findings by severity with the compliance controls they map to (and the equivalent
Prowler checks), and stops what it
started. Expects the debug binaries in $CARGO_TARGET_DIR/debug (the Makefile builds them).
"""

import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/QrieScannerRole"
FRAMEWORKS = {"fsbp": "AWS FSBP", "cis-aws-v5.0": "CIS AWS v5.0", "nist-800-53-r5": "NIST 800-53 r5",
              "pci-dss-4.0": "PCI DSS 4.0"}
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]


def start_moto():
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests/moto/server.py"), "--parent-pid", str(os.getpid())],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    port = int(proc.stdout.readline().strip())
    return proc, f"http://127.0.0.1:{port}"


def client(service, endpoint, region="us-east-1", creds=None):
    creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=endpoint, region_name=region, **creds)


def create_tables(endpoint):
    contract = json.load(open(os.path.join(ROOT, "shared/schema/contract.json")))
    ddb = client("dynamodb", endpoint)
    for spec in contract["tables"].values():
        keys = [spec["partition_key"]] + ([spec["sort_key"]] if spec["sort_key"] else [])
        attrs = {k["name"]: k["type"] for k in keys}
        indexes = []
        for gsi in spec["global_secondary_indexes"]:
            gkeys = [gsi["partition_key"]] + ([gsi["sort_key"]] if gsi["sort_key"] else [])
            attrs.update({k["name"]: k["type"] for k in gkeys})
            indexes.append({
                "IndexName": gsi["name"],
                "KeySchema": [{"AttributeName": k["name"], "KeyType": t} for k, t in zip(gkeys, ["HASH", "RANGE"])],
                "Projection": {"ProjectionType": "ALL"},
            })
        args = dict(
            TableName=spec["default_name"], BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": k["name"], "KeyType": t} for k, t in zip(keys, ["HASH", "RANGE"])],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()],
        )
        if indexes:
            args["GlobalSecondaryIndexes"] = indexes
        ddb.create_table(**args)
    return contract


def customer_creds(endpoint):
    sts = client("sts", endpoint)
    c = sts.assume_role(RoleArn=ROLE, RoleSessionName="demo-admin")["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def seed_iam(endpoint, creds):
    """IAM next to S3: a weak password policy, an admin customer policy on a group whose member
    signs in without MFA, a user with an inline admin policy and two active keys, and a compliant
    read-only twin."""
    iam = client("iam", endpoint, "us-east-1", creds)
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True)
    admin = iam.create_policy(PolicyName="demo-admin-all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    read = iam.create_policy(PolicyName="demo-read-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}]}))["Policy"]["Arn"]
    iam.create_group(GroupName="demo-admins")
    iam.attach_group_policy(GroupName="demo-admins", PolicyArn=admin)
    iam.create_group(GroupName="demo-readers")
    iam.attach_group_policy(GroupName="demo-readers", PolicyArn=read)
    iam.create_user(UserName="demo-operator")
    iam.create_login_profile(UserName="demo-operator", Password="Demo-Password-123")
    iam.add_user_to_group(GroupName="demo-admins", UserName="demo-operator")
    iam.create_user(UserName="demo-ci")
    iam.put_user_policy(UserName="demo-ci", PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    iam.create_access_key(UserName="demo-ci")
    iam.create_access_key(UserName="demo-ci")
    iam.create_user(UserName="demo-reader")
    iam.add_user_to_group(GroupName="demo-readers", UserName="demo-reader")


def seed_customer(endpoint):
    creds = customer_creds(endpoint)
    us = client("s3", endpoint, "us-east-1", creds)
    eu = client("s3", endpoint, "eu-west-1", creds)
    # Central log bucket (us-east-1), writable by S3 log delivery, encrypted, versioned.
    us.create_bucket(Bucket="qrie-demo-logs")
    us.put_bucket_acl(Bucket="qrie-demo-logs", ACL="log-delivery-write")
    us.put_bucket_encryption(Bucket="qrie-demo-logs", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    us.put_bucket_versioning(Bucket="qrie-demo-logs", VersioningConfiguration={"Status": "Enabled"})
    # A public website-style bucket: public ACL and a public GetObject policy.
    us.create_bucket(Bucket="qrie-demo-public-assets")
    us.put_bucket_ownership_controls(Bucket="qrie-demo-public-assets",
                                     OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    us.put_bucket_acl(Bucket="qrie-demo-public-assets", ACL="public-read")
    us.put_bucket_policy(Bucket="qrie-demo-public-assets", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                "Resource": "arn:aws:s3:::qrie-demo-public-assets/*"}]}))
    # A backups bucket in eu-west-1: blocked and encrypted, but versioning suspended, no logging.
    eu.create_bucket(Bucket="qrie-demo-eu-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eu.put_public_access_block(Bucket="qrie-demo-eu-backups", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    eu.put_bucket_encryption(Bucket="qrie-demo-eu-backups", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    eu.put_bucket_versioning(Bucket="qrie-demo-eu-backups", VersioningConfiguration={"Status": "Suspended"})
    # A locked-down data bucket that passes every policy.
    name = "qrie-demo-customer-data"
    eu = us
    eu.create_bucket(Bucket=name)
    eu.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    eu.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
    eu.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    eu.put_bucket_logging(Bucket=name, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "qrie-demo-logs", "TargetPrefix": f"{name}/"}})
    eu.put_bucket_ownership_controls(Bucket=name,
                                     OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    eu.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    seed_iam(endpoint, creds)
    seed_data_services(endpoint, creds)
    ddb = client("dynamodb", endpoint)
    ddb.put_item(TableName="qrie_accounts", Item={
        "AccountId": {"S": ACCOUNT}, "RoleArn": {"S": ROLE}, "ExternalId": {"S": "qrie-demo-external-id"},
        "Regions": {"L": [{"S": "us-east-1"}, {"S": "eu-west-1"}]}, "Enabled": {"BOOL": True},
        "Name": {"S": "Demo customer"}})
    return creds


def seed_data_services(endpoint, creds):
    """KMS, CloudTrail, Lambda and RDS in the demo account: a misconfigured resource of each
    and a compliant twin (synthetic credentials only: the detectors' test values)."""
    kms = client("kms", endpoint, "us-east-1", creds)
    kms.create_key(Description="qrie demo: never rotated")
    rotating = kms.create_key(Description="qrie demo: rotating")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotating)
    ct_us = client("cloudtrail", endpoint, "us-east-1", creds)
    ct_eu = client("cloudtrail", endpoint, "eu-west-1", creds)
    org = ct_us.create_trail(Name="qrie-demo-org-trail", S3BucketName="qrie-demo-logs", IsMultiRegionTrail=True,
                             EnableLogFileValidation=True, KmsKeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{rotating}",
                             CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:trail:*",
                             CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/trail-logs")["TrailARN"]
    ct_us.put_event_selectors(TrailName=org, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}])
    ct_us.put_insight_selectors(TrailName=org, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    ct_us.start_logging(Name=org)
    ct_eu.create_trail(Name="qrie-demo-eu-trail", S3BucketName="qrie-demo-eu-backups")
    iam = client("iam", endpoint, "us-east-1", creds)
    role = iam.create_role(RoleName="qrie-demo-fn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    fn = client("lambda", endpoint, "us-east-1", creds)
    empty_zip = b"PK\x05\x06" + bytes(18)
    fn.create_function(FunctionName="qrie-demo-billing-export", Runtime="python3.9", Role=role,
                       Handler="index.handler", Code={"ZipFile": empty_zip},
                       Environment={"Variables": {"BILLING_SECRET_ACCESS_KEY": "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s",
                                                  "LOG_LEVEL": "info"}})
    fn.add_permission(FunctionName="qrie-demo-billing-export", StatementId="anyone",
                      Action="lambda:InvokeFunction", Principal="*")
    fn.create_function_url_config(FunctionName="qrie-demo-billing-export", AuthType="NONE")
    fn.create_function(FunctionName="qrie-demo-orders", Runtime="python3.13", Role=role, Handler="index.handler",
                       Code={"ZipFile": empty_zip},
                       VpcConfig={"SubnetIds": ["subnet-0a1b2c3d", "subnet-0e1f2a3b"], "SecurityGroupIds": ["sg-0a1b2c3d"]})
    rds = client("rds", endpoint, "us-east-1", creds)
    rds.create_db_instance(DBInstanceIdentifier="qrie-demo-reporting", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="postgres", MasterUserPassword="demo-only-password",
                           PubliclyAccessible=True, StorageEncrypted=False, BackupRetentionPeriod=0)
    rds.create_db_snapshot(DBInstanceIdentifier="qrie-demo-reporting", DBSnapshotIdentifier="qrie-demo-reporting-export")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="qrie-demo-reporting-export", AttributeName="restore",
                                     ValuesToAdd=["all"])


def seed_ec2(endpoint, creds):
    """EC2 misconfigurations next to compliant twins, in both regions."""
    us = client("ec2", endpoint, "us-east-1", creds)
    eu = client("ec2", endpoint, "eu-west-1", creds)
    vpc = us.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    open_ssh = us.create_security_group(GroupName="demo-open-ssh", Description="SSH from anywhere", VpcId=vpc)["GroupId"]
    us.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    everything = us.create_security_group(GroupName="demo-all-traffic", Description="all traffic", VpcId=vpc)["GroupId"]
    us.authorize_security_group_ingress(GroupId=everything, IpPermissions=[
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    private = us.create_security_group(GroupName="demo-private-ssh", Description="SSH from the office", VpcId=vpc)["GroupId"]
    us.authorize_security_group_ingress(GroupId=private, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    image = us.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    us.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                     MetadataOptions={"HttpTokens": "optional"},
                     UserData="#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\n")
    volume = us.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = us.create_snapshot(VolumeId=volume)["SnapshotId"]
    us.modify_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission",
                                 OperationType="add", GroupNames=["all"])
    us.create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=True)
    eu.enable_ebs_encryption_by_default()


def invoke(function, event_file, env):
    binary = os.path.join(TARGET, os.environ.get("QRIE_BIN_PROFILE", "debug"), function)
    started = time.monotonic()
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/lambda_invoke.py"), binary, event_file],
                         env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"{function} failed:\n{out.stderr}")
    return json.loads(out.stdout), elapsed


def load_policies():
    policies = {}
    for path in glob.glob(os.path.join(ROOT, "policies/*/*.yaml")):
        doc = yaml.safe_load(open(path))
        policies[doc["id"]] = doc
    return policies


def findings(endpoint):
    ddb = client("dynamodb", endpoint)
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName="qrie_findings"):
        items.extend(page["Items"])
    return items


def print_findings(items, policies):
    active = [i for i in items if i["State"]["S"] == "ACTIVE"]
    resolved = [i for i in items if i["State"]["S"] == "RESOLVED"]
    print(f"\n== Findings: {len(active)} active, {len(resolved)} resolved ==")
    for severity in SEVERITIES:
        group = sorted((i for i in active if i["Severity"]["S"] == severity),
                       key=lambda i: (i["ARN"]["S"], i["PolicyId"]["S"]))
        if not group:
            continue
        print(f"\n{severity} ({len(group)})")
        for item in group:
            policy = policies.get(item["PolicyId"]["S"], {})
            controls = ", ".join(f"{FRAMEWORKS.get(fw, fw)} {cid}" for fw, ids in policy.get("controls", {}).items()
                                 for cid in ids)
            print(f"  {item['ARN']['S']}")
            print(f"    {policy.get('title', item['PolicyId']['S'])} [{item['PolicyId']['S']}]")
            print(f"    controls: {controls}")
            references = ", ".join(f"{source} {cid}" for source, ids in policy.get("references", {}).items()
                                   for cid in ids)
            if references:
                print(f"    equivalent to: {references}")


def cloudtrail_put_bucket_acl(bucket):
    """The CloudTrail record S3 writes for PutBucketAcl, in the EventBridge envelope customers forward."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {
        "eventVersion": "1.09", "eventSource": "s3.amazonaws.com", "eventName": "PutBucketAcl",
        "eventTime": now, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.10",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "userName": "demo-admin",
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/demo-admin"},
        "requestParameters": {"bucketName": bucket, "acl": [""], "x-amz-acl": ["public-read"]},
        "responseElements": None, "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "eventCategory": "Management", "recipientAccountId": ACCOUNT, "eventID": str(uuid.uuid4()),
        "resources": [{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
    }
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.s3", "account": ACCOUNT, "time": now, "region": "us-east-1",
            "resources": [], "detail": record}


def realtime(endpoint, env, policies):
    """Makes a bucket public, sends the CloudTrail event through SQS, and times event to finding."""
    bucket, policy = "qrie-demo-logs", "S3BucketPublicReadProhibited"
    print(f"\n== Real time: someone makes {bucket} public ==")
    sqs = client("sqs", endpoint)
    dlq = sqs.create_queue(QueueName="qrie_events_dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="qrie_events", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
    us = client("s3", endpoint, "us-east-1", customer_creds(endpoint))
    us.put_bucket_acl(Bucket=bucket, ACL="public-read")
    started = time.monotonic()
    # What the customer's EventBridge rule and qrie's bus deliver to the queue.
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(cloudtrail_put_bucket_acl(bucket)))
    # What Lambda's SQS poller hands the function.
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   AttributeNames=["All"])["Messages"]
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:qrie_events",
                "awsRegion": "us-east-1"} for m in messages]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"Records": records}, f)
    response, _ = invoke("event-processor", f.name, env)
    os.unlink(f.name)
    failed = {i["itemIdentifier"] for i in response.get("batchItemFailures", [])}
    for m in messages:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    ddb = client("dynamodb", endpoint)
    item = ddb.get_item(TableName="qrie_findings", ConsistentRead=True,
                        Key={"ARN": {"S": f"arn:aws:s3:::{bucket}"}, "PolicyId": {"S": policy}}).get("Item")
    elapsed = time.monotonic() - started
    if not item or item["State"]["S"] != "ACTIVE":
        sys.exit(f"the event did not open {policy} on {bucket}: {response}")
    print(f"qrie_event_processor: {len(messages)} message(s), {len(failed)} failed")
    print(f"  {item['Severity']['S']} {item['ARN']['S']}")
    print(f"    {policies[policy]['title']} [{policy}]")
    print(f"    evidence: {json.dumps(dynamo_plain(item['Evidence']))}")
    print(f"  event to finding: {elapsed * 1000:.0f} ms (send, SQS, Lambda process start, refresh, evaluation)")


def object_scan(endpoint, env):
    """Plants synthetic PII in a customer bucket and runs a scan job through the object scanner:
    the listing invocation, then worker batches from the real SQS queue as Lambda's poller hands
    them over, until the job is done; prints the job status and the (masked) detections."""
    bucket, prefix = "qrie-demo-data", "exports/"
    print(f"\n== Object scan: sensitive data in s3://{bucket}/{prefix} (account {ACCOUNT}) ==")
    sqs = client("sqs", endpoint)
    dlq = sqs.create_queue(QueueName="qrie_object_scan_jobs_dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="qrie_object_scan_jobs", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
    env = dict(env, QRIE_OBJECT_SCAN_QUEUE_URL=queue)
    s3 = client("s3", endpoint, "us-east-1", customer_creds(endpoint))
    s3.create_bucket(Bucket=bucket)
    # Synthetic values only (valid shapes, nobody's data).
    files = {
        "customers.csv": "name,email,card,phone\nAnn Lee,ann.lee@example.com,4539 1488 0343 6467,(202) 555-0143\n"
                         "Bob Roe,bob.roe@example.org,n/a,n/a\n",
        "notes.txt": "Onboarding notes. Employee SSN 536-22-1987 on file.\n"
                     "aws_access_key_id = AKIAZ7VRSQ5TJN2K4LMB\n"
                     "aws_secret_access_key = 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\n",
    }
    for name, text in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=text.encode())
    log = "".join(f"2025-01-01T00:00:{i % 60:02d}Z INFO request served\n" for i in range(2000))
    log += "2025-01-01T00:01:00Z WARN password reset mailed to carol@example.net\n"
    s3.put_object(Bucket=bucket, Key=prefix + "app.log.gz", Body=gzip.compress(log.encode()))
    s3.put_object(Bucket=bucket, Key=prefix + "logo.png", Body=bytes(range(256)) * 64)

    def call(payload):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(payload, f)
        try:
            return invoke("object-scanner", f.name, env)
        finally:
            os.unlink(f.name)

    started = time.monotonic()
    job, _ = call({"bucket": bucket, "prefix": prefix, "account_id": ACCOUNT})
    job_id = job["job_id"]
    print(f"qrie_object_scanner {{\"bucket\": \"{bucket}\", \"prefix\": \"{prefix}\"}}: job {job_id}, "
          f"{job['enumeration']['objects']} objects listed, {job['enumeration']['units']} messages enqueued")
    batches = 0
    for _ in range(30):
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       AttributeNames=["All"]).get("Messages", [])
        if not messages:
            status, _ = call({"action": "status", "job_id": job_id})
            if status["status"] == "completed":
                break
            continue
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:qrie_object_scan_jobs",
                    "awsRegion": "us-east-1"} for m in messages]
        response, _ = call({"Records": records})
        batches += 1
        failed = {i["itemIdentifier"] for i in response.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    status, _ = call({"action": "status", "job_id": job_id})
    elapsed = time.monotonic() - started
    skipped = ", ".join(f"{n} {r}" for r, n in status["skipped_by_reason"].items()) or "none"
    print(f"status: {status['status']}, {status['total']} units: {status['succeeded']} succeeded, "
          f"{status['failed']} failed, {status['skipped']} skipped ({skipped}); {status['findings']} findings; "
          f"{status['percent_done']}% in {batches} worker batch(es), {elapsed:.1f}s wall")
    results, _ = call({"action": "results", "job_id": job_id, "limit": 20})
    print(f"results (first page of {len(results['findings'])}, masked):")
    for f in results["findings"]:
        context = f["context"].replace("\n", " ")
        print(f"  {f['key']} @{f['byte_offset']:<6} {f['detector']:<22} {f['masked']:<24} | {context}")
    if status["status"] != "completed" or status["findings"] == 0:
        sys.exit(f"the object scan did not complete as expected: {status}")


def dynamo_plain(attr):
    (kind, value), = attr.items()
    if kind == "M":
        return {k: dynamo_plain(v) for k, v in value.items()}
    if kind == "L":
        return [dynamo_plain(v) for v in value]
    if kind == "NULL":
        return None
    return value


def qrie(env, *args):
    """Runs the `qrie` command (built by `make build-dev`) on the demo's tables; its output."""
    out = subprocess.run([os.path.join(TARGET, "debug", "qrie"), *args], env=env,
                         capture_output=True, text=True)
    if out.returncode not in (0, 3):
        raise SystemExit(f"qrie {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return out.stdout


def operator_view(env):
    """The operator's side on the demo account: compliance and its trend, the findings that
    matter, and the HTML report (its path printed; set QRIE_DEMO_REPORT to choose it)."""
    print("\nThe operator's view (the `qrie` command on the live tables)")
    for framework in ("cis-aws-v5.0", "fsbp"):
        print(f"$ qrie compliance --framework {framework}")
        report = qrie(env, "compliance", "--framework", framework)
        # The summary and severity lines; the per-control lines follow (see --format json).
        for line in report.splitlines():
            severity_line = (line.startswith("  ") and not line.startswith("   ")
                             and line.split()[0] in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"))
            if not line.startswith(" ") or severity_line:
                print(f"  {line.strip()}")
    print("$ qrie compliance --trend --framework cis-aws-v5.0")
    for line in qrie(env, "compliance", "--trend", "--framework", "cis-aws-v5.0").splitlines():
        print(f"  {line.strip()}")
    print("$ qrie findings --severity critical")
    for line in qrie(env, "findings", "--severity", "critical").splitlines():
        print(f"  {line}")
    report = os.path.abspath(os.environ.get("QRIE_DEMO_REPORT", os.path.join(TARGET, "qrie-demo-report.html")))
    print(f"$ qrie report --html {report}")
    print(f"  {qrie(env, 'report', '--html', report).strip()}")
    print(f"  The HTML report of the demo account: file://{report}")


def main():
    moto, endpoint = start_moto()
    try:
        print(f"Local AWS (moto) on {endpoint}")
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                   RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        env.pop("AWS_PROFILE", None)
        create_tables(endpoint)
        creds = seed_customer(endpoint)
        seed_ec2(endpoint, creds)
        print(f"Seeded demo customer account {ACCOUNT}: 4 buckets in us-east-1 and eu-west-1, "
              "security groups, an instance, volumes and a public snapshot")

        inventory, t_inv = invoke("inventory-generator", os.path.join(ROOT, "events/inventory-generator/all.json"), env)
        per_region = {service: summary["by_region"]
                      for service, summary in inventory["accounts"][0]["services"].items()}
        print(f"\nqrie_inventory_generator {{\"service\": \"all\"}}: {inventory['resources']} resources "
              f"{per_region}, {len(inventory['errors'])} errors, {t_inv:.2f}s wall "
              f"({inventory['duration_ms']} ms in the handler)")
        for error in inventory["errors"]:
            print(f"  collection error: {error}")
        if inventory["unsupported"]:
            print(f"  services without a collector yet: {', '.join(inventory['unsupported'])}")

        scan, t_scan = invoke("policy-scanner", os.path.join(ROOT, "events/policy-scanner/all.json"), env)
        print(f"qrie_policy_scanner {{}}: {scan['evaluated']} evaluations, {scan['new']} new, "
              f"{scan['still_active']} still active, {scan['resolved']} resolved, {len(scan['errors'])} errors, "
              f"{t_scan:.2f}s wall ({scan['duration_ms']} ms in the handler)")
        policies = load_policies()
        print_findings(findings(endpoint), policies)
        print(f"\nInventory + scan of the demo account: {t_inv + t_scan:.2f}s wall "
              f"(handlers: {inventory['duration_ms'] + scan['duration_ms']} ms)")
        realtime(endpoint, env, policies)
        object_scan(endpoint, env)
        operator_view(env)
    finally:
        moto.terminate()
        moto.wait()
    print("\nStopped the local AWS. Done.")


if __name__ == "__main__":
    main()
