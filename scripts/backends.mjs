#!/usr/bin/env node
// The real backends the integration tests run: the bundled collector (built with ocb from
// collector/manifest.yaml; one build for the single collector and both tiers of the two-tier
// mode), Prometheus 3 with promtool and Alertmanager (built from their Go
// modules), all under
// the ignored .tools/ folder, with visible progress, and reused while nothing that shapes them
// changed (a stamp file holds a hash of the manifest or version, the Go version and this recipe).
//
//   node scripts/backends.mjs ensure            build whatever is missing or stale (all three)
//   node scripts/backends.mjs collector         the collector only
//   node scripts/backends.mjs prometheus        Prometheus and promtool only
//   node scripts/backends.mjs alertmanager      Alertmanager and amtool only
//   node scripts/backends.mjs gateway           the same as `collector` (the two tiers run that build)
//   node scripts/backends.mjs k8s               helm, kubeconform and the Kubernetes JSON schemas
//   node scripts/backends.mjs ferretdb          FerretDB, the MongoDB-wire server the mongodb tests use
//   node scripts/backends.mjs paths             print the binaries as JSON (building nothing)
//   node scripts/backends.mjs validate <file>.. run the built collector's `validate` on configs
//
// Environment: ECHOES_TOOLS_DIR moves .tools/ (default <repo>/.tools); GOMODCACHE / GOCACHE are
// passed through to go (point them at empty folders to measure a truly cold build).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tools = resolve(process.env.ECHOES_TOOLS_DIR || join(root, '.tools'));

export const VERSIONS = Object.freeze({
  builder: 'v0.159.0',
  // Go module v0.316.0 is Prometheus 3.16.0 (its Go module tags are v0.3XY.Z for release 3.XY.Z;
  // the module's VERSION file says 3.16.0); compose pins the same 3.16 image.
  prometheusModule: 'v0.316.0',
  prometheus: '3.16.0',
  // Go module tag = release; compose pins the prom/alertmanager image of the same version.
  alertmanager: 'v0.35.0',
  // Helm from its Go module (Apache-2.0); kubeconform (Apache-2.0) checks what `helm template`
  // renders against JSON schemas made here from the Kubernetes OpenAPI of k8s.io/kubernetes at the
  // release Helm's client-go follows (k8s.io/client-go v0.37.2 = Kubernetes 1.37.2).
  helm: 'v4.3.2',
  kubeconform: 'v0.8.0',
  kubernetes: 'v1.37.2',
  // FerretDB (Apache-2.0), the last 1.x release: a MongoDB wire-protocol server with its own
  // SQLite backend in pure Go, so the mongodb instrumentation is tested against a real server
  // (no MongoDB server can be had from the registries here). 2.x needs Postgres' DocumentDB
  // extension, which cannot be had either.
  ferretdb: 'v1.24.2',
});

// Bump when a recipe below changes in a way that should rebuild existing binaries.
const RECIPE = Object.freeze({
  prometheus: '3',
  otelcol: '1',
  alertmanager: '1',
  k8s: '1',
  ferretdb: '1',
});

const manifest = join(root, 'collector/manifest.yaml');
const otelcolDir = join(tools, 'otelcol');
const prometheusDir = join(tools, 'prometheus');
const alertmanagerDir = join(tools, 'alertmanager');
const k8sDir = join(tools, 'k8s');
const ferretdbDir = join(tools, 'ferretdb');
export const PATHS = Object.freeze({
  tools,
  builder: join(tools, 'bin', 'builder'),
  otelcol: join(otelcolDir, 'otelcol-echoes'),
  prometheus: join(prometheusDir, 'prometheus'),
  promtool: join(prometheusDir, 'promtool'),
  alertmanager: join(alertmanagerDir, 'alertmanager'),
  amtool: join(alertmanagerDir, 'amtool'),
  // The two-tier agent and gateways run the same binary (collector/manifest.yaml): one cold build.
  gateway: join(otelcolDir, 'otelcol-echoes'),
  helm: join(k8sDir, 'helm'),
  kubeconform: join(k8sDir, 'kubeconform'),
  ferretdb: join(ferretdbDir, 'ferretdb'),
  /** kubeconform -schema-location for the generated schemas (strict: unknown fields fail). */
  k8sSchemas: join(
    k8sDir,
    `schemas-${VERSIONS.kubernetes}`,
    '{{ .ResourceKind }}{{ .KindSuffix }}.json',
  ),
});

const t0 = Date.now();
const elapsed = (from = t0) => `${((Date.now() - from) / 1000).toFixed(1)}s`;
const say = (msg) => process.stdout.write(`[backends ${elapsed()}] ${msg}\n`);

class BuildError extends Error {}

let goVersionLine;
/** `go version`, asked once per run (`ensure` builds both backends with the same Go). */
function goVersion() {
  if (goVersionLine !== undefined) return goVersionLine;
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new BuildError(
      'Go is needed to build the collector, Prometheus and Alertmanager (https://go.dev/dl/, >= 1.26); `go version` failed: ' +
        (r.error?.message ?? r.stderr),
    );
  }
  goVersionLine = r.stdout.trim();
  return goVersionLine;
}

function stampOf(parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(String(p)).update('\0');
  return h.digest('hex');
}

function upToDate(dir, stamp, binaries) {
  try {
    return (
      readFileSync(join(dir, '.stamp'), 'utf8').trim() === stamp &&
      binaries.every((b) => existsSync(b))
    );
  } catch {
    return false;
  }
}

/**
 * Run a go command, passing its output through but summarising `-v` package lists: go prints one
 * line per package it compiles, which on a cold build is thousands of lines; we print a count
 * every few seconds instead, and pass every other line (errors, downloads) through.
 */
function run(cmd, args, opts = {}) {
  const { cwd = root, env = {}, label = cmd } = opts;
  return new Promise((resolvePromise, reject) => {
    const started = Date.now();
    let packages = 0;
    let downloads = 0;
    let tail = '';
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onSignal = () => child.kill('SIGTERM');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const tick = setInterval(() => {
      say(
        `  ${label}: ${elapsed(started)} elapsed, ${downloads} modules downloaded, ${packages} packages built`,
      );
    }, 15_000);
    const onLine = (line) => {
      if (line === '') return;
      if (line.startsWith('go: downloading ')) {
        downloads += 1;
        return;
      }
      // `-v` lists package import paths (no spaces); everything else is worth showing.
      if (/^[\w.\-~/]+$/.test(line)) {
        packages += 1;
        return;
      }
      process.stdout.write(`    ${line}\n`);
      tail = (tail + line + '\n').slice(-4000);
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => onLine(buf));
    }
    child.on('error', (e) => {
      clearInterval(tick);
      reject(new BuildError(`${label} could not start: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(tick);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      say(
        `  ${label}: done in ${elapsed(started)} (${downloads} modules downloaded, ${packages} packages built)`,
      );
      resolvePromise({ code: code ?? (signal ? 128 : 1), tail });
    });
  });
}

async function buildPrometheus() {
  const gov = goVersion();
  const stamp = stampOf(['prometheus', VERSIONS.prometheusModule, gov, RECIPE.prometheus]);
  if (upToDate(prometheusDir, stamp, [PATHS.prometheus, PATHS.promtool])) {
    say(`prometheus ${VERSIONS.prometheus} and promtool: up to date in ${prometheusDir}`);
    return;
  }
  say(
    `prometheus ${VERSIONS.prometheus} (Go module ${VERSIONS.prometheusModule}) + promtool: building with ${gov}`,
  );
  say(
    '  (cold: minutes on 2 cores; without web UI assets and service-discovery plugins: API, OTLP receiver, rules)',
  );
  mkdirSync(prometheusDir, { recursive: true });
  const pkg = 'github.com/prometheus/prometheus/cmd';
  // What Prometheus' own Makefile stamps in, so `prometheus --version` names the release.
  const v = 'github.com/prometheus/common/version';
  const ldflags = `-s -w -X ${v}.Version=${VERSIONS.prometheus} -X ${v}.Revision=${VERSIONS.prometheusModule} -X ${v}.Branch=HEAD -X ${v}.BuildUser=echoes-otel`;
  const r = await run(
    'go',
    [
      'install',
      '-v',
      // No service-discovery plugins (Kubernetes, AWS, Azure, GCE, Consul, ...): nothing here is
      // scraped, everything arrives by OTLP, and they are much of the cold build. Prometheus' own
      // build tag; static and file SD stay, and the ingestion path is the one compose runs.
      '-tags=remove_all_sd',
      `-ldflags=${ldflags}`,
      `${pkg}/prometheus@${VERSIONS.prometheusModule}`,
      `${pkg}/promtool@${VERSIONS.prometheusModule}`,
    ],
    // Into a side folder, then renamed: a test running meanwhile never sees a half-written binary.
    {
      env: { GOBIN: join(prometheusDir, '.new'), CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      label: 'go install prometheus promtool',
    },
  );
  if (r.code !== 0) throw new BuildError(`building Prometheus failed (exit ${r.code}):\n${r.tail}`);
  for (const b of [PATHS.prometheus, PATHS.promtool])
    renameSync(join(prometheusDir, '.new', basename(b)), b);
  writeFileSync(join(prometheusDir, '.stamp'), stamp + '\n');
  say(`prometheus built: ${PATHS.prometheus}, ${PATHS.promtool}`);
}

/**
 * A module's source (go mod download, checked against the Go checksum database) copied to a fresh,
 * writable folder: for the builds that must add a file the module zip does not carry.
 */
function moduleSource(mod, srcDir) {
  const dl = spawnSync('go', ['mod', 'download', '-json', mod], {
    cwd: tools,
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  let modDir;
  try {
    modDir = JSON.parse(dl.stdout).Dir;
  } catch {
    // reported below
  }
  if (dl.status !== 0 || !modDir)
    throw new BuildError(`go mod download ${mod} failed:\n${dl.stdout}${dl.stderr}`);
  rmSync(srcDir, { recursive: true, force: true });
  cpSync(modDir, srcDir, { recursive: true });
  // The module cache is read-only; the copy must be writable (and removable).
  spawnSync('chmod', ['-R', 'u+w', srcDir]);
  return srcDir;
}

async function buildAlertmanager() {
  const gov = goVersion();
  const stamp = stampOf(['alertmanager', VERSIONS.alertmanager, gov, RECIPE.alertmanager]);
  if (upToDate(alertmanagerDir, stamp, [PATHS.alertmanager, PATHS.amtool])) {
    say(`alertmanager ${VERSIONS.alertmanager} and amtool: up to date in ${alertmanagerDir}`);
    return;
  }
  say(`alertmanager ${VERSIONS.alertmanager} + amtool: building from their Go module with ${gov}`);
  say('  (cold: a few minutes on 2 cores)');
  mkdirSync(alertmanagerDir, { recursive: true });
  // `go install module@version` cannot build it: ui/web.go embeds app/dist, the compiled web UI,
  // which the module zip does not carry (it is built by npm in upstream's release). So: the
  // module source (go mod download, checked against the Go checksum database) copied to a fresh
  // folder, a one-page placeholder where the UI would be, and go build there. The API, routing,
  // grouping and receivers (what compose and the tests use) are the release's code; the compose
  // image has the UI.
  const mod = `github.com/prometheus/alertmanager@${VERSIONS.alertmanager}`;
  say(`  1/2 go mod download ${mod}`);
  const srcDir = moduleSource(mod, join(alertmanagerDir, 'src'));
  const placeholder =
    '<!doctype html><title>Alertmanager</title><p>Built from the Go module by echoes-otel without the web UI; the API is at /api/v2.</p>\n';
  for (const ui of ['elm', 'mantine']) {
    mkdirSync(join(srcDir, 'ui/app/dist', ui), { recursive: true });
    writeFileSync(join(srcDir, 'ui/app/dist', ui, 'index.html'), placeholder);
  }
  const v = 'github.com/prometheus/common/version';
  const release = VERSIONS.alertmanager.replace(/^v/, '');
  const ldflags = `-s -w -X ${v}.Version=${release} -X ${v}.Revision=${VERSIONS.alertmanager} -X ${v}.Branch=HEAD -X ${v}.BuildUser=echoes-otel`;
  say('  2/2 go build alertmanager amtool');
  mkdirSync(join(alertmanagerDir, '.new'), { recursive: true });
  const r = await run(
    'go',
    [
      'build',
      '-v',
      '-trimpath',
      `-ldflags=${ldflags}`,
      '-o',
      join(alertmanagerDir, '.new') + '/',
      './cmd/alertmanager',
      './cmd/amtool',
    ],
    {
      cwd: srcDir,
      // Into a side folder, then renamed: a test running meanwhile never sees a half-written binary.
      env: { CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=mod' },
      label: 'go build alertmanager amtool',
    },
  );
  if (r.code !== 0)
    throw new BuildError(`building Alertmanager failed (exit ${r.code}):\n${r.tail}`);
  for (const b of [PATHS.alertmanager, PATHS.amtool])
    renameSync(join(alertmanagerDir, '.new', basename(b)), b);
  rmSync(srcDir, { recursive: true, force: true });
  writeFileSync(join(alertmanagerDir, '.stamp'), stamp + '\n');
  say(`alertmanager built: ${PATHS.alertmanager}, ${PATHS.amtool}`);
}

async function buildCollector() {
  const gov = goVersion();
  const manifestText = readFileSync(manifest, 'utf8');
  const stamp = stampOf(['otelcol', manifestText, VERSIONS.builder, gov, RECIPE.otelcol]);
  if (upToDate(otelcolDir, stamp, [PATHS.otelcol])) {
    say(`collector: up to date (${PATHS.otelcol})`);
    return;
  }
  say(`collector: building from collector/manifest.yaml with ${gov}`);

  const builderStamp = stampOf(['builder', VERSIONS.builder, gov]);
  if (!upToDate(dirname(PATHS.builder), builderStamp, [PATHS.builder])) {
    say(
      `  installing ocb (go.opentelemetry.io/collector/cmd/builder@${VERSIONS.builder}) into ${dirname(PATHS.builder)}`,
    );
    mkdirSync(dirname(PATHS.builder), { recursive: true });
    const r = await run(
      'go',
      ['install', '-v', `go.opentelemetry.io/collector/cmd/builder@${VERSIONS.builder}`],
      {
        env: { GOBIN: dirname(PATHS.builder), CGO_ENABLED: '0' },
        label: 'go install builder',
      },
    );
    if (r.code !== 0) throw new BuildError(`installing ocb failed (exit ${r.code}):\n${r.tail}`);
    writeFileSync(join(dirname(PATHS.builder), '.stamp'), builderStamp + '\n');
  }

  // A fresh source folder each time: stale generated files must never leak into a new build. The
  // binary next to it stays in place until the new one replaces it (rename), so tests running
  // meanwhile in a shared tree never find it missing.
  const srcDir = join(otelcolDir, 'src');
  rmSync(srcDir, { recursive: true, force: true });
  mkdirSync(srcDir, { recursive: true });
  // The manifest's output_path is relative to the working directory; point it here explicitly.
  const built = manifestText.replace(/^(\s*output_path:).*$/m, `$1 ${srcDir}`);
  const tmpManifest = join(srcDir, 'manifest.generated.yaml');
  writeFileSync(tmpManifest, built);

  // 1. Sources and go.mod. ocb then runs `go mod tidy`, which also resolves the *tests* of the
  // components' packages; the proxy has refused such a test-only module before (v0.165's
  // go.opentelemetry.io/collector/scraper/scrapertest: 403 "not available"; v0.159 and v0.160 pass), and
  // then ocb's tidy fails although nothing the binary links is missing. We tolerate exactly that
  // (go.mod written), and tidy again with -e, which skips what cannot be fetched.
  say('  1/3 ocb: generating sources and go.mod');
  const gen = await run(PATHS.builder, ['--config', tmpManifest, '--skip-compilation'], {
    label: 'ocb generate',
  });
  if (gen.code !== 0) {
    if (!existsSync(join(srcDir, 'go.mod')) || !/go mod tidy|go\.mod/.test(gen.tail)) {
      throw new BuildError(`ocb failed (exit ${gen.code}):\n${gen.tail}`);
    }
    say(
      "  ocb's own `go mod tidy` failed on a test-only dependency (see above); continuing with `go mod tidy -e`",
    );
  }
  say('  2/3 go mod tidy -e (downloads the modules on a cold cache)');
  const tidy = await run('go', ['mod', 'tidy', '-e', '-compat=1.25'], {
    cwd: srcDir,
    label: 'go mod tidy',
  });
  if (tidy.code !== 0)
    throw new BuildError(`go mod tidy failed (exit ${tidy.code}):\n${tidy.tail}`);
  // -e skips what cannot be fetched (ocb's own tidy once failed on a transient checksum-database
  // 404 for servicegraphconnector v0.159.0, which the proxy serves): make sure every component of
  // the manifest made it into go.mod.
  const gomod = readFileSync(join(srcDir, 'go.mod'), 'utf8');
  for (const m of manifestText.matchAll(/gomod:\s*(\S+)\s+(\S+)/g)) {
    if (!gomod.includes(`${m[1]} ${m[2]}`))
      throw new BuildError(`go mod tidy could not resolve ${m[1]} ${m[2]} (see the output above)`);
  }

  // 3. The same command ocb's Compile runs (-trimpath, stripped, no cgo), with -v for progress.
  say('  3/3 go build (cold: several minutes on 2 cores)');
  const b = await run(
    'go',
    ['build', '-v', '-trimpath', '-o', `${PATHS.otelcol}.new`, '-ldflags=-s -w'],
    {
      cwd: srcDir,
      env: { CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      label: 'go build otelcol-echoes',
    },
  );
  if (b.code !== 0)
    throw new BuildError(`building the collector failed (exit ${b.code}):\n${b.tail}`);
  renameSync(`${PATHS.otelcol}.new`, PATHS.otelcol);
  writeFileSync(join(otelcolDir, '.stamp'), stamp + '\n');
  say(`collector built: ${PATHS.otelcol}`);
}

// ---------------------------------------------------------------------------------------------
// Kubernetes checks without a cluster: helm (lint, template) and kubeconform with local schemas.
// kubeconform downloads its schemas from the network by default, which tests never reach; here
// they are made from the OpenAPI v3 documents in the k8s.io/kubernetes module (api/openapi-spec/v3,
// fetched by `go mod download` like any module and checked against go.sum's database), converted
// the way kubeconform's own openapi2jsonschema does: one standalone file per kind named
// <kind>-<group>-<version>.json, strict (additionalProperties false where the API has a closed
// set of fields), apiVersion and kind pinned by enum, OpenAPI's nullable as a "null" type.

function goModDir(mod) {
  const r = spawnSync('go', ['mod', 'download', '-json', mod], { encoding: 'utf8' });
  let info;
  try {
    info = JSON.parse(r.stdout);
  } catch {
    throw new BuildError(`go mod download ${mod} failed:\n${r.stderr}`);
  }
  if (r.status !== 0 || !info.Dir) {
    throw new BuildError(`go mod download ${mod} failed: ${info.Error ?? r.stderr}`);
  }
  return info.Dir;
}

function toJsonSchema(node, strict) {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n, strict));
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      out.$ref = v.replace('#/components/schemas/', '#/definitions/');
    } else if (k === 'properties' || k === 'definitions' || k === 'patternProperties') {
      out[k] = Object.fromEntries(
        Object.entries(v).map(([name, s]) => [name, toJsonSchema(s, strict)]),
      );
    } else if (k !== 'nullable') {
      out[k] = toJsonSchema(v, strict);
    }
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (
    strict &&
    out.properties !== undefined &&
    out.additionalProperties === undefined &&
    node['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function writeK8sSchemas(outDir) {
  const specDir = join(goModDir(`k8s.io/kubernetes@${VERSIONS.kubernetes}`), 'api/openapi-spec/v3');
  const definitions = {};
  const kinds = [];
  for (const f of readdirSync(specDir).filter((n) => n.endsWith('_openapi.json'))) {
    const doc = JSON.parse(readFileSync(join(specDir, f), 'utf8'));
    for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
      definitions[name] ??= schema;
      for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) kinds.push({ name, gvk });
    }
  }
  const defs = toJsonSchema(definitions, true);
  const tmp = `${outDir}.new`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let written = 0;
  for (const { name, gvk } of kinds) {
    // Only the top-level form of a kind (not its List, not an Options type also tagged with it).
    if (
      defs[name]?.properties?.kind === undefined ||
      defs[name]?.properties?.apiVersion === undefined
    )
      continue;
    const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
    // kubeconform's file name: kind, then the first label of the group, then the version.
    const suffix = gvk.group ? `-${gvk.group.split('.')[0]}-${gvk.version}` : `-${gvk.version}`;
    const file = join(tmp, `${gvk.kind.toLowerCase()}${suffix}.json`.toLowerCase());
    const root = JSON.parse(JSON.stringify(defs[name]));
    // Only the definitions this kind reaches (all of them would be ~1 MB per file).
    const reached = {};
    const walk = (node) => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== 'object') return;
      const ref = typeof node.$ref === 'string' ? node.$ref.replace('#/definitions/', '') : '';
      if (ref && reached[ref] === undefined && defs[ref] !== undefined) {
        reached[ref] = defs[ref];
        walk(defs[ref]);
      }
      for (const v of Object.values(node)) walk(v);
    };
    walk(root);
    root.properties.apiVersion = { ...root.properties.apiVersion, enum: [apiVersion] };
    root.properties.kind = { ...root.properties.kind, enum: [gvk.kind] };
    writeFileSync(
      file,
      JSON.stringify({
        $schema: 'http://json-schema.org/draft-07/schema#',
        ...root,
        definitions: reached,
      }),
    );
    written += 1;
  }
  if (written < 50)
    throw new BuildError(`only ${written} Kubernetes schemas written from ${specDir}`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return written;
}

async function buildK8sTools() {
  const gov = goVersion();
  const stamp = stampOf([
    'k8s',
    VERSIONS.helm,
    VERSIONS.kubeconform,
    VERSIONS.kubernetes,
    gov,
    RECIPE.k8s,
    // The schema conversion is part of the recipe: a change to it remakes the schemas.
    toJsonSchema.toString(),
    writeK8sSchemas.toString(),
  ]);
  const schemaDir = dirname(PATHS.k8sSchemas);
  if (upToDate(k8sDir, stamp, [PATHS.helm, PATHS.kubeconform, schemaDir])) {
    say(
      `helm ${VERSIONS.helm}, kubeconform ${VERSIONS.kubeconform} and schemas: up to date in ${k8sDir}`,
    );
    return;
  }
  mkdirSync(k8sDir, { recursive: true });
  say(`helm ${VERSIONS.helm} + kubeconform ${VERSIONS.kubeconform}: building with ${gov}`);
  const v = 'helm.sh/helm/v4/internal/version';
  const r = await run(
    'go',
    [
      'install',
      '-v',
      // What Helm's Makefile stamps in, so `helm version` names the release.
      `-ldflags=-s -w -X ${v}.version=${VERSIONS.helm} -X ${v}.gitTreeState=clean`,
      `helm.sh/helm/v4/cmd/helm@${VERSIONS.helm}`,
    ],
    {
      env: { GOBIN: join(k8sDir, '.new'), CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      label: 'go install helm',
    },
  );
  if (r.code !== 0) throw new BuildError(`building helm failed (exit ${r.code}):\n${r.tail}`);
  const k = await run(
    'go',
    [
      'install',
      '-v',
      `-ldflags=-s -w -X main.version=${VERSIONS.kubeconform}`,
      `github.com/yannh/kubeconform/cmd/kubeconform@${VERSIONS.kubeconform}`,
    ],
    {
      env: { GOBIN: join(k8sDir, '.new'), CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      label: 'go install kubeconform',
    },
  );
  if (k.code !== 0)
    throw new BuildError(`building kubeconform failed (exit ${k.code}):\n${k.tail}`);
  for (const b of [PATHS.helm, PATHS.kubeconform]) renameSync(join(k8sDir, '.new', basename(b)), b);
  say(
    `  Kubernetes ${VERSIONS.kubernetes} JSON schemas from k8s.io/kubernetes api/openapi-spec/v3`,
  );
  const n = writeK8sSchemas(schemaDir);
  writeFileSync(join(k8sDir, '.stamp'), stamp + '\n');
  say(`helm, kubeconform and ${n} schemas ready in ${k8sDir}`);
}

/** `otelcol validate` on each file; the collector's own message is shown on failure. */
function validate(files) {
  if (!existsSync(PATHS.otelcol)) {
    throw new BuildError(
      `the collector is not built yet (${PATHS.otelcol}): run \`node scripts/backends.mjs collector\``,
    );
  }
  let failed = 0;
  for (const f of files) {
    const args = ['validate'];
    for (const part of f.split(',')) args.push(`--config=${resolve(part)}`);
    const r = spawnSync(PATHS.otelcol, args, { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    if (r.status === 0) {
      process.stdout.write(`valid: ${f}\n`);
    } else {
      failed += 1;
      // The collector's last lines carry its reason ("Error: invalid configuration: ...").
      const reason =
        out
          .split('\n')
          .filter((l) => l.trim() !== '')
          .slice(-3)
          .join('\n') ||
        r.error?.message ||
        `exit ${r.status}`;
      process.stderr.write(`invalid: ${f}\n${reason}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

async function buildFerretdb() {
  const gov = goVersion();
  const stamp = stampOf(['ferretdb', VERSIONS.ferretdb, gov, RECIPE.ferretdb]);
  if (upToDate(ferretdbDir, stamp, [PATHS.ferretdb])) {
    say(`ferretdb ${VERSIONS.ferretdb}: up to date in ${ferretdbDir}`);
    return;
  }
  say(`ferretdb ${VERSIONS.ferretdb}: building from its Go module with ${gov}`);
  say('  (cold: a few minutes on 2 cores)');
  mkdirSync(ferretdbDir, { recursive: true });
  // Its build/version/version.txt (embedded; the binary panics at start without a "v..." in it) is
  // written by upstream's release tooling and empty in the module zip: the source is copied and
  // the release's version written there, as `bin/task gen-version` would.
  const mod = `github.com/FerretDB/FerretDB@${VERSIONS.ferretdb}`;
  say(`  1/2 go mod download ${mod}`);
  const srcDir = moduleSource(mod, join(ferretdbDir, 'src'));
  writeFileSync(join(srcDir, 'build/version/version.txt'), `${VERSIONS.ferretdb}\n`);
  writeFileSync(join(srcDir, 'build/version/package.txt'), 'echoes-otel-tests\n');
  say('  2/2 go build ferretdb');
  const r = await run(
    'go',
    ['build', '-v', '-trimpath', '-ldflags=-s -w', '-o', `${PATHS.ferretdb}.new`, './cmd/ferretdb'],
    {
      cwd: srcDir,
      // Its SQLite backend is modernc.org/sqlite (pure Go): no cgo needed.
      env: { CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=mod' },
      label: 'go build ferretdb',
    },
  );
  if (r.code !== 0) throw new BuildError(`building FerretDB failed (exit ${r.code}):\n${r.tail}`);
  renameSync(`${PATHS.ferretdb}.new`, PATHS.ferretdb);
  rmSync(srcDir, { recursive: true, force: true });
  writeFileSync(join(ferretdbDir, '.stamp'), stamp + '\n');
  say(`ferretdb built: ${PATHS.ferretdb}`);
}

async function main() {
  const [cmd = 'ensure', ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'ensure':
      // Prometheus first: it is quicker and promtool unblocks rule checks.
      await buildPrometheus();
      await buildAlertmanager();
      await buildCollector();
      // The Kubernetes tools (test/unit/deploy/): after the rest, so a failure here leaves those
      // usable. The two-tier mode needs no build of its own (PATHS.gateway is the collector).
      await buildK8sTools();
      // The MongoDB-wire server for the mongodb tests (test/helpers/mongodb.ts).
      await buildFerretdb();
      say('all backends ready');
      return 0;
    case 'prometheus':
      await buildPrometheus();
      return 0;
    case 'collector':
      await buildCollector();
      return 0;
    case 'alertmanager':
      await buildAlertmanager();
      return 0;
    case 'gateway':
      await buildCollector();
      return 0;
    case 'k8s':
      await buildK8sTools();
      return 0;
    case 'ferretdb':
      await buildFerretdb();
      return 0;
    case 'paths':
      process.stdout.write(JSON.stringify(PATHS, null, 2) + '\n');
      return 0;
    case 'validate':
      if (rest.length === 0)
        throw new BuildError('usage: backends.mjs validate <config.yaml>[,<overlay.yaml>] ...');
      return validate(rest);
    default:
      throw new BuildError(
        `unknown command "${cmd}" (ensure | collector | prometheus | alertmanager | gateway | k8s | ferretdb | paths | validate <file>...)`,
      );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(
        `backends: ${err instanceof BuildError ? err.message : (err?.stack ?? err)}\n`,
      );
      process.exit(1);
    },
  );
}
