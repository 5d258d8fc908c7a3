// Types for test/helpers/node-versions.ts, which finds the Node binaries the way the scripts do.
export declare function bundledNode(): string | undefined;
export declare function hostNode(): string;
