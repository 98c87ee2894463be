// ECS calls: verb-first, client first, paging inside, plain camelCase results. This is their one
// entry point; ecs/ holds them by what they act on.
export * from "./ecs/arns.ts";
export * from "./ecs/clusters.ts";
export * from "./ecs/task-definitions.ts";
export * from "./ecs/tasks.ts";
