// Which operations the gateway answers itself; everything else goes to moto untouched.
import type { Handler } from "./context.ts";
import { executeCommand } from "./ecs/exec.ts";
import { createService, runTask } from "./ecs/run-task.ts";
import { describeTasks, listTasks, registerTaskDefinition, stopTask } from "./ecs/tasks.ts";
import { createActivation, deleteActivation, describeActivations } from "./ssm/activations.ts";
import { describeInstanceInformation } from "./ssm/describe-instances.ts";
import {
  addTagsToResource, deregisterManagedInstance, listTagsForResource, registerManagedInstance, removeTagsFromResource,
} from "./ssm/instances.ts";
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
};
