// Types for test/unit/scripts/namespace-copies.test.ts.
export declare function dropNamespaceCopies(text: string): {
  text: string;
  replaced: number;
  kept: { name: string; use: string }[];
};
