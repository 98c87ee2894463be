// The records the gateway keeps for what moto lacks. One CloudState per local cloud, never shared.
import type { ChildProcess } from "node:child_process";

export interface Tag {
  Key: string;
  Value: string;
}

export interface Activation {
  id: string;
  code: string;
  region: string;
  iamRole: string;
  description?: string;
  defaultInstanceName?: string;
  registrationLimit: number;
  registrationsCount: number;
  expirationMs: number;
  createdMs: number;
  tags: Tag[];
}

export interface AgentReport {
  pid: number;
  cwd: string;
  env: Record<string, string>;
  hostname: string;
}

export interface ManagedInstance {
  id: string;
  region: string;
  activationId: string;
  iamRole: string;
  name?: string;
  registeredMs: number;
  lastPingMs: number;
  /** The agent's last ssm:UpdateInstanceInformation was refused (its role may not report it): ConnectionLost. */
  pingRefused?: boolean;
  tags: Tag[];
  agent?: AgentReport;
}

export type SessionStatus = "Connected" | "Connecting" | "Disconnected" | "Terminated" | "Terminating" | "Failed";

export interface SessionRecord {
  sessionId: string;
  region: string;
  target: string;
  documentName: string;
  kind: "port" | "shell";
  owner: string;
  reason?: string;
  startMs: number;
  endMs?: number;
  status: SessionStatus;
}

export type TaskStatus = "PROVISIONING" | "PENDING" | "ACTIVATING" | "RUNNING" | "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" | "STOPPED";

export interface ContainerRecord {
  name: string;
  image: string;
  runtimeId: string;
  containerArn: string;
  exitCode?: number;
  reason?: string;
  /** Resolved at RunTask: what the simulated container runs (undefined = no local process). */
  argv?: string[];
  env: Record<string, string>;
  stopTimeoutMs: number;
  process?: ChildProcess;
  dir?: string;
  output: string;
  /** A real container (image localhost/…, run by podman): `env` is what runs inside it. */
  real?: { image: string; containerName: string };
}

export interface TaskRecord {
  arn: string;
  id: string;
  region: string;
  clusterArn: string;
  clusterName: string;
  taskDefinitionArn: string;
  family: string;
  revision: number;
  group?: string;
  startedBy?: string;
  launchType?: string;
  /** Fargate: RunTask's platformVersion (LATEST and none: 1.4.0 on Linux, 1.0.0 on Windows) and the OS family. */
  platformVersion?: string;
  platformFamily?: string;
  enableExecuteCommand: boolean;
  /** RunTask's override, else the task definition's: whose credentials the task's SSM agent holds. */
  taskRoleArn?: string;
  createdMs: number;
  /** When PENDING and RUNNING are due (simulated clock). */
  pendingAtMs: number;
  runningAtMs: number;
  startedMs?: number;
  stoppingMs?: number;
  stoppedMs?: number;
  desiredStatus: "RUNNING" | "STOPPED";
  lastStatus: TaskStatus;
  stopCode?: string;
  stoppedReason?: string;
  containers: ContainerRecord[];
}

export interface CloudState {
  activations: Map<string, Activation>;
  instances: Map<string, ManagedInstance>;
  sessions: Map<string, SessionRecord>;
  tasks: Map<string, TaskRecord>;
}

export function emptyState(): CloudState {
  return { activations: new Map(), instances: new Map(), sessions: new Map(), tasks: new Map() };
}
