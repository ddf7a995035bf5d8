// Stands for the original Erigolem React UI's HTTP layer (client/src/utils/httpRequest and
// utils/auth of golemfactory/yagna-service-erigon), driven line by line from a Python test.
// It makes its requests the way that UI does, with the same library (superagent 6): method,
// `.accept('application/json')`, `X-Api-Call: 1`, and once signed in the headers Message (the
// text from /getMessage, raw), Signature and `Authorization: Bearer <account>`; the answer is
// `JSON.parse(response.text)`. MetaMask's personal_sign is the Python side: we print
// {"sign": message} and read the signature back. Written from the behaviour described in
// shared/reference/erigolem-original.md, not copied.
//
// Protocol (one JSON object per line on stdin, one per line on stdout):
//   {"op": "auth", "account": "0x…"}       -> {"sign": text} … then reads {"signature": "0x…"}
//                                            -> {"ok": true, "message": text}
//   {"op": "call", "method": "get"|"post", "path": "getInstances", "id"?: "…",
//    "data"?: {…}, "ticket"?: true}        -> {"ok": true, "body": …} (a 2xx answer) or
//                                             {"status": 400, "body": …} or {"error": code, "message": …}
'use strict';

const request = require('superagent');
const readline = require('readline');

const base = process.argv[2];
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
let ticket = { status: 'init' };

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const next = async () => JSON.parse((await lines.next()).value);
const url = (path, id) => `${base}/${path}${id ? `/${id}` : ''}`;

async function httpRequest({ method = 'post', path, id = '', authTicket, data }) {
  let req = request(method.toUpperCase(), url(path, id)).accept('application/json').set('X-Api-Call', '1');
  if (authTicket && authTicket.status === 'authorized') {
    req = req.set({
      Message: authTicket.challenge.toString(),
      Signature: authTicket.response.toString(),
      Authorization: `Bearer ${authTicket.account}`,
    });
  }
  const response = await req.send(data);
  return JSON.parse(response.text);
}

async function answer(promise) {
  try {
    out({ ok: true, body: await promise });
  } catch (e) {
    if (e.response) {
      let body = e.response.text;
      try {
        body = JSON.parse(body);
      } catch (_) {
        // keep the text
      }
      out({ status: e.status, body });
    } else {
      out({ error: e.code || 'ERROR', message: String(e.message) });
    }
  }
}

async function main() {
  for (;;) {
    const step = await lines.next();
    if (step.done) return;
    const cmd = JSON.parse(step.value);
    if (cmd.op === 'auth') {
      try {
        const message = await httpRequest({ method: 'get', path: 'getMessage' });
        out({ sign: message });
        const { signature } = await next();
        ticket = { status: 'authorized', challenge: message, response: signature, account: cmd.account };
        out({ ok: true, message });
      } catch (e) {
        out({ error: e.code || 'ERROR', message: String(e.message) });
      }
    } else if (cmd.op === 'call') {
      await answer(
        httpRequest({
          method: cmd.method,
          path: cmd.path,
          id: cmd.id,
          data: cmd.data,
          authTicket: cmd.ticket ? ticket : undefined,
        }),
      );
    }
  }
}

main().then(() => process.exit(0));
