// An empty ESM script: a Node process running it measures Node's own start-up (bench/common.ts).
export {};
