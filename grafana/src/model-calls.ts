/** Model calls: GenAI client calls by model: rate, latency, tokens and errors. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { SEL, baseDashboard, promExemplars, promQuery, tracesLink } from './common.js';
import { R, ts, row } from './panels.js';

// ---------------------------------------------------------------- Model calls

export function modelCalls(): dashboard.DashboardBuilder {
  const tokens = `gen_ai_client_token_usage_sum{${SEL}}`;
  const calls = `gen_ai_client_operation_duration_seconds_count{${SEL}}`;
  const bucket = `gen_ai_client_operation_duration_seconds_bucket{${SEL}}`;
  return baseDashboard(
    'echoes-model-calls',
    'echoes-otel / Model calls',
    'LLM calls of the selected services from the GenAI semantic-convention metrics (gen_ai.client.token.usage, gen_ai.client.operation.duration) that any instrumented client emits: tokens per minute, latency and errors by model.',
  )
    .withRow(row('Tokens'))
    .withPanel(
      ts(
        'Tokens per minute by model',
        'suffix: tokens/min',
        'Input and output tokens per minute, by requested model (gen_ai.client.token.usage).',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_token_type) (rate(${tokens}[${R}])) * 60`,
          '{{gen_ai_request_model}} {{gen_ai_token_type}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Tokens per call',
        'short',
        'Average tokens per call, by model and token type.',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_token_type) (rate(${tokens}[${R}])) / sum by (gen_ai_request_model, gen_ai_token_type) (rate(gen_ai_client_token_usage_count{${SEL}}[${R}]))`,
          '{{gen_ai_request_model}} {{gen_ai_token_type}}',
        ),
      ),
    )
    .withRow(row('Calls and latency'))
    .withPanel(
      ts(
        'Calls per minute by model',
        'opm',
        'Model calls per minute, by requested model and operation (chat, embeddings...).',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_operation_name) (rate(${calls}[${R}])) * 60`,
          '{{gen_ai_request_model}} {{gen_ai_operation_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Latency p95 by model',
        's',
        '95th percentile model call duration by requested model (gen_ai.client.operation.duration). Dots are exemplars linked to their traces.',
      )
        .dataLinks([
          tracesLink('Client spans of ${__field.labels.service_name} in Tempo', 'client'),
        ])
        .withTarget(
          promExemplars(
            `histogram_quantile(0.95, sum by (le, service_name, gen_ai_request_model) (rate(${bucket}[${R}])))`,
            '{{service_name}} {{gen_ai_request_model}}',
          ),
        ),
    )
    .withPanel(
      ts(
        'Errors by model',
        'opm',
        'Failed model calls per minute, by model and error.type (0 when none failed).',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, error_type) (rate(gen_ai_client_operation_duration_seconds_count{${SEL}, error_type!=""}[${R}])) * 60 or sum by (gen_ai_request_model) (rate(${calls}[${R}])) * 0`,
          '{{gen_ai_request_model}} {{error_type}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Served by model',
        'opm',
        'Calls per minute by the model that answered (gen_ai.response.model): a provider may serve another version than the one asked for.',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_response_model) (rate(${calls}[${R}])) * 60`,
          '{{gen_ai_request_model}} → {{gen_ai_response_model}}',
        ),
      ),
    );
}
