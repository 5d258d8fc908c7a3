import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { describe, expect, it } from 'vitest';
import {
  CATALOG,
  catalogEntry,
  catalogSeriesNames,
  EXTERNAL_SERIES,
  instrumentOptions,
  METRIC,
  stockExporterName,
  type CatalogEntry,
} from '../../../instrumentation/catalog.js';
import { prometheusBaseName } from '../../../instrumentation/export/metrics.js';
import { createTestMetrics } from '../../fixtures/metrics/collect.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** Prometheus' OTLP translation (UnderscoreEscapingWithSuffixes), as the research notes spell it. */
function otlpTranslated(e: CatalogEntry): string {
  const units: Record<string, string> = { s: 'seconds', ms: 'milliseconds', By: 'bytes' };
  let name = e.name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/_+/g, '_');
  const unit = e.unit.startsWith('{')
    ? ''
    : e.unit === '1'
      ? e.type === 'gauge'
        ? 'ratio'
        : ''
      : (units[e.unit] ?? e.unit);
  if (unit !== '' && !name.endsWith(`_${unit}`)) name += `_${unit}`;
  if (e.type === 'counter' && !name.endsWith('_total')) name += '_total';
  return name;
}

describe('signal catalog', () => {
  it('has unique OTel names and unique Prometheus names', () => {
    expect(new Set(CATALOG.map((e) => e.name)).size).toBe(CATALOG.length);
    expect(new Set(CATALOG.map((e) => e.prometheus)).size).toBe(CATALOG.length);
  });

  it('names each SDK-produced series as Prometheus translates OTLP', () => {
    for (const e of CATALOG.filter((x) => x.source !== 'collector')) {
      expect(e.prometheus, e.name).toBe(otlpTranslated(e));
    }
  });

  it('lists histogram suffixes among the series names', () => {
    const names = catalogSeriesNames();
    expect(names.has('echoes_fs_operation_duration_seconds_sum')).toBe(true);
    expect(names.has('echoes_fs_operation_duration_seconds')).toBe(false);
    expect(names.has('echoes_cache_requests_total')).toBe(true);
  });

  it('names each SDK-produced series on the embedded endpoint as metrics.ts renames it (same as OTLP)', () => {
    for (const e of CATALOG.filter((x) => x.source !== 'collector')) {
      const base = prometheusBaseName(
        e.name,
        e.unit,
        e.type === 'gauge' || e.type === 'updowncounter',
      );
      expect(e.embedded, e.name).toBe(e.type === 'counter' ? `${base}_total` : base);
      expect(e.embedded, e.name).toBe(e.prometheus);
    }
  });

  it('records the name a stock exporter-prometheus really serves', async () => {
    const t = createTestMetrics();
    const meter = t.provider.getMeter('catalog-test');
    const entries = CATALOG.filter((e) => e.source !== 'collector');
    for (const e of entries) {
      const attrs = Object.fromEntries(e.attributes.map((a) => [a, 'x']));
      const opts = { unit: e.unit, description: e.description };
      if (e.type === 'counter') meter.createCounter(e.name, opts).add(1, attrs);
      else if (e.type === 'updowncounter') meter.createUpDownCounter(e.name, opts).add(1, attrs);
      else if (e.type === 'histogram') meter.createHistogram(e.name, opts).record(1, attrs);
      else meter.createGauge(e.name, opts).record(1, attrs);
    }
    const { resourceMetrics } = await t.reader.collect();
    const text = new PrometheusSerializer().serialize(resourceMetrics);
    for (const e of entries) {
      expect(e.stockExporter, e.name).toBe(stockExporterName(e.name, e.type));
      const series = e.type === 'histogram' ? `${e.stockExporter}_count{` : `${e.stockExporter}{`;
      expect(text, e.name).toContain(`\n${series}`);
      for (const a of e.attributes) expect(text).toContain(`${a.replace(/\./g, '_')}="x"`);
    }
    await t.shutdown();
  });

  it('matches the committed docs/signals.md (regenerate with scripts/gen-signals-doc.mjs)', async () => {
    const script = pathToFileURL(join(root, 'scripts/gen-signals-doc.mjs')).href;
    const { renderSignalsDoc } = (await import(script)) as {
      renderSignalsDoc(c: readonly CatalogEntry[], external: typeof EXTERNAL_SERIES): string;
    };
    const committed = readFileSync(join(root, 'docs/signals.md'), 'utf8');
    expect(committed).toBe(renderSignalsDoc(CATALOG, EXTERNAL_SERIES));
  });
});

describe('instrumentOptions', () => {
  it('gives every METRIC name its catalog row, so no instrument is made without one', () => {
    for (const name of Object.values(METRIC)) {
      const o = instrumentOptions(name);
      expect(o.description, name).not.toBe('');
      expect(o.unit, name).toBe(catalogEntry(name)!.unit);
    }
  });

  it('keeps the units the features used to write by hand', () => {
    expect(instrumentOptions(METRIC.fsDuration).unit).toBe('s');
    expect(instrumentOptions(METRIC.fsIo).unit).toBe('By');
    expect(instrumentOptions(METRIC.dirFiles).unit).toBe('{file}');
    expect(instrumentOptions(METRIC.diskUtilization).unit).toBe('1');
    expect(instrumentOptions(METRIC.cacheRequests).unit).toBe('{request}');
    expect(instrumentOptions(METRIC.monitorErrors).unit).toBe('{error}');
  });
});
