// The ECS Exec bastion task of the session tests, under the name test/conformance imports it by.
export { runBastionTask, type BastionTask } from "../support/bastion.ts";
