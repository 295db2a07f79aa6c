// Starts the Cosmos DB protocol server on loopback over HTTPS for the integration tests.
// Usage: node server.js CERT_PEM KEY_PEM [PORT]; prints "listening PORT" once ready.
"use strict";
const fs = require("fs");
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const [certPath, keyPath, portArg] = process.argv.slice(2);
if (!certPath || !keyPath) {
  console.error("usage: node server.js CERT_PEM KEY_PEM [PORT]");
  process.exit(2);
}
const server = createHttpsServer({
  cert: fs.readFileSync(certPath),
  key: fs.readFileSync(keyPath),
  // Without keep-alive every SDK request pays a fresh TLS handshake.
  keepAlive: true,
});
server.listen(Number(portArg || 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
