/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app, on purpose */
/* global require */
// Startup fixture for bench/startup-real.mjs: a service's first lines, loading express, pg and
// the openai client and building what a service builds at startup (an app with a route, a pool,
// a client; no connection is opened). CommonJS so that upstream's register patches it. It writes
// one line once its code ran, and its peak RSS and CPU time at exit.
'use strict';
const express = require('express');
const { Pool } = require('pg');
const OpenAI = require('openai');

const app = express();
app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
const pool = new Pool({ connectionString: 'postgres://app:secret@127.0.0.1:1/app' });
const openai = new OpenAI({ apiKey: 'sk-startup', baseURL: 'http://127.0.0.1:1/v1' });
process.stdout.write(`FIRST ${typeof app.listen} ${typeof pool.query} ${typeof openai.chat}\n`);
process.on('exit', () => {
  const r = process.resourceUsage();
  process.stdout.write(`RSS ${r.maxRSS} CPU ${r.userCPUTime + r.systemCPUTime}\n`);
});
