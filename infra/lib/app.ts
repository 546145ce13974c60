/**
 * Builds the qrie CDK app: both stacks plus the cdk-nag AwsSolutions checks.
 *
 * `bin/qrie.ts` calls this for `cdk synth`/`cdk deploy`; the tests call it with their own context
 * (placeholder code, onboarded accounts) so they check the same app that is deployed.
 */
import { App, type AppProps, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Contract } from './contract';
import { OnboardingStack } from './onboarding-stack';
import { QrieStack } from './qrie-stack';

export const QRIE_STACK_NAME = 'Qrie';
export const ONBOARDING_STACK_NAME = 'QrieOnboarding';

export interface QrieApp {
  readonly app: App;
  readonly qrie: QrieStack;
  readonly onboarding: OnboardingStack;
}

export interface BuildOptions extends AppProps {
  /** Run cdk-nag's AwsSolutions checks during synth (default true). */
  readonly nag?: boolean;
  readonly contract?: Contract;
  /** Account and region of the qrie stack. Default: CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION. */
  readonly env?: Environment;
}

export function buildApp(options: BuildOptions = {}): QrieApp {
  const { nag = true, contract, env, ...appProps } = options;
  const app = new App(appProps);
  const qrie = new QrieStack(app, QRIE_STACK_NAME, {
    description: 'qrie: AWS security posture scanner (tables, functions, schedules, CloudTrail path, alarms)',
    env: env ?? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    contract,
  });
  // Environment-agnostic on purpose: one template for every customer account and region.
  const onboarding = new OnboardingStack(app, ONBOARDING_STACK_NAME, { contract });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, qrie, onboarding };
}
