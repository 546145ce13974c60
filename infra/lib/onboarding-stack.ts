/**
 * The customer onboarding stack: what a customer deploys in each account qrie scans.
 *
 * It must also work as a plain CloudFormation template in a StackSet, so it has no assets, no
 * bootstrap version rule, no CDK metadata and no fixed account or region; everything
 * deployment-specific is a parameter. It creates:
 * - the read-only scanner role (named by the contract), trusted only by the qrie account and only
 *   with the agreed ExternalId, allowed exactly the contract's collector permissions. IAM is global,
 *   so the role is created in one region only (`ScannerRoleRegion`), and the same template can be
 *   deployed to every region by one StackSet;
 * - optionally (`EnableSecurityHubImports`, default from the CDK context flag `qrie:securityHub`),
 *   `securityhub:BatchImportFindings` on the account's own default product for that role: Security
 *   Hub accepts a custom integration's findings only from the account they belong to, so qrie
 *   imports each account's findings through its role;
 * - in every region it is deployed to, an EventBridge rule forwarding the covered services'
 *   mutating management events to the qrie bus, with the role EventBridge uses to put them there.
 */
import { CfnCondition, CfnParameter, DefaultStackSynthesizer, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { CLOUDTRAIL_DETAIL_TYPE, CONTRACT, type Contract, collectorActions, coveredEventSources } from './contract';
import { contextFlag } from './qrie-stack';

export interface OnboardingStackProps extends StackProps {
  /** Defaults to the repository's contract. Tests pass edited copies. */
  readonly contract?: Contract;
}

export class OnboardingStack extends Stack {
  readonly scannerRole: iam.Role;
  readonly forwardingRule: events.Rule;
  /** The role's optional Security Hub import permission (present when EnableSecurityHubImports is true). */
  readonly securityHubPolicy: iam.CfnPolicy;

  constructor(scope: Construct, id: string, props: OnboardingStackProps = {}) {
    super(scope, id, {
      description: 'qrie onboarding: read-only scanner role and CloudTrail event forwarding to qrie',
      analyticsReporting: false,
      // No BootstrapVersion parameter or rule: customer accounts are not CDK-bootstrapped.
      synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
      ...props,
    });
    const contract = props.contract ?? CONTRACT;

    const qrieAccountId = new CfnParameter(this, 'QrieAccountId', {
      type: 'String',
      description: 'The AWS account id qrie runs in; the only account trusted to assume the scanner role',
      allowedPattern: '^\\d{12}$',
      constraintDescription: 'a 12-digit AWS account id',
    });
    const externalId = new CfnParameter(this, 'ExternalId', {
      type: 'String',
      description: 'Secret shared with qrie (the ExternalId in the qrie accounts table); required to assume the role',
      noEcho: true,
      minLength: 16,
      maxLength: 1224,
      allowedPattern: '^[\\w+=,.@:/-]+$',
      constraintDescription: '16 to 1224 characters from letters, digits and +=,.@:/-_',
    });
    const qrieEventBusArn = new CfnParameter(this, 'QrieEventBusArn', {
      type: 'String',
      description: 'ARN of the qrie CloudTrail event bus (the EventBusArn output of the qrie stack)',
      allowedPattern: '^arn:aws[a-z-]*:events:[a-z0-9-]+:\\d{12}:event-bus/[\\w.-]+$',
      constraintDescription: 'an EventBridge event bus ARN',
    });
    const scannerRoleRegion = new CfnParameter(this, 'ScannerRoleRegion', {
      type: 'String',
      default: 'us-east-1',
      description: 'The one region where the (global) scanner role is created; other regions only forward events',
      allowedPattern: '^[a-z]{2}(-[a-z]+)+-\\d$',
    });
    const inRoleRegion = new CfnCondition(this, 'IsScannerRoleRegion', {
      expression: Fn.conditionEquals(Fn.ref('AWS::Region'), scannerRoleRegion.valueAsString),
    });

    this.scannerRole = new iam.Role(this, 'ScannerRole', {
      roleName: contract.scanner_role_name,
      description: 'qrie read-only scanner: the collector API calls qrie makes, nothing else',
      assumedBy: new iam.AccountPrincipal(qrieAccountId.valueAsString).withConditions({
        StringEquals: { 'sts:ExternalId': externalId.valueAsString },
      }),
      inlinePolicies: {
        QrieCollectors: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'QrieCollectorsReadOnly',
              actions: collectorActions(contract),
              resources: ['*'],
            }),
          ],
        }),
      },
    });
    (this.scannerRole.node.defaultChild as iam.CfnRole).cfnOptions.condition = inRoleRegion;
    Validations.of(this.scannerRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Collector calls are account-wide List/Describe/Get calls on resources not known in advance; ' +
        'the actions are exactly the contract collector_permissions',
    });
    for (const action of collectorActions(contract).filter((a) => a.includes('*'))) {
      Validations.of(this.scannerRole).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: `Wildcard action ${action} is declared by a collector in contract.json collector_permissions`,
      });
    }

    const enableSecurityHub = new CfnParameter(this, 'EnableSecurityHubImports', {
      type: 'String',
      default: contextFlag(this, 'qrie:securityHub') ? 'true' : 'false',
      allowedValues: ['true', 'false'],
      description: 'Let qrie import this account\'s findings into its AWS Security Hub (securityhub:BatchImportFindings ' +
        'on the account\'s own default product); set true when the qrie deployment enables qrie:securityHub',
    });
    const importsSecurityHub = new CfnCondition(this, 'ImportsSecurityHub', {
      expression: Fn.conditionAnd(
        inRoleRegion,
        Fn.conditionEquals(enableSecurityHub.valueAsString, 'true'),
      ),
    });
    this.securityHubPolicy = new iam.CfnPolicy(this, 'SecurityHubImports', {
      policyName: 'QrieSecurityHubImports',
      roles: [this.scannerRole.roleName],
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'QrieImportsOwnFindings',
            Effect: 'Allow',
            Action: [...contract.security_hub_permissions],
            Resource: Fn.sub('arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default'),
          },
        ],
      },
    });
    this.securityHubPolicy.cfnOptions.condition = importsSecurityHub;
    Validations.of(this.securityHubPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:securityhub:*:<AWS::AccountId>:product/<AWS::AccountId>/default]',
      reason: 'Security Hub is regional and qrie imports into the region the deployment names; the resource is ' +
        'only this account\'s own default product, the one a custom integration imports through',
    });

    const forwarderRole = new iam.Role(this, 'EventForwarderRole', {
      description: 'Lets EventBridge put this account\'s CloudTrail events on the qrie bus',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
    });
    this.forwardingRule = new events.Rule(this, 'ForwardToQrie', {
      description: 'Mutating management API calls of the services qrie covers, to the qrie event bus',
      eventPattern: {
        source: coveredEventSources(contract),
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: { readOnly: [false] },
      },
      targets: [
        new targets.EventBus(events.EventBus.fromEventBusArn(this, 'QrieEventBus', qrieEventBusArn.valueAsString), {
          role: forwarderRole,
        }),
      ],
    });
  }
}
