#!/usr/bin/env node
// claimrush_floor — the least work any server can do for ../shared/bench/claimrush.js: a uWebSockets.js
// server that speaks just enough of the contract (create and start a deal, `claim` -> `claim_result`,
// the deal's live and sold-out frames to every socket) with the stock in a JS variable: no Redis, no
// tokens checked, no ledger. claimrush against it measures the harness's own floor on this machine;
// what claimrush reports for a real server can only be read above that floor (README, "The tap").
//
//   NODE_PATH=$BENCH_HOME/node_modules taskset -c 0 node loadtest/claimrush_floor.js 8090
//   NODE_PATH=... taskset -c 1 node ../shared/bench/claimrush.js --base http://127.0.0.1:8090 --secret x
'use strict';
const uWS = require('uwebsockets');
const port = Number(process.argv[2] || 8090);

let deal = null; // {id, stock, left, limit, state}
const bought = new Map(); // user -> units
const answered = new Map(); // user:req -> reply (a claim is idempotent by key)
const frame = () => JSON.stringify({ type: 'batch', deals: [{ id: deal.id, state: deal.state, stock: deal.stock,
  left: deal.left }] });

function json(res, status, body) {
  res.cork(() => res.writeStatus(status).writeHeader('Content-Type', 'application/json').end(JSON.stringify(body)));
}

function readBody(res, done) {
  const parts = [];
  res.onAborted(() => { res.aborted = true; });
  res.onData((chunk, last) => {
    parts.push(Buffer.from(chunk.slice(0)));
    if (last && !res.aborted) done(Buffer.concat(parts).toString() ? JSON.parse(Buffer.concat(parts)) : {});
  });
}

const app = uWS.App()
  .ws('/ws/rooms/:room', {
    compression: uWS.DISABLED,
    upgrade: (res, req, context) => {
      const user = (new URLSearchParams(req.getQuery()).get('token') || '').split('.')[1] || 'anon';
      res.upgrade({ user }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => ws.subscribe('room'),
    message: (ws, data) => {
      const m = JSON.parse(Buffer.from(data).toString());
      if (m.type !== 'claim' || !deal) return;
      const user = ws.getUserData().user, key = user + ':' + m.req;
      let reply = answered.get(key);
      if (reply === undefined) {
        const mine = bought.get(user) || 0;
        if (deal.state !== 'live' || deal.left <= 0) reply = { ok: false, reason: 'sold_out' };
        else if (mine + 1 > deal.limit) reply = { ok: false, reason: 'limit_reached' };
        else {
          deal.left -= 1; bought.set(user, mine + 1);
          reply = { ok: true, claim: { qty: 1 } };
        }
        answered.set(key, reply);
        ws.send(JSON.stringify(Object.assign({ type: 'claim_result', req: m.req, deal: deal.id }, reply)), false);
        if (deal.left === 0 && deal.state === 'live') { deal.state = 'sold_out'; app.publish('room', frame(), false); }
        return;
      }
      ws.send(JSON.stringify(Object.assign({ type: 'claim_result', req: m.req, deal: deal.id }, reply)), false);
    },
  })
  .post('/api/rooms/:room/deals', (res) => readBody(res, (body) => {
    deal = { id: 'd' + Date.now().toString(36), stock: body.stock, left: body.stock, limit: body.limit_per_user || 1,
      state: 'scheduled' };
    bought.clear(); answered.clear();
    json(res, '201 Created', { deal: { id: deal.id } });
  }))
  .post('/api/rooms/:room/deals/:deal/start', (res) => readBody(res, () => {
    deal.state = 'live';
    app.publish('room', frame(), false);
    json(res, '200 OK', { deal: { id: deal.id, state: deal.state } });
  }))
  .listen('127.0.0.1', port, (token) => {
    if (!token) { console.error('listen failed'); process.exit(1); }
    console.error(`claimrush_floor listening on ${port}`);
  });
