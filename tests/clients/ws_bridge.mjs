// A room socket driven by Node's `ws` package, for tests/integration/test_client_matrix.py.
// Usage: node ws_bridge.mjs URL. Each line on stdin is sent as one text frame; each frame received is
// printed as one line on stdout; a close prints {"type": "<closed>", "code": N} and exits.
// Stdin ending closes the socket normally.
import { createInterface } from "node:readline";
import WebSocket from "ws";

const ws = new WebSocket(process.argv[2]);
const print = (line) => process.stdout.write(line + "\n");
ws.on("open", () => print(JSON.stringify({ type: "<open>" })));
ws.on("message", (data, isBinary) => print(isBinary ? JSON.stringify({ type: "<binary>" }) : data.toString()));
ws.on("unexpected-response", (_req, res) => {
  print(JSON.stringify({ type: "<refused>", status: res.statusCode }));
  process.exit(0);
});
ws.on("error", (err) => print(JSON.stringify({ type: "<error>", detail: String(err) })));
ws.on("close", (code) => {
  print(JSON.stringify({ type: "<closed>", code }));
  process.exit(0);
});
createInterface({ input: process.stdin }).on("line", (line) => ws.send(line)).on("close", () => ws.close(1000));
