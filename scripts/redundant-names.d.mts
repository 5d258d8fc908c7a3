// Types for test/unit/scripts/redundant-names.test.ts.
export declare function dropRedundantNames(text: string): {
  text: string;
  statements: number;
  classes: number;
};
export declare function dropNamedEvaluationNames(
  text: string,
  sourceType?: 'script' | 'module',
): { text: string; calls: number };
