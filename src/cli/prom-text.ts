/**
 * A parser for the Prometheus text exposition format, enough for what the embedded `/metrics`
 * endpoint (@opentelemetry/exporter-prometheus) serves: sample lines with optional labels and an
 * optional timestamp; comments and blank lines skipped.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export class ExpositionError extends Error {}

function parseValue(raw: string): number {
  switch (raw) {
    case '+Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default: {
      const n = Number(raw);
      if (raw === '' || Number.isNaN(n))
        throw new ExpositionError(`bad sample value ${JSON.stringify(raw)}`);
      return n;
    }
  }
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameMatch = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line);
    if (!nameMatch)
      throw new ExpositionError(
        `line ${ln + 1}: no metric name in ${JSON.stringify(line.slice(0, 80))}`,
      );
    const name = nameMatch[0];
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      for (;;) {
        while (line[i] === ' ' || line[i] === ',') i++;
        if (line[i] === '}') {
          i++;
          break;
        }
        const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(line.slice(i));
        if (!key || line[i + key[0].length] !== '=' || line[i + key[0].length + 1] !== '"') {
          throw new ExpositionError(
            `line ${ln + 1}: malformed labels in ${JSON.stringify(line.slice(0, 80))}`,
          );
        }
        i += key[0].length + 2;
        let value = '';
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\') {
            const next = line[i + 1];
            value += next === 'n' ? '\n' : (next ?? '');
            i += 2;
          } else {
            value += line[i];
            i++;
          }
        }
        if (i >= line.length) throw new ExpositionError(`line ${ln + 1}: unterminated label value`);
        i++;
        labels[key[0]] = value;
      }
    }
    const rest = line.slice(i).trim().split(/\s+/);
    out.push({ name, labels, value: parseValue(rest[0] ?? '') });
  }
  return out;
}

/** Sum of every sample named `name` whose labels include `match`. */
export function sumSamples(
  samples: readonly Sample[],
  name: string,
  match: Record<string, string> = {},
): number | undefined {
  let total: number | undefined;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    total = (total ?? 0) + s.value;
  }
  return total;
}

/** Sums grouped by one label. */
export function sumBy(
  samples: readonly Sample[],
  name: string,
  label: string,
  match: Record<string, string> = {},
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const key = s.labels[label] ?? '';
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/**
 * The q-quantile of a cumulative histogram given as (upper bound, count) pairs, interpolated
 * linearly inside the bucket the way PromQL's histogram_quantile does.
 */
export function bucketQuantile(
  q: number,
  buckets: ReadonlyArray<readonly [number, number]>,
): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      // The +Inf bucket has no upper bound: the answer is the highest finite one, as in PromQL.
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount || 1);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
