/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload, on purpose */
/* global require */
// Preload for the server of bench/http.mjs: where its CPU went between the driver's last two `cpu`
// messages (the measured requests), per thread and per GC kind, appended as one line to the file
// named by BENCH_THREAD_STATS_OUT at exit:
//   BENCH_THREAD_STATS_OUT=/tmp/t.txt BENCH_NODE_ARGS="--require ./bench/http-thread-stats.cjs" \
//     node bench/http.mjs
// main/other: user and system time of the main thread and of every other thread (V8 GC helpers,
// compiler and libuv threads) from /proc/self/task/*/stat, in µs per request (BENCH_REQUESTS,
// 20000 by default; clock ticks of 10 ms, so about ±0.5 µs at 20000 requests). minor/major: GC
// count and milliseconds on the main thread (perf_hooks). Linux only; silent elsewhere.
'use strict';
const fs = require('node:fs');
const { PerformanceObserver } = require('node:perf_hooks');

const out = process.env.BENCH_THREAD_STATS_OUT;
if (out) {
  const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      // kind 1 is a scavenge (minor); everything else (mark-compact, incremental, weak) major.
      const key = (e.detail?.kind ?? e.kind) === 1 ? 'minor' : 'major';
      gc[key]++;
      gc[`${key}Ms`] += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });

  const threads = () => {
    const t = { mainUser: 0, mainSys: 0, otherUser: 0, otherSys: 0 };
    let tasks = [];
    try {
      tasks = fs.readdirSync('/proc/self/task');
    } catch {
      return t;
    }
    for (const id of tasks) {
      try {
        const stat = fs.readFileSync(`/proc/self/task/${id}/stat`, 'utf8');
        // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const main = Number(id) === process.pid;
        t[main ? 'mainUser' : 'otherUser'] += Number(f[11]);
        t[main ? 'mainSys' : 'otherSys'] += Number(f[12]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return t;
  };

  const snaps = [];
  process.on('message', (m) => {
    if (m === 'cpu') snaps.push({ ...gc, ...threads() });
  });
  process.on('exit', () => {
    if (snaps.length < 2) return;
    const [a, b] = snaps.slice(-2);
    const requests = Number(process.env.BENCH_REQUESTS) || 20_000;
    const usPerTick = 1e6 / 100; // USER_HZ is 100 on Linux
    const row = {};
    for (const k of Object.keys(b)) {
      const d = b[k] - a[k];
      row[k] = k in gc ? Number(d.toFixed(1)) : Number(((d * usPerTick) / requests).toFixed(1));
    }
    const preload = process.execArgv.find((x) => x.includes('register')) ?? 'plain';
    fs.appendFileSync(
      out,
      `${process.version} ${preload} traces=${process.env.OTEL_TRACES_EXPORTER ?? '-'} ` +
        `${JSON.stringify(row)}\n`,
    );
  });
}
