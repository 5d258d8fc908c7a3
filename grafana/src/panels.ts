/** Panel builders and threshold steps shared by the dashboards (grafana/src/dashboards.ts lists them). */
import * as common from '@grafana/grafana-foundation-sdk/common';
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { PROMETHEUS, thresholds } from './common.js';
import { type Target } from '../../instrumentation/targets.js';

export const R = '$__rate_interval';
export const GREEN = 'green';
export const RED = 'red';
/**
 * Threshold steps drawing a target (instrumentation/targets.ts, the numbers the report CLI and the
 * alert rules use): green where `passes(t, v)`, red elsewhere. Grafana colours a value by the last
 * step at or below it, so an inclusive bound (`<=`, `>`) starts the next colour just above it.
 */
export function targetSteps(t: Target): Array<readonly [number | null, string]> {
  const above = t.value + Math.max(Math.abs(t.value), 1) * 1e-9;
  switch (t.comparison) {
    case '<':
      return [
        [null, GREEN],
        [t.value, RED],
      ];
    case '<=':
      return [
        [null, GREEN],
        [above, RED],
      ];
    case '>':
      return [
        [null, RED],
        [above, GREEN],
      ];
    case '>=':
      return [
        [null, RED],
        [t.value, GREEN],
      ];
  }
}

export function ts(title: string, unit: string, description: string): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .height(8)
    .span(12)
    .fillOpacity(10)
    .lineWidth(1)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
}

/** A time series with a dashed threshold line (the audit target drawn on the graph). */
export function tsTarget(
  title: string,
  unit: string,
  description: string,
  steps: ReadonlyArray<readonly [number | null, string]>,
): timeseries.PanelBuilder {
  return ts(title, unit, description)
    .thresholds(thresholds(steps))
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
}

export function statPanel(
  title: string,
  unit: string,
  description: string,
  steps: ReadonlyArray<readonly [number | null, string]>,
): stat.PanelBuilder {
  return (
    new stat.PanelBuilder()
      .title(title)
      .description(description)
      .datasource(PROMETHEUS)
      .unit(unit)
      .height(6)
      .span(8)
      .thresholds(thresholds(steps))
      .colorMode(common.BigValueColorMode.Background)
      // Instant queries: one value at the end of the range, no series to draw.
      .graphMode(common.BigValueGraphMode.None)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
  );
}

export function row(title: string): RowBuilder {
  return new RowBuilder(title);
}
