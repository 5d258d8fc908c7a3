// Types for test/helpers/backends.ts, which takes the binaries' paths from the script that builds them.
export declare const VERSIONS: Readonly<{
  builder: string;
  prometheusModule: string;
  prometheus: string;
  alertmanager: string;
}>;
export declare const PATHS: Readonly<{
  tools: string;
  builder: string;
  otelcol: string;
  prometheus: string;
  promtool: string;
  alertmanager: string;
  amtool: string;
}>;
