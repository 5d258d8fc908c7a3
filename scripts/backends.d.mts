// Types for test/helpers/backends.ts, which takes the binaries' paths from the script that builds them.
export declare const VERSIONS: Readonly<{
  builder: string;
  prometheusModule: string;
  prometheus: string;
  alertmanager: string;
  helm: string;
  kubeconform: string;
  kubernetes: string;
  ferretdb: string;
}>;
export declare const PATHS: Readonly<{
  tools: string;
  builder: string;
  otelcol: string;
  prometheus: string;
  promtool: string;
  alertmanager: string;
  amtool: string;
  /** The two-tier agent's and gateways' binary: the collector's own (one build, collector/manifest.yaml). */
  gateway: string;
  helm: string;
  kubeconform: string;
  /** kubeconform's -schema-location template for the generated Kubernetes schemas. */
  k8sSchemas: string;
  /** FerretDB, the MongoDB wire-protocol server of the mongodb tests. */
  ferretdb: string;
}>;
