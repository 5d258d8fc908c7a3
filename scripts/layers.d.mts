// Types for test/unit/instrumentation/layers.test.ts.
export declare const MAX_FLOORS: number;
export declare const LAYERS: ReadonlyArray<{ name: string; parts: string[] }>;
export type Graph = Map<string, string[]>;
export interface Floors {
  floor: Map<string, number>;
  height: number;
  chain: string[];
}
export declare function importGraph(dir: string): Graph;
export declare function roomOf(file: string): string;
export declare function roomGraph(graph: Graph): Graph;
export declare function circles(graph: Graph): string[][];
export declare function floors(graph: Graph): Floors;
export declare function layerBreaks(
  graph: Graph,
  layers?: ReadonlyArray<{ name: string; parts: string[] }>,
): string[];
export declare function measure(repo?: string): {
  files: number;
  rooms: number;
  imports: number;
  fileCircles: string[][];
  roomCircles: string[][];
  floors: Floors | undefined;
  fileFloors: Floors | undefined;
  layerBreaks: string[];
};
