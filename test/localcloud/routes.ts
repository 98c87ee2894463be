// Which operations the gateway answers itself; everything else goes to moto untouched.
import type { CloudContext, Handler } from "./context.ts";
import { executeCommand } from "./ecs/exec.ts";
import { createService, runTask } from "./ecs/run-task.ts";
import { simulatePrincipalPolicy } from "./iam/simulate.ts";
import { decrypt, encrypt, generateDataKey } from "./kms.ts";
import type { Xml } from "./iam/query.ts";
import { describeTasks, listTasks, registerTaskDefinition, stopTask } from "./ecs/tasks.ts";
import { createActivation, deleteActivation, describeActivations } from "./ssm/activations.ts";
import { describeInstanceInformation } from "./ssm/describe-instances.ts";
import { addTagsToResource, deregisterManagedInstance, listTagsForResource, registerManagedInstance, removeTagsFromResource } from "./ssm/instances.ts";
import { describeSessions, resumeSession, startSession, terminateSession } from "./ssm/sessions.ts";

export const HANDLERS: Record<string, Record<string, Handler>> = {
  ssm: {
    CreateActivation: createActivation,
    DescribeActivations: describeActivations,
    DeleteActivation: deleteActivation,
    RegisterManagedInstance: registerManagedInstance,
    DeregisterManagedInstance: deregisterManagedInstance,
    DescribeInstanceInformation: describeInstanceInformation,
    AddTagsToResource: addTagsToResource,
    ListTagsForResource: listTagsForResource,
    RemoveTagsFromResource: removeTagsFromResource,
    StartSession: startSession,
    ResumeSession: resumeSession,
    TerminateSession: terminateSession,
    DescribeSessions: describeSessions,
  },
  ecs: {
    RunTask: runTask,
    CreateService: createService,
    DescribeTasks: describeTasks,
    StopTask: stopTask,
    ListTasks: listTasks,
    RegisterTaskDefinition: registerTaskDefinition,
    ExecuteCommand: executeCommand,
  },
  kms: {
    GenerateDataKey: generateDataKey,
    Decrypt: decrypt,
    Encrypt: encrypt,
  },
};

/** Query-protocol operations the gateway answers itself (moto answers SimulatePrincipalPolicy with HTTP 500). */
export const QUERY_HANDLERS: Record<
  string,
  Record<string, { namespace: string; handler: (ctx: CloudContext, form: Record<string, string>) => Promise<Record<string, Xml>> }>
> = {
  iam: {
    SimulatePrincipalPolicy: { namespace: "https://iam.amazonaws.com/doc/2010-05-08/", handler: (ctx, form) => simulatePrincipalPolicy(ctx.principals, form) },
  },
};
