// Types for test/unit/scripts/semconv-subset.test.ts and test/preload/bundle.test.ts.
import type { Plugin } from 'esbuild';

export declare const SEMCONV_FILTER: RegExp;
export declare function namesRead(
  source: string,
  spec: string,
): { names: string[]; problems: string[] };
export declare function createSemconvSubset(root: string): {
  scan: Plugin;
  plugin: Plugin;
  summary: () => string[];
};
