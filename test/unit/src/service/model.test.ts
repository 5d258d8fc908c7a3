import { afterEach, describe, expect, it } from 'vitest';
import {
  createModelClient,
  ModelCallError,
  startModelServer,
  type ModelServer,
} from '../../../../src/service/model.js';

let server: ModelServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('startModelServer', () => {
  it('answers chat completions OpenAI-style, with word-count usage, only to its own key', async () => {
    server = await startModelServer(['gpt-4o']);
    expect(server.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const post = (key: string, model = 'gpt-4o') =>
      fetch(`${server!.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'two words' }] }),
      });
    const ok = (await (await post(server.apiKey)).json()) as {
      choices: { message: { content: string } }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    expect(ok.choices[0]!.message.content).toBe('echo from gpt-4o: two words');
    expect(ok.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 5 });
    expect((await post('sk-wrong')).status).toBe(401);
    expect((await post(server.apiKey, 'gpt-9')).status).toBe(404);
  });
});

describe('createModelClient', () => {
  it('calls the model through the openai client and turns a failure into a ModelCallError with its status', async () => {
    server = await startModelServer(['gpt-4']);
    const s = server;
    const client = createModelClient(async () => s);
    expect(await client.chat('gpt-4', 'hello there', { latencyMs: 0, fail: false })).toBe(
      'echo from gpt-4: hello there',
    );
    const err = await client.chat('gpt-4', 'x', { latencyMs: 0, fail: true }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelCallError);
    expect((err as ModelCallError).status).toBe(503);
  });
});
