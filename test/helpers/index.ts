/** Test helpers, by concern. */
export * from '../fixture/fixture.js';
export * from './build.js';
export * from './cgroups.js';
export * from './cli.js';
export * from './env.js';
export * from './events.js';
export * from './fleet-play.js';
export * from './holds.js';
export * from './hosts.js';
export * from './podman.js';
export * from './proc.js';
export * from './registry-attack.js';
export * from './services.js';
export * from './trees.js';
export * from './users.js';
export * from './watchdogs.js';
